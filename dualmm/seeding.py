"""Seeded random generators that depend only on what they are named by."""

from __future__ import annotations

import hashlib
import random


def seeded_rng(*parts: object) -> random.Random:
    """A generator that depends only on `parts` (not on PYTHONHASHSEED or call order)."""
    digest = hashlib.sha256(":".join(str(part) for part in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
