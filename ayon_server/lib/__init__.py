"""The bottom layer: PostgreSQL and Redis access, the background worker base, keyset cursors.

Nothing here imports the rest of ayon_server, so every other package may use it.
"""
