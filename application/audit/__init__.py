"""Audit: what auditors ask of the record, its verification and seals, and who looked (P7.1)."""
