"""The SQL store: engine set-up, tables, migrations and sessions (SQLite or PostgreSQL)."""
