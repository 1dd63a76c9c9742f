"""Users, passwords, sessions, API keys and access checks."""
