"""A learner's rights over their data (P7.3; Saudi Personal Data Protection Law)."""
