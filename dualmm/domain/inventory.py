"""Inventory skew for the active quoter: lean the two bids toward pairing what is held.

Holding YES, a NO bid completes pairs (YES + NO merge back into 1 USDC) and a YES bid adds to
the position (and the other way round). With `skew > 0` the pairing bid moves toward its
midpoint and the adding bid away from it, both in proportion to how full the position is
(|net| / limit): at the limit the pairing offset is `offset * (1 - skew)` and the adding one
`offset * (1 + skew)`. With `stop_adding_at < 1` the adding bid is withheld once |net|
reaches that fraction of the limit, so the position waits to be paired instead of running
into the limit. Flat, or `skew == 0` and `stop_adding_at == 1`: the quotes are unchanged.
"""

from __future__ import annotations

from decimal import Decimal

from dualmm.domain.position import PositionTracker
from dualmm.domain.prices import Rounding, round_to_tick
from dualmm.domain.types import Token

ZERO = Decimal(0)
ONE = Decimal(1)


def held_fraction(position: PositionTracker, limit: Decimal) -> Decimal:
    """|net| as a share of the position limit, in [0, 1]."""
    return min(ONE, position.held_qty / limit) if limit > 0 else ZERO


def adds_to_position(position: PositionTracker, token: Token) -> bool:
    """Whether buying `token` grows |net| (it is the token held); flat: neither side does."""
    return position.held_token is token


def skewed_offset(
    offset: Decimal, position: PositionTracker, limit: Decimal, token: Token, skew: Decimal
) -> Decimal:
    """The bid's distance below its own midpoint: `offset` flat, less for the pairing token
    and more for the adding one as the position fills."""
    if position.is_flat or skew == 0:
        return offset
    lean = skew * held_fraction(position, limit)
    return offset * (ONE + lean) if adds_to_position(position, token) else offset * (ONE - lean)


def withholds_adding(
    position: PositionTracker, limit: Decimal, token: Token, stop_adding_at: Decimal
) -> bool:
    """Whether the bid for `token` is withheld: it adds to a position already at
    `stop_adding_at` of the limit (1: only the room to the limit caps it)."""
    return (
        stop_adding_at < ONE
        and adds_to_position(position, token)
        and held_fraction(position, limit) >= stop_adding_at
    )


def highest_bid_below(own_mid: Decimal, tick: Decimal) -> Decimal | None:
    """The highest on-tick price strictly below `own_mid` (a pairing bid leaned all the way),
    or None when there is none above 0."""
    price = round_to_tick(own_mid, tick, Rounding.DOWN)
    if price >= own_mid:
        price -= tick
    return price if price >= tick else None
