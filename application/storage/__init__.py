"""Storage: the event log, idempotency keys and secrets kept on disk."""
