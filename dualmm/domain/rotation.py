"""Whether the active round should give way to a better reward market.

Without it a round would end only at the position limit: after a hand-over the bot would stay
on the second-best market while the best one sat idle once its liquidation finished. So the
markets are ranked again, the active one among them, when a liquidation finishes (and every
`rerank_minutes`, if set); the round moves only when

- the best market beats the active one's estimated earnings per USDC by more than
  `switch_margin` (hysteresis: two markets of about the same worth never flap), and
- the active position is below the market's minimum order size, so the move hands nothing to
  a liquidation that could be sold (a dust remainder exits at once as dust).

The workflow (`ActiveMarketWorkflow`, `pick_market`) and the backtest engine call these.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum

from dualmm.domain.position import PositionTracker
from dualmm.domain.rewards import MarketEstimate


class NextStep(StrEnum):
    """What the bot does next, between rounds or with a round on."""

    QUOTE = "QUOTE"  # make a market in the active one
    PICK = "PICK"  # no active market: rank the markets and take the best
    WAIT = "WAIT"  # single-market mode: nothing is quoted while a liquidation runs


def next_step(has_active: bool, dual_market_mode: bool, liquidating: bool) -> NextStep:
    """The bot's next step: in single-market mode (the baseline) quoting waits for every
    liquidation to finish; in dual mode the active role moves on at once."""
    if liquidating and not dual_market_mode:
        return NextStep.WAIT
    return NextStep.QUOTE if has_active else NextStep.PICK


def rerank_now(
    since_ranked_seconds: Decimal,
    rerank_minutes: int,
    liquidation_finished: bool,
    position: PositionTracker,
    min_order_size: Decimal,
) -> bool:
    """Rank the markets again now, the active one among them: a ranking is due and the
    active position could be left without a liquidation worth the name."""
    return rerank_due(since_ranked_seconds, rerank_minutes, liquidation_finished) and may_leave(
        position, min_order_size
    )


def rerank_due(
    since_ranked_seconds: Decimal, rerank_minutes: int, liquidation_finished: bool
) -> bool:
    """Time to rank again: a liquidation finished since the last ranking (its market may be
    the best again), or `rerank_minutes` (0: never) have passed."""
    periodic = rerank_minutes > 0 and since_ranked_seconds >= rerank_minutes * 60
    return liquidation_finished or periodic


def cools_down(liquidation_pnl: Decimal, loss_cooldown_minutes: int) -> bool:
    """A liquidation that lost leaves its market out of the picks for the cooldown: a market
    that just filled us adversely (it trends, or jumped) tends to do it again at once."""
    return loss_cooldown_minutes > 0 and liquidation_pnl < 0


def may_leave(position: PositionTracker, min_order_size: Decimal) -> bool:
    """Leaving the round now creates no liquidation worth the name: what is held (YES+NO
    pairs cancel) is below the minimum order size, so no exit order could be placed."""
    return position.held_qty < min_order_size


def market_to_quote(
    ranked: Sequence[MarketEstimate], active_id: str | None, switch_margin: Decimal
) -> MarketEstimate | None:
    """The market the bot should be on, from a ranking (best first) that may hold the active
    one: the best, unless the active market is ranked and the best earns at most
    `1 + switch_margin` times as much per USDC; None when nothing is ranked."""
    if switch_margin < 0:
        raise ValueError(f"switch_margin {switch_margin} must be >= 0")
    if not ranked:
        return None
    best = ranked[0]
    active = next((e for e in ranked if e.market.condition_id == active_id), None)
    if active is None or active is best:
        return best
    if best.net_per_usdc > active.net_per_usdc * (1 + switch_margin):
        return best
    return active


def switch_to(
    ranked: Sequence[MarketEstimate],
    active_id: str,
    position: PositionTracker,
    min_order_size: Decimal,
    switch_margin: Decimal,
) -> MarketEstimate | None:
    """The market the active round should give way to now, or None to stay."""
    if not may_leave(position, min_order_size):
        return None
    chosen = market_to_quote(ranked, active_id, switch_margin)
    if chosen is None or not leaves_for(
        chosen.market.condition_id, active_id, position, min_order_size
    ):
        return None
    return chosen


def goes_to_liquidation(position: PositionTracker) -> bool:
    """Whether a round's position goes to a liquidation when the round ends: any exposure,
    or YES+NO pairs, which the liquidation merges back into USDC (once, by its own path)."""
    return not position.is_flat or (position.yes_qty > 0 and position.no_qty > 0)


def leaves_for(
    chosen_id: str, active_id: str, position: PositionTracker, min_order_size: Decimal
) -> bool:
    """Whether the round leaves for the market a ranking chose: another market, and the
    position (as it is now, after whatever filled while ranking) may still be left."""
    return chosen_id != active_id and may_leave(position, min_order_size)
