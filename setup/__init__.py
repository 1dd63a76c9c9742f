"""python -m setup: create the database, apply migrations, bootstrap the admin.

The migrations this release ships are the SQL files of MIGRATIONS_DIR; the server's readiness check
reads them from here too.
"""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
