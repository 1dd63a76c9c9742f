"""The bottom layer: PostgreSQL and Redis access, the BackgroundWorker base, cursors, times.

Nothing here imports the rest of ayon_server, so every other package may use it.
"""
