"""The bot's loop in simulated time, one mode at a time, one look every `step` seconds.

At each look, in this order (the workflow's round looks every `quote_interval_ms`; a minute
step decides the same on paths that move once a minute, recorded books get the 5 s default):
  1. liquidations that finished by now leave the registry (single mode may quote again);
  2. the active market's resting quotes fill as the venue fills them since the last look
     (`MarketData.quote_fills`: queue position under `fill_model`, trades, the book moving
     through); the fills go into its PositionTracker. YES+NO pairs stay in the position (and
     in its capital) until the round ends, as in the workflow's round;
  3. a round whose market closes ends: its quotes are withdrawn (still exposed while the
     cancels travel, as below) and its position, pairs included, is handed to a liquidation
     (`liquidation.liquidate`, run to its end at once: it depends on nothing else), which
     merges the pairs before selling (`rotation.goes_to_liquidation`);
  4. after a liquidation finished (and every `rerank_minutes`, if set), the markets are
     ranked again with the active one among them; with the active position below the minimum
     order size, the round gives way to a market earning over `1 + switch_margin` times as
     much (`dualmm.domain.rotation`, as the workflow's round does it); a market whose
     liquidation lost stays out of the picks for `loss_cooldown_minutes`;
  5. `rotation.next_step`: in single mode nothing is quoted while a liquidation runs (a round
     just switched to waits for the dust its predecessor handed over, as the workflow's
     does); with no active market the best market is picked by the discovery ranking
     (`dualmm.discovery.rank`: price band, markets in liquidation excluded, capital left
     under `liquidity_budget` after what liquidations hold);
  6. the round carries out `plan_quotes`, the plan the `make_market` activity carries out:
     at the position limit, or where the plan leaves the market, the round ends as in 3 and
     the next market is picked at once; otherwise the cancels, then the new quotes
     (post-only, so a quote that would cross is not placed). A new quote joins the queue at
     its price; a cancelled one stays exposed for the bot's reaction time
     (`quote_interval_ms`, the loop that sees the change) plus `cancel_latency_ms`, and fills
     if the flow reaches it; the quotes placed after a cancel rest from then;
  7. once a minute, at the look covering that minute's reward sample (a random second,
     `scoring.sample_second`), a sample: rewards of every resting order of ours in the book of
     that second, uptime, capital deployed (resting BUY collateral + tokens at cost, the active
     market's and the liquidations'), summed for its time average and kept minute by minute
     for the paired comparison. A day's rewards below 1 USDC are not paid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from dualmm.backtest.inputs import BacktestInput
from dualmm.backtest.liquidation import LiquidationRun, liquidate
from dualmm.backtest.markets import MarketData
from dualmm.backtest.markouts import Markouts
from dualmm.backtest.scoring import minute_reward, payable, sample_second
from dualmm.config import MarketMakerConfig, OrchestratorConfig
from dualmm.discovery import Filters, rank
from dualmm.domain.fees import Fees
from dualmm.domain.position import CONFIRMED, PositionTracker
from dualmm.domain.queue import FillModel, QueueSpot
from dualmm.domain.quoting import plan_quotes
from dualmm.domain.rewards import MarketEstimate, RewardCandidate
from dualmm.domain.rotation import (
    NextStep,
    cools_down,
    goes_to_liquidation,
    next_step,
    rerank_now,
    switch_to,
)
from dualmm.domain.types import Fill, OrderIntent, Side, Token

ZERO = Decimal(0)
TIMELINE_POINTS = 1500
# From the cancel's request to the venue's acknowledgement: the replaced quote can still trade.
CANCEL_LATENCY_MS = 1_000
# Fill times only order a round's trades; the tracker does not read them.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class BacktestRound:
    """The active market: what the make_market activity keeps in its checkpoint."""

    market: MarketData
    started: int
    position: PositionTracker = field(default_factory=PositionTracker)
    quotes: list[OrderIntent] = field(default_factory=list)  # size: what is left unfilled
    spots: dict[Token, QueueSpot] = field(default_factory=dict)  # each quote's queue
    live_from: dict[Token, float] = field(default_factory=dict)  # placed after a cancel
    quoted_mid: Decimal | None = None
    last_seen: int = 0
    trades: int = 0


@dataclass
class ModeRun:
    mode: str
    days: Decimal
    minutes: int
    rewards_active: Decimal = ZERO
    rewards_liquidating: Decimal = ZERO
    rewards_paid: Decimal | None = None  # the days that reached the minimum payout, at the end
    scoring_minutes: int = 0
    active_minutes: int = 0  # minutes with a scoring quote on the active market
    budget: Decimal = ZERO  # the liquidity budget the picks were held under
    peak_capital: Decimal = ZERO
    capital_minutes: Decimal = ZERO  # the minute samples' capital, summed (USDC x minutes)
    mm_realized: Decimal = ZERO  # realized by the rounds (none: their pairs merge in liquidation)
    mm_unrealized: Decimal = ZERO  # the active position at the end, at the final midpoint
    rounds: int = 0
    switches: int = 0  # rounds that gave way to a better market (`dualmm.domain.rotation`)
    liquidations: list[LiquidationRun] = field(default_factory=list)
    # (minute, cumulative rewards, net P&L with liquidations booked when they end)
    timeline: list[tuple[int, Decimal, Decimal]] = field(default_factory=list)
    markouts: Markouts = field(default_factory=Markouts)
    # Minute by minute, for `dualmm.backtest.paired`: all our rewards, the active market's,
    # and whether the active market's quotes scored.
    minute_rewards: list[Decimal] = field(default_factory=list)
    minute_active_rewards: list[Decimal] = field(default_factory=list)
    minute_earning: bytearray = field(default_factory=bytearray)

    @property
    def rewards(self) -> Decimal:
        """Rewards paid (until the run ends: earned so far)."""
        earned = self.rewards_active + self.rewards_liquidating
        return earned if self.rewards_paid is None else self.rewards_paid

    @property
    def rewards_unpaid(self) -> Decimal:
        """Rewards of the days below the minimum payout."""
        return self.rewards_active + self.rewards_liquidating - self.rewards

    @property
    def avg_capital(self) -> Decimal:
        """Deployed capital averaged over every minute of the run (idle minutes count 0)."""
        return self.capital_minutes / self.minutes if self.minutes else ZERO


def run_mode(
    data: BacktestInput,
    config: OrchestratorConfig,
    dual: bool,
    fees: Fees = Fees(),
    progress: Callable[[int], None] | None = None,
    min_to_end: int = 0,
    step: int = 60,
    fill_model: FillModel = "conservative",
    cancel_latency_ms: int = CANCEL_LATENCY_MS,
) -> ModeRun:
    """The whole bot over `data` in dual- or single-market mode.

    The bot looks every `step` seconds (a divisor of 60; the workflow's round looks every
    `quote_interval_ms`); the minute samples are taken whatever the step. A market closing
    within `min_to_end` seconds is not picked (discovery's `min_hours_to_end`). Quotes fill
    by `fill_model` (`dualmm.domain.queue`); taker fees are each market's category's rate
    unless `fees` fixes one.
    """
    if step <= 0 or 60 % step:
        raise ValueError(f"step {step} s does not divide a minute")
    minutes = data.duration // 60
    run = ModeRun(
        mode="dual" if dual else "single",
        days=data.days,
        minutes=minutes,
        budget=config.liquidity_budget,
    )
    by_id = {m.condition_id: m for m in data.markets}
    mm = config.market_maker
    liq_reward = [ZERO] * minutes
    liq_capital = [ZERO] * minutes
    liq_scoring = bytearray(minutes)
    live: list[LiquidationRun] = []
    booked = ZERO  # P&L of liquidations that ended
    stride = max(1, minutes // TIMELINE_POINTS)
    exposed = (mm.quote_interval_ms + cancel_latency_ms) / 1000  # a replaced quote still rests
    # rewards are paid by UTC day: the first day may be part of one
    midnight = data.start.replace(hour=0, minute=0, second=0, microsecond=0)
    first_minute = int((data.start - midnight).total_seconds()) // 60
    day_rewards = [ZERO] * ((first_minute + minutes) // 1440 + 1)

    def hand_over(market: MarketData, position: PositionTracker, t: int) -> None:
        liquidation = liquidate(
            market,
            position,
            t,
            data.duration,
            config.liquidation,
            data.start,
            fees.for_category(market.category),
        )
        held = position.held_token
        if held is not None:
            for at, price, size in liquidation.fills:
                run.markouts.add("liquidation", market, at, held, Side.SELL, price, size)
        for sample in liquidation.samples:
            liq_reward[sample.minute] += sample.reward
            liq_capital[sample.minute] += sample.capital
            if sample.scoring:
                liq_scoring[sample.minute] = 1
        run.liquidations.append(liquidation)
        live.append(liquidation)

    def end_round(active: BacktestRound, t: int) -> None:
        """Quotes withdrawn; a position (exposure or pairs) goes to liquidation, as the
        workflow's `_close_round` hands it over."""
        _cancel(active, active.quotes, t, fill_model, exposed, run.markouts)
        active.quotes = []
        run.mm_realized += active.position.realized_pnl
        if goes_to_liquidation(active.position):
            hand_over(active.market, active.position, t)

    for market in data.markets:
        if market.position is not None:
            held, qty, cost = market.position
            hand_over(market, PositionTracker.opening(held, qty, cost), 0)

    active: BacktestRound | None = None
    cooled: dict[str, int] = {}  # markets out of the picks until then (a losing exit)

    def excluded(t: int) -> set[str]:
        """Out of the picks: markets in liquidation, and those cooling down after a loss."""
        return {lq.condition_id for lq in live} | {c for c, u in cooled.items() if u > t}

    ranked_at = 0  # the last ranking (a pick or a re-rank)
    finished_since = False  # a liquidation finished since that ranking
    for t in range(0, minutes * 60, step):
        m, second = divmod(t, 60)
        sample_at = m * 60 + sample_second(m)
        sampled = second <= sample_at - m * 60 < second + step
        for liquidation in [lq for lq in live if lq.finished is not None and lq.finished <= t]:
            live.remove(liquidation)
            booked += liquidation.pnl
            finished_since = True
            if cools_down(liquidation.pnl, config.loss_cooldown_minutes):
                cooled[liquidation.condition_id] = t + config.loss_cooldown_minutes * 60
        if active is not None:
            _take_fills(active, t, fill_model, run.markouts)
            if not active.market.live(t):
                end_round(active, t)
                active = None
        if (
            active is not None
            and config.rerank
            and rerank_now(
                Decimal(t - ranked_at),
                config.rerank_minutes,
                finished_since,
                active.position,
                active.market.info.min_order_size,
            )
        ):
            ranked_at, finished_since = t, False
            budget = config.liquidity_budget - liq_capital[m]
            ranked = _rank(data.markets, excluded(t), t + min_to_end, t, config, budget)
            better = switch_to(
                ranked,
                active.market.condition_id,
                active.position,
                active.market.info.min_order_size,
                config.switch_margin,
            )
            if better is not None:
                end_round(active, t)
                market = by_id[better.market.condition_id]
                active = BacktestRound(market=market, started=t, last_seen=t)
                run.rounds += 1
                run.switches += 1
        # The round's plan (`plan_quotes`); a round it ends is followed by the next pick at
        # once, and a market left at once is never picked again (it is out of band).
        for _ in range(3):
            step_now = next_step(active is not None, dual, bool(live))
            if step_now is NextStep.PICK:
                budget = config.liquidity_budget - liq_capital[m]
                picked = _pick(data.markets, excluded(t), t + min_to_end, t, config, budget)
                ranked_at, finished_since = t, False
                if picked is not None:
                    active = BacktestRound(market=by_id[picked], started=t, last_seen=t)
                    run.rounds += 1
            if active is None or step_now is NextStep.WAIT:
                break
            if not _requote(active, t, mm, fill_model, exposed, run.markouts):
                break
            end_round(active, t)  # the position limit, or a market that earns nothing
            active = None
        if not sampled:
            continue
        reward = ZERO
        earning = False
        capital = liq_capital[m]
        if active is not None:
            i = active.market.index_at(sample_at)
            reward, score = minute_reward(
                active.market, i, active.quotes, active.market.score_cache
            )
            earning = score > 0
            if earning:
                run.active_minutes += 1
            capital += sum((q.price * q.size for q in active.quotes), ZERO)
            capital += active.position.yes_cost + active.position.no_cost
        run.rewards_active += reward
        run.rewards_liquidating += liq_reward[m]
        day_rewards[(first_minute + m) // 1440] += reward + liq_reward[m]
        if reward > 0 or liq_scoring[m]:
            run.scoring_minutes += 1
        run.peak_capital = max(run.peak_capital, capital)
        run.capital_minutes += capital
        run.minute_rewards.append(reward + liq_reward[m])
        run.minute_active_rewards.append(reward)
        run.minute_earning.append(earning)
        if m % stride == 0 or m == minutes - 1:
            net = run.rewards + run.mm_realized + booked
            if active is not None:
                mid = active.market.mid(active.market.index_at(t))
                net += active.position.total_pnl(mid)
            run.timeline.append((m, run.rewards, net))
        if progress is not None and (m + 1) % 1440 == 0:
            progress(1440)
    if progress is not None:
        progress(minutes % 1440)
    run.rewards_paid = sum((payable(d) for d in day_rewards), ZERO)
    if active is not None:
        market = active.market
        end = data.duration
        mark = market.final_mark(market.index_at(end), end)
        run.mm_realized += active.position.realized_pnl
        run.mm_unrealized = active.position.unrealized_pnl(mark)
    return run


def _take_fills(active: BacktestRound, t: int, model: FillModel, markouts: Markouts) -> None:
    """The quotes' fills since the last look, into the round's position."""
    market = active.market
    fills: list[Fill] = []
    left = []
    for quote in active.quotes:
        start = max(active.last_seen, active.live_from.get(quote.token, 0))
        done: list[tuple[int, Decimal]] = []
        if start < t:
            done, active.spots[quote.token] = market.quote_fills(
                quote, active.spots[quote.token], start, t, model
            )
        filled = _fills(active, quote, done, markouts, fills) if done else ZERO
        if filled == 0:
            left.append(quote)
        elif quote.size > filled:
            left.append(quote.model_copy(update={"size": quote.size - filled}))
    active.quotes = left
    active.last_seen = t
    _apply(active, fills)


def _fills(
    active: BacktestRound,
    quote: OrderIntent,
    done: list[tuple[int, Decimal]],
    markouts: Markouts,
    into: list[Fill],
) -> Decimal:
    """`done`'s fills of `quote` as the round's trades (and markouts); how much filled."""
    market = active.market
    for at, size in done:
        active.trades += 1
        into.append(
            Fill(
                trade_id=f"{market.condition_id}:mm:{active.started}:{active.trades}",
                condition_id=market.condition_id,
                token=quote.token,
                side=Side.BUY,
                price=quote.price,
                size=size,
                at=_EPOCH,
                status=CONFIRMED,  # no settlement here: a fill is final
            )
        )
        markouts.add("quoting", market, at, quote.token, Side.BUY, quote.price, size)
    return sum((size for _, size in done), ZERO)


def _apply(active: BacktestRound, fills: list[Fill]) -> None:
    if fills:
        active.position = active.position.apply_fills(fills)


def _pick(
    markets: list[MarketData],
    exclude: set[str],
    open_until: int,
    t: int,
    config: OrchestratorConfig,
    max_capital: Decimal,
) -> str | None:
    """The discovery ranking's best market now, as the `pick_market` activity picks it, among
    the markets still open at `open_until`."""
    ranked = _rank(markets, exclude, open_until, t, config, max_capital)
    return ranked[0].market.condition_id if ranked else None


def _rank(
    markets: list[MarketData],
    exclude: set[str],
    open_until: int,
    t: int,
    config: OrchestratorConfig,
    max_capital: Decimal,
) -> list[MarketEstimate]:
    """The discovery ranking now (best first) of the markets still open at `open_until`."""
    candidates = []
    for market in markets:
        if market.condition_id in exclude or not (market.live(t) and market.live(open_until)):
            continue
        i = market.index_at(t)
        bids, asks = market.competition(i)  # the visible book, not who holds it
        candidates.append(
            RewardCandidate(
                market=market.info, yes_mid=market.mid(i), bids=tuple(bids), asks=tuple(asks)
            )
        )
    if max_capital <= 0:
        return []
    return rank(candidates, Filters(), config.market_maker, max_capital)


def _requote(
    active: BacktestRound,
    t: int,
    config: MarketMakerConfig,
    model: FillModel,
    exposed: float,
    markouts: Markouts,
) -> bool:
    """Carry out the round's plan (`plan_quotes`, as the `make_market` activity does) on the
    backtest's book; whether it ends the round. A quote it cancels can still fill for
    `exposed` seconds; the new quotes are placed after the cancels, so they rest from then;
    post-only, a quote that would cross is not placed."""
    market = active.market
    i = market.index_at(t)
    plan = plan_quotes(
        market.info, market.mid(i), active.position, active.quotes, active.quoted_mid, config
    )
    if plan.hand_over:
        return True  # the round's end withdraws every quote
    kept, cancelled = plan.split(active.quotes)
    _cancel(active, cancelled, t, model, exposed, markouts)
    live_from = t + exposed if cancelled else t
    active.quotes = kept
    active.quoted_mid = plan.quoted_mid
    for intent in plan.place:
        if not market.crosses(i, intent):
            kept.append(intent)
            active.spots[intent.token] = market.join(i, intent)
            active.live_from[intent.token] = live_from
    return plan.leave_reason is not None


def _cancel(
    active: BacktestRound,
    quotes: list[OrderIntent],
    t: int,
    model: FillModel,
    exposed: float,
    markouts: Markouts,
) -> None:
    """Cancel `quotes` at `t`: they still fill for `exposed` seconds (what the bot has not
    seen yet, and the cancel's way to the venue)."""
    fills: list[Fill] = []
    for quote in quotes:
        spot = active.spots.pop(quote.token)
        start = max(t, active.live_from.get(quote.token, 0))
        done, _ = active.market.quote_fills(quote, spot, start, t + exposed, model)
        _fills(active, quote, done, markouts, fills)
    _apply(active, fills)
