"""Storage: the event log on PostgreSQL and SQLite, idempotency keys, and secrets kept on disk."""
