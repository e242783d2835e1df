"""The book hash of the simulator's market channel: how a client checks that its local book
is the venue's after every event, and so sees a missed event.

Every `hash` the simulated `/ws/market` sends (on `book`, and on each `price_changes` entry)
is `book_hash` of that asset's whole book right after the event (after that entry, for a
`price_change`): the SHA-1 of the text

    <asset_id>|<bids>|<asks>

where `<bids>` lists the bid levels from the best (highest price) down and `<asks>` the ask
levels from the best (lowest price) up, each as `<price>:<size>` joined by `,`, every number
written as `canonical` writes it (no exponent, no trailing zeros: "0.5", "100"), and a level
of size 0 is no level. A client applies each change to its book, computes this hash and
compares: a mismatch means an event was missed (or the book drifted), and the book must be
fetched again (REST `GET /book`, whose own `hash` follows the CLOB's rule, not this one).

Polymarket's production hash cannot be recomputed by a client (it covers fields a client
does not keep), so against production a client has only the snapshots to resynchronise on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from decimal import Decimal

Level = tuple[Decimal, Decimal]  # (price, size)


def canonical(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros ("0.5", "100", "0")."""
    return format(value.normalize(), "f") if value else "0"


def book_hash(asset_id: str, bids: Iterable[Level], asks: Iterable[Level]) -> str:
    """The hash of a book (levels in any order; see the module docstring)."""

    def side(levels: Iterable[Level], best_first_descending: bool) -> str:
        kept = sorted(((p, s) for p, s in levels if s), reverse=best_first_descending)
        return ",".join(f"{canonical(p)}:{canonical(s)}" for p, s in kept)

    text = f"{asset_id}|{side(bids, True)}|{side(asks, False)}"
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
