"""python -m setup: create the database, apply migrations, bootstrap the admin (DESIGN §6)."""
