"""Temporal activities: thin, idempotent wrappers over dualmm.exchange."""
