"""Files attached to messages: what is kept of them, and where (P2.2, P2.3)."""
