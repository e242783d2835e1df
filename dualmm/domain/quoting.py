"""Active-market quoter: reward-aware BUY YES / BUY NO quotes inside the reward band.

A NO bid at `p` is a YES ask at `1 - p` on Polymarket's unified book, so bidding both tokens
is two-sided quoting without holding inventory. Each bid sits `offset` below its own token's
midpoint (YES: `mid`, NO: `1 - mid`), `offset = spread_fraction * max spread`.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from dualmm.config import MarketMakerConfig
from dualmm.domain.position import PositionTracker
from dualmm.domain.prices import ONE, SIZE_STEP, Rounding, round_size, round_to_tick, to_valid_price
from dualmm.domain.types import MarketInfo, OrderIntent, Side, Token

CENTS_PER_UNIT = Decimal(100)


def max_spread(market: MarketInfo) -> Decimal:
    """The reward band's half-width as a price (the market publishes it in cents)."""
    return market.rewards_max_spread_cents / CENTS_PER_UNIT


def quote_offset(market: MarketInfo, config: MarketMakerConfig) -> Decimal:
    return config.spread_fraction * max_spread(market)


def quote_size(market: MarketInfo, config: MarketMakerConfig) -> Decimal:
    """The configured size rounded down to 0.01, but never below either minimum.

    A minimum is rounded up instead: an order a hair under `rewards_min_size` scores nothing.
    """
    floor = max(market.rewards_min_size, market.min_order_size)
    return max(round_size(config.order_size), floor.quantize(SIZE_STEP, rounding=ROUND_CEILING))


def bid_price(own_mid: Decimal, offset: Decimal, band: Decimal, tick: Decimal) -> Decimal | None:
    """A passive bid `offset` below `own_mid`, or None when no on-tick price stays below it.

    Rounded down (away from the mid, never closer than intended) and clamped to
    [tick, 1 - tick]; then, if that left the reward band (distance >= band scores nothing),
    raised to the lowest on-tick price strictly inside the band, as long as that is still
    below the mid.
    """
    price = to_valid_price(own_mid - offset, tick, Rounding.DOWN)
    band_edge = own_mid - band
    if price <= band_edge:
        inside = round_to_tick(band_edge, tick, Rounding.DOWN) + tick
        if inside < own_mid:
            price = inside
    return price if price < own_mid else None


def _grows_past_limit(net: Decimal, change: Decimal, limit: Decimal) -> bool:
    after = abs(net + change)
    return after > limit and after > abs(net)


def desired_quotes(
    market: MarketInfo,
    yes_mid: Decimal,
    position: PositionTracker,
    config: MarketMakerConfig,
) -> tuple[OrderIntent, ...]:
    """The bids to rest on the book now: BUY YES first, then BUY NO; a side may be withheld.

    A side is withheld when a full fill would take |net| past `position_limit` while
    growing it (BUY YES adds to net, BUY NO subtracts), or when no passive price exists.
    A market without a reward band gets no quotes: there is nothing to earn.
    """
    if not Decimal(0) < yes_mid < ONE:
        raise ValueError(f"midpoint {yes_mid} is outside (0, 1)")
    band = max_spread(market)
    if band <= 0:
        return ()
    size = quote_size(market, config)
    offset = quote_offset(market, config)
    quotes = []
    for token, own_mid, change in (
        (Token.YES, yes_mid, size),
        (Token.NO, ONE - yes_mid, -size),
    ):
        if _grows_past_limit(position.net, change, config.position_limit):
            continue
        price = bid_price(own_mid, offset, band, market.tick_size)
        if price is not None:
            quotes.append(OrderIntent(token=token, side=Side.BUY, price=price, size=size))
    return tuple(quotes)


def needs_requote(quoted_mid: Decimal | None, current_mid: Decimal, threshold: Decimal) -> bool:
    """Requote when nothing is quoted yet or the midpoint moved by at least `threshold`."""
    return quoted_mid is None or abs(current_mid - quoted_mid) >= threshold


def position_limit_reached(position: PositionTracker, limit: Decimal) -> bool:
    """|net| at or past the limit: the market must move to liquidation."""
    return position.held_qty >= limit
