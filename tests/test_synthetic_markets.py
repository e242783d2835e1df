"""One synthetic generator: the backtest and the simulator see the same markets, paths and
books, and the book's depth follows the profile fitted on real L2 books."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from dualmm.backtest.synthetic import synthetic_input
from dualmm.domain.types import OrderIntent, Side, Token
from dualmm.sim.synthetic import competitor_levels, synthetic_markets
from dualmm.synthetic.calibration import parameters
from dualmm.synthetic.markets import depth_levels, draw_market

D = Decimal
SEED, MARKETS, DAYS = 7, 6, D(2)


def test_the_backtest_and_the_simulator_serve_the_same_markets_and_paths() -> None:
    backtest = synthetic_input(MARKETS, DAYS, SEED).markets
    sim = synthetic_markets(MARKETS, SEED, datetime(2026, 1, 1, tzinfo=UTC))
    assert [m.info for m in backtest] == [m.info for m in sim]
    moved = 0
    for ours, theirs in zip(backtest, sim, strict=True):
        step = theirs.walk.step_seconds
        for i, at in enumerate(ours.times):  # every change of the backtest's path
            assert theirs.walk.mid_at(at // 60 * step) == ours.mids[i]
        assert theirs.walk.change_times(0, (ours.times[-1] // 60) * step) == [
            t // 60 * step for t in ours.times[1:]
        ]
        moved += len(ours.times) > 1
    assert moved >= 3


def test_a_shorter_run_is_the_start_of_a_longer_one() -> None:
    short, long = (synthetic_input(3, days, SEED).markets for days in (D(1), D(3)))
    for a, b in zip(short, long, strict=True):
        assert b.times[: len(a.times)] == a.times and b.mids[: len(a.mids)] == a.mids


def test_both_show_the_same_book_around_the_same_touch() -> None:
    # One-tick markets (most), at every state whose touch the two agree on: all but the states
    # where the path sits exactly on a tick (the fill model's touch is then two ticks wide, the
    # backtest's visible touch one). A wider market's touch is rounded around the path by the
    # simulator, around the reference midpoint by the backtest: the same spread, up to half a
    # tick apart.
    backtest = synthetic_input(MARKETS, DAYS, SEED).markets
    sim = synthetic_markets(MARKETS, SEED, datetime(2026, 1, 1, tzinfo=UTC))
    compared = 0
    for ours, theirs in zip(backtest, sim, strict=True):
        spec = ours.spec  # type: ignore[attr-defined]
        if theirs.half_spread is not None:
            continue
        for i in range(len(ours.times)):
            bid, ask = ours.yes_touch(i)
            if (bid, ask) != spec.touch(ours.mid(i)):
                continue
            assert bid is not None and ask is not None
            bids, asks = ours.competition(i)
            levels = competitor_levels(theirs.book_seed, bid, ask, ours.info.tick_size)
            assert (dict(bids), dict(asks)) == levels
            compared += 1
    assert compared >= 20


def test_the_depth_behind_the_touch_follows_the_fitted_profile() -> None:
    profile = parameters()["depth"]["behind_touch"]
    bids, asks = depth_levels(D("0.40"), D("0.42"), D(25))
    for k, ratio in enumerate(profile):
        want = (D(25) * D(str(ratio))).quantize(D(1))
        assert bids[D("0.40") - D("0.01") * k] == want
        assert asks[D("0.42") + D("0.01") * k] == want
    assert len(bids) == len(asks) == len(profile)
    assert bids[D("0.35")] > 5 * bids[D("0.40")]  # it grows behind the touch


def test_a_crossing_exit_walks_the_depth() -> None:
    # an uncontested market: its book is the touch and the depth profile only
    market = next(
        m
        for m in synthetic_input(40, D("0.1"), SEED).markets
        if not m.spec.makers  # type: ignore[attr-defined]
    )
    bid, _ = market.yes_touch(0)
    spec = market.spec  # type: ignore[attr-defined]
    touch_bid = spec.touch(market.mid(0))[0]
    size = spec.touch_size * 3
    sell = OrderIntent(token=Token.YES, side=Side.SELL, price=touch_bid - D("0.05"), size=size)
    fills = market.crossing_fills(0, sell)
    assert [p for p, _ in fills] == [touch_bid - D("0.01") * k for k in range(len(fills))]
    assert len(fills) >= 2 and sum(s for _, s in fills) == size
    assert fills[0][1] == spec.touch_size
    assert bid is not None


def test_a_market_is_a_function_of_its_seed_and_index() -> None:
    assert draw_market(SEED, 3) == draw_market(SEED, 3) != draw_market(SEED + 1, 3)
