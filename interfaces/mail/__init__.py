"""Mail in and out: the broker, the renderer and templates, SMTP and file senders, the listener."""
