"""Dual against single over paired seeds: the same paths for both modes, seed by seed.

  net_pnl_diff              dual minus single, per seed; mean and a 90 % Student-t interval
                            on the paired differences
  capital_efficiency_ratio  mean(dual) / mean(single) over the seeds (a ratio of means, so one
                            seed near zero cannot blow it up); 90 % interval: percentile
                            bootstrap over seeds, resampled in pairs with a fixed seed
  sources                   where the difference comes from, per seed (they add up to it):
                            the rewards dual earned in the minutes single's active market did
                            not earn, the reward difference in all other minutes (negative
                            when dual sat on a worse market), and the trading P&L difference
                            (market making + liquidations: the extra inventory cost)

A ratio is shown only when single's mean is above zero: with a loss below it, a larger number
would read as a gain (two losses give a positive ratio). It is null with the reason instead.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from statistics import mean, stdev

from dualmm.backtest.engine import ModeRun
from dualmm.backtest.markouts import Markouts

ZERO = Decimal(0)
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 16
CONFIDENCE = 0.90


@dataclass(frozen=True)
class Estimate:
    """A mean (or ratio) with its 90 % interval; None with `note` saying why where undefined."""

    mean: float | None
    ci90: tuple[float, float] | None
    note: str | None = None


@dataclass(frozen=True)
class Sources:
    """One seed's dual-minus-single difference, taken apart (USDC and minutes)."""

    idle_minutes: int  # single's active market not earning, dual's earning
    idle_rewards: Decimal  # dual's rewards less single's over those minutes
    worse_minutes: int  # both earning, dual's active market paying less
    other_rewards: Decimal  # dual's rewards less single's over every other minute
    inventory: Decimal  # dual's trading P&L less single's (market making + liquidations)


def trading_pnl(run: ModeRun) -> Decimal:
    return run.mm_realized + run.mm_unrealized + sum((lq.pnl for lq in run.liquidations), ZERO)


def sources(single: ModeRun, dual: ModeRun) -> Sources:
    """Where dual's net P&L differs from single's on one seed (the parts sum to the difference)."""
    if len(single.minute_rewards) != len(dual.minute_rewards):
        raise ValueError("paired runs must cover the same minutes")
    idle_minutes = worse_minutes = 0
    idle = other = ZERO
    for m, (rs, rd) in enumerate(zip(single.minute_rewards, dual.minute_rewards, strict=True)):
        single_earns, dual_earns = single.minute_earning[m], dual.minute_earning[m]
        if dual_earns and not single_earns:
            idle_minutes += 1
            idle += rd - rs
        else:
            other += rd - rs
            if single_earns and dual_earns:
                worse = dual.minute_active_rewards[m] < single.minute_active_rewards[m]
                worse_minutes += worse
    other -= dual.rewards_unpaid - single.rewards_unpaid  # days below the minimum payout
    inventory = trading_pnl(dual) - trading_pnl(single)
    return Sources(idle_minutes, idle, worse_minutes, other, inventory)


def lean(run: ModeRun) -> ModeRun:
    """The run without its minute-by-minute lists (what crosses between processes)."""
    return replace(run, minute_rewards=[], minute_active_rewards=[], minute_earning=bytearray())


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile, by bisection on the CDF (Simpson's rule over the density)."""
    if df < 1 or not 0.5 <= p < 1:
        raise ValueError("need df >= 1 and p in [0.5, 1)")
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(t: float) -> float:
        n = 400
        h = t / n
        total = 0.0
        for k in range(n + 1):
            x = k * h
            weight = 1 if k in (0, n) else (4 if k % 2 else 2)
            total += weight * math.exp(log_c - (df + 1) / 2 * math.log1p(x * x / df))
        return 0.5 + total * h / 3

    lo, hi = 0.0, 1.0
    while cdf(hi) < p:
        lo, hi = hi, hi * 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


def mean_ci90(values: Sequence[Decimal]) -> Estimate:
    """The mean and its two-sided 90 % Student-t interval."""
    xs = [float(v) for v in values]
    if not xs:
        return Estimate(None, None, "no seeds")
    centre = mean(xs)
    if len(xs) < 2:
        return Estimate(centre, None, "one seed: no interval")
    half = t_quantile(0.5 + CONFIDENCE / 2, len(xs) - 1) * stdev(xs) / math.sqrt(len(xs))
    return Estimate(centre, (centre - half, centre + half))


def ratio_ci90(single: Sequence[Decimal | None], dual: Sequence[Decimal | None]) -> Estimate:
    """mean(dual) / mean(single) with a paired percentile-bootstrap 90 % interval."""
    pairs = [
        (float(s), float(d))
        for s, d in zip(single, dual, strict=True)
        if s is not None and d is not None
    ]
    if not pairs:
        return Estimate(None, None, "no seed has both figures")
    denominator = mean(s for s, _ in pairs)
    if denominator <= 0:
        return Estimate(
            None, None, f"single's mean is {denominator:.4g} (not above 0): no ratio reads right"
        )
    estimate = mean(d for _, d in pairs) / denominator
    if len(pairs) < 2:
        return Estimate(estimate, None, "one seed: no interval")
    rng = random.Random(BOOTSTRAP_SEED)
    ratios: list[float] = []
    undefined = 0
    for _ in range(BOOTSTRAP_RESAMPLES):
        sample = [pairs[rng.randrange(len(pairs))] for _ in pairs]
        below = mean(s for s, _ in sample)
        if below <= 0:
            undefined += 1
            continue
        ratios.append(mean(d for _, d in sample) / below)
    tail = (1 - CONFIDENCE) / 2
    if undefined > tail * BOOTSTRAP_RESAMPLES:
        share = undefined / BOOTSTRAP_RESAMPLES
        return Estimate(estimate, None, f"single's mean is not above 0 in {share:.0%} of resamples")
    ratios.sort()
    lo = ratios[int(tail * len(ratios))]
    hi = ratios[min(len(ratios) - 1, int((1 - tail) * len(ratios)))]
    return Estimate(estimate, (lo, hi))


def pool(runs: Sequence[ModeRun]) -> ModeRun:
    """Many seeds' runs of one mode as one long run (days and minutes add up), so pooled
    uptime, exit percentiles and loss ratios come from every seed's minutes and exits."""
    first = runs[0]
    return ModeRun(
        mode=first.mode,
        days=sum((r.days for r in runs), ZERO),
        minutes=sum(r.minutes for r in runs),
        rewards_active=sum((r.rewards_active for r in runs), ZERO),
        rewards_liquidating=sum((r.rewards_liquidating for r in runs), ZERO),
        rewards_paid=sum((r.rewards for r in runs), ZERO),
        scoring_minutes=sum(r.scoring_minutes for r in runs),
        active_minutes=sum(r.active_minutes for r in runs),
        budget=first.budget,
        peak_capital=max(r.peak_capital for r in runs),
        capital_minutes=sum((r.capital_minutes for r in runs), ZERO),
        mm_realized=sum((r.mm_realized for r in runs), ZERO),
        mm_unrealized=sum((r.mm_unrealized for r in runs), ZERO),
        rounds=sum(r.rounds for r in runs),
        switches=sum(r.switches for r in runs),
        liquidations=[lq for r in runs for lq in r.liquidations],
        markouts=_pool_markouts([r.markouts for r in runs]),
    )


def _pool_markouts(markouts: Sequence[Markouts]) -> Markouts:
    """The share-weighted sums added up (so the pooled mean weighs every seed's shares)."""
    out = Markouts()
    for one in markouts:
        for kind, sums in one.moves.items():
            out.moves[kind] = [a + b for a, b in zip(out.moves[kind], sums, strict=True)]
            out.shares[kind] += one.shares[kind]
    return out
