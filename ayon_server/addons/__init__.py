"""Addons, bundles, dependency packages and installers: what the database declares.

Archives are stored once in PostgreSQL (archives.py); the rows that declare them live in
store.py; every server replica's background installer materializes them locally.
"""
