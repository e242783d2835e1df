"""Liquidity-rewards math: worked scores, Q_one/Q_two, Q_min branches, earnings, ranking."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualmm.config import MarketMakerConfig
from dualmm.domain.rewards import (
    RewardCandidate,
    book_side_scores,
    estimate_market,
    estimated_daily_earnings,
    order_score,
    order_side_scores,
    q_min,
    rank_markets,
)
from dualmm.domain.types import MarketInfo, OrderIntent, Side, Token

D = Decimal
CENT = D("0.01")
FINE = D("1e-12")  # Decimal divisions round at 28 digits


def fine(*values: Decimal) -> tuple[Decimal, ...]:
    return tuple(v.quantize(FINE) for v in values)


CONFIG = MarketMakerConfig(order_size=D(50), spread_fraction=D("0.5"))


@pytest.mark.parametrize(
    ("spread", "max_spread", "size", "expected"),
    [
        ("1", "3", "100", "44.44"),  # docs/design.md worked values
        ("2", "3", "200", "22.22"),
        ("1.5", "3", "100", "25.00"),
        ("0", "3", "100", "100.00"),  # at the mid: the whole size
        ("3", "3", "100", "0.00"),  # on the band edge: nothing
        ("4", "3", "100", "0.00"),  # outside
    ],
)
def test_order_score(spread: str, max_spread: str, size: str, expected: str) -> None:
    assert order_score(D(spread), D(max_spread), D(size)).quantize(CENT) == D(expected)


def test_order_score_is_exact_where_it_can_be() -> None:
    assert order_score(D("1.5"), D(3), D(100)) == D(25)


def test_negative_distance_is_rejected() -> None:
    with pytest.raises(ValueError, match="distance"):
        order_score(D(-1), D(3), D(100))


def order(token: Token, side: Side, price: str, size: str = "100") -> OrderIntent:
    return OrderIntent(token=token, side=side, price=D(price), size=D(size))


def test_order_sides_on_the_yes_book() -> None:
    mid, v = D("0.50"), D(3)
    one_cent, two_cents = D(400) / 9, D(100) / 9  # 100 shares at 1c and 2c from the mid
    cases = [
        (order(Token.YES, Side.BUY, "0.49"), (one_cent, D(0))),  # YES bid
        (order(Token.NO, Side.SELL, "0.52"), (two_cents, D(0))),  # NO ask = YES bid at 0.48
        (order(Token.YES, Side.SELL, "0.51"), (D(0), one_cent)),  # YES ask
        (order(Token.NO, Side.BUY, "0.48"), (D(0), two_cents)),  # NO bid = YES ask at 0.52
    ]
    for o, expected in cases:
        assert fine(*order_side_scores([o], mid, v)) == fine(*expected), o
    both = order_side_scores([o for o, _ in cases], mid, v)
    assert fine(*both) == fine(one_cent + two_cents, one_cent + two_cents)


def test_orders_below_the_reward_minimum_score_nothing() -> None:
    orders = [order(Token.YES, Side.BUY, "0.49", "49.99"), order(Token.NO, Side.BUY, "0.49", "50")]
    q_one, q_two = order_side_scores(orders, D("0.50"), D(3), min_size=D(50))
    assert q_one == 0
    assert q_two.quantize(CENT) == D("22.22")


def test_book_levels_inside_the_band() -> None:
    bids = [(D("0.49"), D(200)), (D("0.47"), D(1000)), (D("0.48"), D(10))]
    asks = [(D("0.51"), D(100)), (D("0.56"), D(5000))]
    q_one, q_two = book_side_scores(bids, asks, D("0.50"), D(3), min_size=D(20))
    # 0.49: 200 * (2/3)^2; 0.47 is on the band edge; the 10-share level is below the minimum.
    assert q_one.quantize(CENT) == D("88.89")
    assert q_two.quantize(CENT) == D("44.44")


@pytest.mark.parametrize(
    ("q_one", "q_two", "mid", "expected"),
    [
        ("90", "30", "0.50", "30"),  # balanced enough: the smaller side
        ("90", "10", "0.50", "30"),  # lopsided: a third of the larger side
        ("90", "0", "0.50", "30"),  # single-sided still earns a third in [0.10, 0.90]
        ("0", "90", "0.10", "30"),  # range bounds are inclusive
        ("90", "0", "0.90", "30"),
        ("90", "0", "0.09", "0"),  # outside the range only two-sided liquidity counts
        ("90", "10", "0.95", "10"),
    ],
)
def test_q_min_branches(q_one: str, q_two: str, mid: str, expected: str) -> None:
    assert q_min(D(q_one), D(q_two), D(mid)) == D(expected)


def test_estimated_daily_earnings() -> None:
    assert estimated_daily_earnings(D(120), D(50), D(150)) == D(30)
    assert estimated_daily_earnings(D(120), D(50), D(0)) == D(120)
    assert estimated_daily_earnings(D(120), D(0), D(0)) == 0


def market(condition_id: str, rate: str = "100", spread: str = "3") -> MarketInfo:
    return MarketInfo(
        condition_id=condition_id,
        yes_token_id=f"{condition_id}-y",
        no_token_id=f"{condition_id}-n",
        tick_size=CENT,
        min_order_size=D(5),
        rewards_daily_rate=D(rate),
        rewards_max_spread_cents=D(spread),
    )


def candidate(
    condition_id: str,
    rate: str = "100",
    bids: tuple[tuple[str, str], ...] = (),
    asks: tuple[tuple[str, str], ...] = (),
    mid: str = "0.50",
) -> RewardCandidate:
    return RewardCandidate(
        market=market(condition_id, rate),
        yes_mid=D(mid),
        bids=tuple((D(p), D(s)) for p, s in bids),
        asks=tuple((D(p), D(s)) for p, s in asks),
    )


def test_estimate_of_one_market() -> None:
    # Our bids: YES 0.48 and NO 0.48 (YES ask 0.52), 50 each, 2c out: 50/9 per side.
    # Competitors: 100 at 1c on each side: 400/9 per side.
    est = estimate_market(candidate("b", bids=(("0.49", "100"),), asks=(("0.51", "100"),)), CONFIG)
    assert [(q.token, q.price, q.size) for q in est.quotes] == [
        (Token.YES, D("0.48"), D(50)),
        (Token.NO, D("0.48"), D(50)),
    ]
    assert fine(est.q_ours) == fine(D(50) / 9)
    assert fine(est.q_competitors) == fine(D(400) / 9)
    assert est.daily_earnings.quantize(CENT) == D("11.11")  # 100 * 50 / 450
    assert est.capital == D("48.00")
    assert est.earnings_per_usdc.quantize(D("0.0001")) == D("0.2315")


def test_rank_markets_by_earnings_per_usdc_with_exclusions() -> None:
    candidates = [
        candidate("b", bids=(("0.49", "100"),), asks=(("0.51", "100"),)),  # 11.11 / 48
        candidate("a"),  # no competition: the whole 100 / 48
        # One-sided competition 400/9 counts a third: 200 * (50/9) / (50/9 + 400/27) = 54.55
        candidate("e", rate="200", bids=(("0.49", "100"),)),
        candidate("zero", rate="0"),  # earns nothing: left out
        candidate("busy"),  # in liquidation: excluded
        candidate("wide", mid="0.50").model_copy(update={"market": market("wide", spread="0")}),
    ]
    ranked = rank_markets(candidates, CONFIG, exclude={"busy"})
    assert [r.market.condition_id for r in ranked] == ["a", "e", "b"]
    assert ranked[1].daily_earnings.quantize(CENT) == D("54.55")
    assert rank_markets(candidates, CONFIG, exclude=set(), max_capital=D(47)) == []


def test_ties_rank_by_condition_id() -> None:
    ranked = rank_markets([candidate("y"), candidate("x")], CONFIG, exclude=set())
    assert [r.market.condition_id for r in ranked] == ["x", "y"]


@given(
    spread=st.integers(0, 100).map(lambda n: D(n) / 10),
    max_spread=st.integers(1, 80).map(lambda n: D(n) / 10),
    size=st.integers(1, 100_000).map(lambda n: D(n) / 100),
)
def test_score_bounded_by_size_and_falls_with_distance(
    spread: Decimal, max_spread: Decimal, size: Decimal
) -> None:
    score = order_score(spread, max_spread, size)
    assert 0 <= score <= size
    assert order_score(spread + D("0.1"), max_spread, size) <= score


@given(
    q_one=st.integers(0, 10_000).map(D),
    q_two=st.integers(0, 10_000).map(D),
    mid=st.integers(1, 99).map(lambda n: D(n) / 100),
)
def test_q_min_between_the_smaller_side_and_the_larger(
    q_one: Decimal, q_two: Decimal, mid: Decimal
) -> None:
    value = q_min(q_one, q_two, mid)
    assert min(q_one, q_two) <= value <= max(q_one, q_two)
    assert q_min(q_two, q_one, mid) == value


def test_market_whose_minimum_order_is_above_the_position_limit_is_never_ranked() -> None:
    # Any quote there would be at least 5 shares, past a limit of 4: neither side can be quoted.
    small = MarketMakerConfig(order_size=D(1), position_limit=D(4))
    assert rank_markets([candidate("a")], small, exclude=set()) == []
    fits = small.model_copy(update={"position_limit": D(5)})
    assert [r.market.condition_id for r in rank_markets([candidate("a")], fits, set())] == ["a"]


def test_adverse_selection_by_hand() -> None:
    """Bids 1 c and 2 c below their mids against jumps of 2.5 c (half) and 4 c (half)."""
    from dualmm.domain.adverse import daily_adverse_selection, expected_shortfall_cents

    jumps = ((D("2.5"), D("0.5")), (D(4), D("0.5")))
    assert expected_shortfall_cents(D(1), jumps) == D("2.25")  # (1.5 + 3) / 2
    assert expected_shortfall_cents(D(5), jumps) == 0  # deeper than every jump
    quotes = [
        order(Token.YES, Side.BUY, "0.49", "100"),  # 1 c below 0.50
        order(Token.NO, Side.BUY, "0.48", "100"),  # 2 c below 0.50
    ]
    # 2 jumps a day, half each way: (100 x 2.25 c + 100 x 1.25 c) / 2 x 2 = 3.50 USDC
    assert daily_adverse_selection(quotes, D("0.50"), D(2), jumps) == D("3.5")


def test_ranking_weighs_adverse_selection_when_asked() -> None:
    """Small pools, no competitor: the narrow band (bids 1 c out, 49 USDC) earns 2 a day and
    ranks above the wide band (2 c out, 48 USDC, 1.95 a day) on rewards per USDC; the prior's
    jumps cost the narrow bids 0.91 a day and the wide ones 0.55, so weighed it ranks below."""
    narrow = RewardCandidate(market=market("0xa", spread="2", rate="2"), yes_mid=D("0.50"))
    wide = RewardCandidate(market=market("0xb", spread="4", rate="1.95"), yes_mid=D("0.50"))
    plain = rank_markets([narrow, wide], CONFIG, set())
    weighed_config = CONFIG.model_copy(update={"adverse_selection_weight": D(1)})
    weighed = rank_markets([narrow, wide], weighed_config, set())
    assert [e.market.condition_id for e in plain] == ["0xa", "0xb"]
    assert [e.market.condition_id for e in weighed] == ["0xb", "0xa"]
    assert all(e.adverse_selection == 0 for e in plain)
    assert all(e.net_per_usdc < e.earnings_per_usdc for e in weighed)


def test_a_market_that_earns_less_than_it_loses_is_not_ranked() -> None:
    tiny = RewardCandidate(market=market("0xa", spread="2", rate="0.1"), yes_mid=D("0.50"))
    weighed_config = CONFIG.model_copy(update={"adverse_selection_weight": D(1)})
    assert rank_markets([tiny], CONFIG, set()) != []
    assert rank_markets([tiny], weighed_config, set()) == []
