"""The HTTP contract's request and response bodies (DESIGN §6): a module per blueprint, the
fields they share, and the problem document every error is answered with.

Every request schema refuses unknown fields. Text is checked at the edge: length limits, no
NUL bytes or other control characters, no lone surrogates, so nothing unreadable is recorded.
"""
