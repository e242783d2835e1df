"""Reference prices: the book with our own orders taken out.

On Polymarket our resting orders are part of the book. A PASSIVE ask at the midpoint becomes
the best ask and moves `/midpoint`; re-pricing to that midpoint walks the order down check
after check (and can trip our own stop-loss). Every decision therefore reads the touch and
midpoint of the *other* makers: the YES book minus our orders.

Levels are `(price, size)` pairs of the YES book. On the unified book a NO bid at `p` is a YES
ask at `1 - p`, and a NO ask a YES bid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from dualmm.domain.prices import ONE
from dualmm.domain.types import OrderIntent, Side, Token

Level = tuple[Decimal, Decimal]
ZERO = Decimal(0)


def yes_book_entry(order: OrderIntent) -> tuple[bool, Decimal]:
    """Where an order rests on the YES book: (is a bid, YES price)."""
    is_bid = (order.side is Side.BUY) == (order.token is Token.YES)
    return is_bid, order.price if order.token is Token.YES else ONE - order.price


def without_own(
    bids: Iterable[Level], asks: Iterable[Level], own: Iterable[OrderIntent]
) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
    """The YES book's bids (best first) and asks (best first) once our orders' remaining sizes
    are taken out; a level our orders made up entirely disappears (others are kept as given)."""
    bid_sizes: dict[Decimal, Decimal] = {}
    ask_sizes: dict[Decimal, Decimal] = {}
    for price, size in bids:
        bid_sizes[price] = bid_sizes.get(price, ZERO) + size
    for price, size in asks:
        ask_sizes[price] = ask_sizes.get(price, ZERO) + size
    emptied: set[tuple[bool, Decimal]] = set()
    for order in own:
        is_bid, price = yes_book_entry(order)
        levels = bid_sizes if is_bid else ask_sizes
        if price in levels:
            levels[price] -= order.size
            if levels[price] <= 0:
                emptied.add((is_bid, price))
    return (
        tuple(
            (p, max(s, ZERO))
            for p, s in sorted(bid_sizes.items(), reverse=True)
            if (True, p) not in emptied
        ),
        tuple((p, max(s, ZERO)) for p, s in sorted(ask_sizes.items()) if (False, p) not in emptied),
    )


def best_prices(
    bids: Sequence[Level], asks: Sequence[Level]
) -> tuple[Decimal | None, Decimal | None]:
    """The touch of a book given best first: best bid and best ask, None for an empty side
    (never invented)."""
    return (bids[0][0] if bids else None), (asks[0][0] if asks else None)


def reference_midpoint(
    bids: Sequence[Level], asks: Sequence[Level], tick: Decimal
) -> Decimal | None:
    """The midpoint of a book without our orders.

    A one-sided book takes the missing side at its bound (`tick` or `1 - tick`): nobody else
    bids or offers better than that, and no order of ours may stand in for it. None when the
    book is empty: there is no price to decide on.
    """
    best_bid, best_ask = best_prices(bids, asks)
    if best_bid is None and best_ask is None:
        return None
    bid = best_bid if best_bid is not None else tick
    ask = best_ask if best_ask is not None else ONE - tick
    return (bid + ask) / 2
