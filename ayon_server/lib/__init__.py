"""Access to PostgreSQL and Redis."""
