"""`--synthetic --markets K --days N --seed S`: seeded reward markets for the backtest.

Each market's YES midpoint moves once a minute, in whole units of 0.0001 (integers; no float
ever becomes a price), through regimes:
  quiet    mean-reverting to an anchor, small noise, a few times a day a blip of 1-3 cents
           that fades (what fills a quote and then pays its exit);
  trend    a slow drift of 0.01-0.08 cents a minute for hours (what walks a position away);
  repricing  a sudden move of 8-20 cents over 1-5 minutes, about every three days (news).
The market's facts are drawn too: ticks of 0.01 and 0.001, a spread of reward rates, bands and
minimum sizes, and a competition of 1-4 levels per side inside the band, larger where the
reward pool is richer. Everything is a function of (seed, market index), so both modes and
every run see the same paths.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

from dualmm.backtest.flow import SYNTHETIC_CHURN, synthetic_flow
from dualmm.backtest.inputs import BacktestInput
from dualmm.backtest.markets import MarketData, PathMarket
from dualmm.domain.types import MarketInfo, Token
from dualmm.scenario import token_id_for
from dualmm.sim.synthetic import seeded_rng

UNIT = Decimal("0.0001")
START = datetime(2026, 1, 1, tzinfo=UTC)
LOW, HIGH = 200, 9800  # the walk stays in [0.02, 0.98]

_TICKS = (Decimal("0.01"),) * 3 + (Decimal("0.001"),)
_MIN_ORDER_SIZES = (Decimal(5), Decimal(5), Decimal(10))
_DAILY_RATES = tuple(Decimal(r) for r in ("5", "10", "25", "50", "100", "250"))
_MAX_SPREADS = tuple(Decimal(s) for s in ("2", "3", "3.5", "4.5"))
_MIN_SIZES = tuple(Decimal(s) for s in ("20", "50", "100", "200"))

_QUIET_MINUTES = 720  # mean length of a quiet stretch
_TREND_MINUTES = 180
_REVERSION = 0.03  # share of the distance to the anchor recovered each quiet minute
_BLIP_ODDS = 360  # about four blips a day
_REPRICE_ODDS = 3 * 1440  # about one repricing every three days


def synthetic_input(
    n_markets: int, days: Decimal, seed: int, competition: str = "calibrated"
) -> BacktestInput:
    minutes = int(days * 1440)
    paths = [_market(seed, k, minutes) for k in range(n_markets)]
    for k, path in enumerate(paths):  # the taker flow (made when first read), churn
        path.flow = partial(synthetic_flow, seed, k, path, minutes * 60)
        path.churn = SYNTHETIC_CHURN
    markets: list[MarketData] = list(paths)
    name = f"synthetic (seed {seed}, {n_markets} markets, {days} days)"
    return BacktestInput(name, START, minutes * 60, markets, open_ended=True)


def _market(seed: int, index: int, minutes: int) -> PathMarket:
    rng = seeded_rng("backtest-market", seed, index)
    condition_id = "0x" + hashlib.sha256(f"dualmm-backtest:{seed}:{index}".encode()).hexdigest()
    spread = rng.choice(_MAX_SPREADS)
    info = MarketInfo(
        condition_id=condition_id,
        question=f"Synthetic market {index + 1} (seed {seed})",
        yes_token_id=token_id_for(condition_id, Token.YES),
        no_token_id=token_id_for(condition_id, Token.NO),
        tick_size=rng.choice(_TICKS),
        min_order_size=rng.choice(_MIN_ORDER_SIZES),
        rewards_daily_rate=rng.choice(_DAILY_RATES),
        rewards_max_spread_cents=spread,
        rewards_min_size=rng.choice(_MIN_SIZES),
    )
    # Richer pools draw more makers: each level holds 4-40 shares per USDC of daily rate, in
    # the inner 70 % of the band.
    inner = int(spread * 7)
    rate = info.rewards_daily_rate
    levels = tuple(
        (Decimal(rng.randint(3, inner)) / 10, rate * rng.randint(4, 40))
        for _ in range(rng.choice((1, 2, 2, 3, 4)))
    )
    times, units = _walk(seeded_rng("backtest-walk", seed, index), minutes)
    return PathMarket(
        info=info,
        times=times,
        mids=[u * UNIT for u in units],
        levels=tuple(sorted(levels)),
    )


def _walk(rng: random.Random, minutes: int) -> tuple[list[int], list[int]]:
    """Minute-by-minute midpoints (units of 0.0001); only the minutes where it moved are kept."""
    x = anchor = rng.randint(2000, 8000)
    noise = rng.randint(3, 15)
    regime_left, drift = rng.randint(1, 2 * _QUIET_MINUTES), 0
    jump_left, jump_step = 0, 0
    times, units = [0], [x]
    for minute in range(1, minutes):
        regime_left -= 1
        if regime_left <= 0:
            if drift == 0 and rng.random() < 0.5:
                drift = rng.choice((-1, 1)) * rng.randint(1, 8)
                regime_left = rng.randint(_TREND_MINUTES // 2, 2 * _TREND_MINUTES)
            else:
                drift, anchor = 0, x
                regime_left = rng.randint(_QUIET_MINUTES // 2, 2 * _QUIET_MINUTES)
        move = round(rng.gauss(0, noise))
        if drift:
            move += drift
        else:
            move += round(_REVERSION * (anchor - x))
            if rng.randrange(_BLIP_ODDS) == 0:
                move += rng.choice((-1, 1)) * rng.randint(100, 300)
        if jump_left == 0 and rng.randrange(_REPRICE_ODDS) == 0:
            size, steps = rng.randint(800, 2000), rng.randint(1, 5)
            jump_step, jump_left = rng.choice((-1, 1)) * (size // steps), steps
        if jump_left:
            move += jump_step
            jump_left -= 1
            if jump_left == 0:
                anchor = x + move
        x += move
        if x < LOW:
            x, drift = 2 * LOW - x, abs(drift)
        elif x > HIGH:
            x, drift = 2 * HIGH - x, -abs(drift)
        x = min(max(x, LOW), HIGH)
        if x != units[-1]:
            times.append(minute * 60)
            units.append(x)
    return times, units
