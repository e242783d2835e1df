"""Active-market quoter: reward-aware BUY YES / BUY NO quotes inside the reward band.

A NO bid at `p` is a YES ask at `1 - p` on Polymarket's unified book, so bidding both tokens
is two-sided quoting without holding inventory. Each bid sits `offset` below its own token's
midpoint (YES: `mid`, NO: `1 - mid`), `offset = spread_fraction * max spread`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import TypeVar

from dualmm.config import MarketMakerConfig
from dualmm.domain.inventory import highest_bid_below, skewed_offset, withholds_adding
from dualmm.domain.position import PositionTracker
from dualmm.domain.prices import ONE, SIZE_STEP, Rounding, round_size, round_to_tick, to_valid_price
from dualmm.domain.types import MarketInfo, OrderIntent, Side, Token

# Midpoints where the venue scores a one-sided book (docs/design.md, "Rewards"); outside,
# only pairs.
SINGLE_SIDED_MIN_MID = Decimal("0.10")
SINGLE_SIDED_MAX_MID = Decimal("0.90")

CENTS_PER_UNIT = Decimal(100)

Q = TypeVar("Q")


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


def room_to_limit(position: PositionTracker, limit: Decimal, token: Token) -> Decimal:
    """How much more of `token` we may buy before |net| passes `limit` (BUY YES adds to net,
    BUY NO subtracts), rounded down to 0.01; 0 when none."""
    room = limit - position.net if token is Token.YES else limit + position.net
    return max(Decimal(0), round_size(room))


def desired_quotes(
    market: MarketInfo,
    yes_mid: Decimal,
    position: PositionTracker,
    config: MarketMakerConfig,
) -> tuple[OrderIntent, ...]:
    """The bids to rest on the book now: BUY YES first, then BUY NO; a side may be withheld.

    A side is sized down to the room left to `position_limit`, so a full fill lands on the
    limit at most and the limit is reachable whatever the quote size (a quote of 75 against a
    limit of 100 bids 25 once 75 are held); it is withheld when that room is below the
    market's minimum order, or when no passive price exists. A market without a reward band
    gets no quotes: there is nothing to earn. Holding one token, `inventory_skew` and
    `stop_adding_at` lean the bids toward pairing it (`dualmm.domain.inventory`).
    """
    if not Decimal(0) < yes_mid < ONE:
        raise ValueError(f"midpoint {yes_mid} is outside (0, 1)")
    band = max_spread(market)
    if band <= 0:
        return ()
    size = quote_size(market, config)
    offset = quote_offset(market, config)
    limit, tick = config.position_limit, market.tick_size
    quotes = []
    for token, own_mid in ((Token.YES, yes_mid), (Token.NO, ONE - yes_mid)):
        side_size = min(size, room_to_limit(position, limit, token))
        if side_size <= 0 or side_size < market.min_order_size:
            continue
        if withholds_adding(position, limit, token, config.stop_adding_at):
            continue
        side_offset = skewed_offset(offset, position, limit, token, config.inventory_skew)
        price = bid_price(own_mid, side_offset, band, tick)
        if price is None and side_offset < offset:  # leaned all the way in: still a bid
            price = highest_bid_below(own_mid, tick)
        if price is not None:
            quotes.append(OrderIntent(token=token, side=Side.BUY, price=price, size=side_size))
    return tuple(quotes)


def keeps_quote(
    live: OrderIntent, wanted: OrderIntent | None, reprice: bool, market: MarketInfo
) -> bool:
    """Whether a live quote stays on the book rather than being replaced by `wanted`.

    Re-pricing replaces every quote that differs. Otherwise a quote stays unless its side is
    no longer wanted, its remaining size is more than the room to the limit allows, or a
    partial fill left it below the reward minimum (it would score nothing: replaced by a
    full-size quote).
    """
    if wanted is None:
        return False
    if reprice:
        return live == wanted
    if live.size > wanted.size:
        return False
    return live.size == wanted.size or live.size >= market.rewards_min_size


def scores_one_sided(yes_mid: Decimal) -> bool:
    """The venue scores a one-sided book only for midpoints in [0.10, 0.90]."""
    return SINGLE_SIDED_MIN_MID <= yes_mid <= SINGLE_SIDED_MAX_MID


def leave_reason(yes_mid: Decimal, quotes: tuple[OrderIntent, ...]) -> str | None:
    """Why the market must be left now: quoting one side only (the other is held back by the
    limit) while the midpoint is outside [0.10, 0.90] earns nothing, and the held side only
    grows in risk. None: stay."""
    if len({q.token for q in quotes}) == 1 and not scores_one_sided(yes_mid):
        return f"midpoint {yes_mid} outside [0.10, 0.90] with one side quoted: scores nothing"
    return None


def needs_requote(quoted_mid: Decimal | None, current_mid: Decimal, threshold: Decimal) -> bool:
    """Requote when nothing is quoted yet or the midpoint moved by at least `threshold`."""
    return quoted_mid is None or abs(current_mid - quoted_mid) >= threshold


def position_limit_reached(
    position: PositionTracker, limit: Decimal, min_order_size: Decimal = Decimal(0)
) -> bool:
    """|net| at or past the limit, or so close to it that the room left is below the minimum
    order (no order could take it further): the market must move to liquidation."""
    held = position.held_qty
    return held >= limit or (held > 0 and limit - held < min_order_size)


def pairs_to_merge(position: PositionTracker, merge_pairs_at: Decimal) -> bool:
    """The YES+NO pairs held reached `merge_pairs_at` (0: never): the round hands over so the
    liquidation merges them back into USDC, instead of their capital idling to the round's end."""
    return merge_pairs_at > 0 and min(position.yes_qty, position.no_qty) >= merge_pairs_at


@dataclass(frozen=True, slots=True)
class QuotePlan:
    """What one look at the market decides for the round's quotes, in the order a driver
    carries it out: withdraw everything and hand over (`hand_over`); otherwise cancel the
    live quotes `keep` does not keep, price from `quoted_mid` on, leave the market if
    `leave_reason` says so (the round then ends as at the limit), else place `place`."""

    keep: tuple[bool, ...]  # one per live quote, in their order
    place: tuple[OrderIntent, ...]
    quoted_mid: Decimal | None
    leave_reason: str | None = None
    hand_over: bool = False  # the position limit or pairs to merge: on to a liquidation

    @property
    def ends_round(self) -> bool:
        return self.hand_over or self.leave_reason is not None

    def split(self, live: Sequence[Q]) -> tuple[list[Q], list[Q]]:
        """`live` (the quotes the plan was made for) as (kept, cancelled)."""
        kept: list[Q] = []
        cancelled: list[Q] = []
        for quote, keep in zip(live, self.keep, strict=True):
            (kept if keep else cancelled).append(quote)
        return kept, cancelled


def plan_quotes(
    market: MarketInfo,
    yes_mid: Decimal,
    position: PositionTracker,
    live: Sequence[OrderIntent],
    quoted_mid: Decimal | None,
    config: MarketMakerConfig,
) -> QuotePlan:
    """The round's decision at one look: hand over at the position limit or once the pairs
    held reach `merge_pairs_at` (`pairs_to_merge`); otherwise re-price
    both bids when the midpoint moved past the threshold, else only withdraw a side the limit
    now forbids and replace a quote that filled (or was left below the reward minimum); leave
    the market where one side only would be quoted out of the one-sided band. `live`: our
    resting quotes (size: what is left unfilled); `quoted_mid`: the midpoint they were priced
    at. The `make_market` activity and the backtest both carry out this plan."""
    if position_limit_reached(
        position, config.position_limit, market.min_order_size
    ) or pairs_to_merge(position, config.merge_pairs_at):
        return QuotePlan(keep=(False,) * len(live), place=(), quoted_mid=quoted_mid, hand_over=True)
    desired = {q.token: q for q in desired_quotes(market, yes_mid, position, config)}
    reprice = needs_requote(quoted_mid, yes_mid, config.requote_threshold)
    keep = tuple(keeps_quote(q, desired.get(q.token), reprice, market) for q in live)
    mid = yes_mid if reprice else quoted_mid
    leaving = leave_reason(yes_mid, tuple(desired.values()))
    if leaving is not None:
        return QuotePlan(keep=keep, place=(), quoted_mid=mid, leave_reason=leaving)
    quoted = {q.token for q, k in zip(live, keep, strict=True) if k}
    place = tuple(intent for token, intent in desired.items() if token not in quoted)
    return QuotePlan(keep=keep, place=place, quoted_mid=mid)
