"""Web actions: the context an action runs in and the launcher lifecycle.

This server has no addons yet, so it has no action catalogue: listing returns nothing and every
executed action is treated as a launcher action (see `launcher.py`).
"""
