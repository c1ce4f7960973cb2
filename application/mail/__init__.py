"""Mail: requests that arrive by email, the emails the policy sends, the outbox and the mailer."""
