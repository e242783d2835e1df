"""Temporal workflow classes only: deterministic, no I/O."""
