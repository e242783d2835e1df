"""Backtest rewards as Polymarket documents them: per maker, adjusted midpoint, 1 USDC minimum,
a random second of each minute."""

from __future__ import annotations

from decimal import Decimal as D

from backtest_cases import market, scenario_input

from dualmm.backtest.engine import run_mode
from dualmm.backtest.scoring import minute_reward, payable, sample_second
from dualmm.backtest.synthetic import SyntheticMarket
from dualmm.config import OrchestratorConfig
from dualmm.domain.rewards import book_side_scores, makers_score, q_min, size_cutoff_midpoint
from dualmm.domain.types import MarketInfo, OrderIntent, Side, Token
from dualmm.synthetic.competition import Maker
from dualmm.synthetic.markets import MarketSpec
from dualmm.synthetic.walk import Dynamics

CONFIG = OrchestratorConfig()
FLAT_DAY = [[0, "0.50"], [86_400, "0.50"]]


def close(a: D, b: D) -> bool:
    """Equal but for the last digit of Decimal's 28."""
    return abs(a - b) < D("1e-20")


def test_the_size_cutoff_midpoint_skips_size_below_the_reward_minimum() -> None:
    bids = [(D("0.48"), D(10)), (D("0.47"), D(100))]
    asks = [(D("0.53"), D(30)), (D("0.52"), D(30))]
    # bids: 10 at 0.48 is not 50, 110 by 0.47 is; asks: 30 at 0.52, 60 by 0.53
    assert size_cutoff_midpoint(bids, asks, D(50)) == D("0.50")
    assert size_cutoff_midpoint(bids, asks, D(10)) == D("0.50")  # (0.48 + 0.52) / 2
    assert size_cutoff_midpoint(bids, asks, D(61)) is None  # the asks never hold 61


def test_each_maker_scores_its_own_q_min() -> None:
    mid, band = D("0.50"), D(3)
    bidder = (((D("0.49"), D(100)),), ())
    offerer = ((), ((D("0.51"), D(100)),))
    one_side = D(400) / 9  # ((3 - 1) / 3)^2 * 100
    # one-sided makers count a third each; as one aggregate they would count whole
    assert close(makers_score([bidder, offerer], mid, band, D(50)), 2 * one_side / 3)
    aggregate = q_min(*book_side_scores(bidder[0], offerer[1], mid, band, D(50)), mid)
    assert close(aggregate, one_side)
    # near 0 or 1 a one-sided maker scores nothing
    far = (((D("0.04"), D(100)),), ())
    assert makers_score([far], D("0.05"), band, D(50)) == 0


def synthetic(makers: tuple[Maker, ...]) -> SyntheticMarket:
    info = MarketInfo(
        condition_id="0xaa",
        question="crafted",
        yes_token_id="1",
        no_token_id="2",
        tick_size=D("0.01"),
        min_order_size=D(5),
        rewards_daily_rate=D(144),
        rewards_max_spread_cents=D(3),
        rewards_min_size=D(50),
    )
    spec = MarketSpec(
        seed=0,
        index=0,
        info=info,
        category="",
        dynamics=Dynamics(0.0, 0.0, (), 0.0),
        start_units=5000,
        touch_cents=D("0.5"),
        touch_size=D(0),
        makers=makers,
        days_to_end=30,
    )
    return SyntheticMarket(info=info, times=[0], mids=[D("0.50")], touch_size=D(0), spec=spec)


def test_the_backtest_scores_every_competing_maker_apart() -> None:
    # two one-sided makers 1 cent out, 100 shares each; ours: 50 a side 2 cents out
    market = synthetic(((((D(1), D(100)),), ()), ((), ((D(1), D(100)),))))
    orders = [
        OrderIntent(token=Token.YES, side=Side.BUY, price=D("0.48"), size=D(50)),
        OrderIntent(token=Token.NO, side=Side.BUY, price=D("0.48"), size=D(50)),
    ]
    reward, ours = minute_reward(market, 0, orders, {})
    theirs = 2 * (D(400) / 9) / 3
    assert close(ours, D(50) / 9)
    assert close(reward, D(144) / 1440 * ours / (ours + theirs))
    # the visible book shows one two-sided level a side: discovery would count 400/9
    bids, asks = market.competition(0)
    assert (bids, asks) == (((D("0.49"), D(100)),), ((D("0.51"), D(100)),))
    seen = q_min(*book_side_scores(bids, asks, D("0.50"), D(3), D(50)), D("0.50"))
    assert close(seen, D(400) / 9)


def test_a_day_below_one_usdc_pays_nothing() -> None:
    assert payable(D("0.99")) == 0 and payable(D(1)) == 1
    # the scenario starts at noon UTC: its day is half of two payout days
    for rate, paid in (("1.8", D(0)), ("2.4", D("2.4"))):
        run = run_mode(
            scenario_input(market("aa", FLAT_DAY, rate=rate, competition=[])), CONFIG, False
        )
        assert run.rewards_active.quantize(D("0.000001")) == D(rate)  # the whole pool, one day
        assert run.rewards.quantize(D("0.000001")) == paid


def test_the_sample_second_is_seeded_and_spread_over_the_minute() -> None:
    seconds = [sample_second(m) for m in range(600)]
    assert seconds == [sample_second(m) for m in range(600)]
    assert min(seconds) == 0 and max(seconds) == 59
    assert len(set(seconds)) == 60


def test_rewards_read_the_book_at_the_sample_second_not_at_the_requote() -> None:
    # Each minute the midpoint is 0.50 when the bot looks (on the minute) and 0.505 from its
    # 30th second: our bid (0.48) is then 2.5 cents from the adjusted midpoint, not 2.
    path = [[m * 60 + s, mid] for m in range(60) for s, mid in ((0, "0.50"), (30, "0.505"))]
    data = scenario_input(market("aa", [*path, [3600, "0.50"]], competition=[["1", "100"]]))
    run = run_mode(data, CONFIG, dual=False)
    at_the_look = D(120) / 1440 * D(1) / 9  # ours 50/9 against 400/9
    moved = D(120) / 1440 * D(3) / 35  # ours 25/6 (a third of the 12.5 side) against 400/9
    expected = sum((moved if sample_second(m) >= 30 else at_the_look for m in range(60)), D(0))
    assert run.rewards_active.quantize(D("0.000001")) == expected.quantize(D("0.000001"))
    assert 0 < sum(sample_second(m) >= 30 for m in range(60)) < 60


def test_the_ranking_reads_the_visible_book_not_who_holds_it() -> None:
    from dualmm.backtest.engine import _rank

    market = synthetic(((((D(1), D(100)),), ()), ((), ((D(1), D(100)),))))
    (estimate,) = _rank([market], set(), 0, 0, CONFIG, D(1000))
    # the book shows 100 a side 1 cent out, as if one maker held both: 400/9, not the
    # scorer's two one-sided makers (2 x 400/27)
    assert close(estimate.q_competitors, D(400) / 9)
