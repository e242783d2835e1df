"""Active-market quoter: band, tick rounding direction, withheld side at the limit, sizes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualmm.config import MarketMakerConfig
from dualmm.domain.position import PositionTracker
from dualmm.domain.prices import VALID_TICKS, is_on_tick
from dualmm.domain.quoting import (
    bid_price,
    desired_quotes,
    keeps_quote,
    leave_reason,
    needs_requote,
    plan_quotes,
    position_limit_reached,
    quote_size,
)
from dualmm.domain.types import Fill, MarketInfo, OrderIntent, Side, Token

D = Decimal
FLAT = PositionTracker()


def market(
    tick: str = "0.01", spread: str = "3", min_size: str = "5", reward_min: str = "0"
) -> MarketInfo:
    return MarketInfo(
        condition_id="0xc",
        yes_token_id="y",
        no_token_id="n",
        tick_size=D(tick),
        min_order_size=D(min_size),
        rewards_daily_rate=D(100),
        rewards_max_spread_cents=D(spread),
        rewards_min_size=D(reward_min),
    )


def config(
    fraction: str = "0.5", size: str = "50", limit: str = "100", threshold: str = "0.005"
) -> MarketMakerConfig:
    return MarketMakerConfig(
        spread_fraction=D(fraction),
        order_size=D(size),
        position_limit=D(limit),
        requote_threshold=D(threshold),
    )


def prices(quotes: tuple[OrderIntent, ...]) -> dict[Token, Decimal]:
    assert all(q.side is Side.BUY for q in quotes)
    return {q.token: q.price for q in quotes}


@pytest.mark.parametrize(
    ("label", "tick", "spread", "fraction", "mid", "yes", "no"),
    [
        ("centred: 0.50 - 0.015 rounds down", "0.01", "3", "0.5", "0.50", "0.48", "0.48"),
        # 0.488 and 0.482 would round to 0.49/0.48 to nearest; a bid rounds away from the mid.
        ("rounds away from the mid", "0.01", "3", "0.5", "0.503", "0.48", "0.48"),
        ("fine tick", "0.001", "3.5", "0.5", "0.50", "0.482", "0.482"),
        ("half-cent tick", "0.005", "3.5", "0.5", "0.50", "0.480", "0.480"),
        ("quarter-cent tick", "0.0025", "3.5", "0.5", "0.5013", "0.4825", "0.4800"),
        # 0.505 - 0.03 = 0.475 -> 0.47 is 3.5c away (outside a 3c band): pulled in to 0.48.
        ("pulled back inside the band", "0.01", "3", "1", "0.505", "0.48", "0.47"),
        # Exactly v cents away scores nothing, so the band is exclusive.
        ("band edge is outside", "0.01", "3", "1", "0.50", "0.48", "0.48"),
        # 0.02 - 0.015 = 0.005 -> 0.00, clamped up to the tick (still below the mid).
        ("clamped to the tick", "0.01", "3", "0.5", "0.02", "0.01", "0.96"),
        # No 0.1-tick price lies inside a 3c band below 0.55/0.45: keep the rounded bid.
        ("tick too coarse for the band", "0.1", "3", "0.5", "0.55", "0.5", "0.4"),
    ],
)
def test_quote_prices(
    label: str, tick: str, spread: str, fraction: str, mid: str, yes: str, no: str
) -> None:
    quotes = desired_quotes(market(tick, spread), D(mid), FLAT, config(fraction))
    assert prices(quotes) == {Token.YES: D(yes), Token.NO: D(no)}
    assert [q.token for q in quotes] == [Token.YES, Token.NO]


def test_side_without_a_passive_price_is_withheld() -> None:
    # A YES bid cannot go below the 0.01 tick, and 0.01 is above a 0.005 midpoint.
    quotes = desired_quotes(market(), D("0.005"), FLAT, config())
    assert prices(quotes) == {Token.NO: D("0.98")}


def test_no_reward_band_no_quotes() -> None:
    assert desired_quotes(market(spread="0"), D("0.5"), FLAT, config()) == ()


def test_midpoint_outside_the_unit_interval_is_rejected() -> None:
    with pytest.raises(ValueError, match="outside"):
        desired_quotes(market(), D(1), FLAT, config())


@pytest.mark.parametrize(
    ("size", "reward_min", "min_order", "expected"),
    [
        ("50", "0", "5", "50"),
        ("50", "100", "5", "100"),
        ("1", "0", "5", "5"),
        ("10.567", "0", "5", "10.56"),
        # A fractional minimum rounds up: rounding it down would leave the order unscored.
        ("20", "20.001", "5", "20.01"),
    ],
)
def test_sizes(size: str, reward_min: str, min_order: str, expected: str) -> None:
    m = market(min_size=min_order, reward_min=reward_min)
    c = config(size=size, limit="1000")
    assert quote_size(m, c) == D(expected)
    assert {q.size for q in desired_quotes(m, D("0.5"), FLAT, c)} == {D(expected)}


def position_with_net(net: int) -> PositionTracker:
    token = Token.YES if net > 0 else Token.NO
    return PositionTracker.opening(token, D(abs(net)), D("0.5")) if net else FLAT


@pytest.mark.parametrize(
    ("net", "size", "quoted"),
    [
        (0, "50", {Token.YES: 50, Token.NO: 50}),
        (50, "50", {Token.YES: 50, Token.NO: 50}),  # a YES fill lands exactly on the limit
        (60, "50", {Token.YES: 40, Token.NO: 50}),  # sized down to the room: 100 reachable
        (-60, "50", {Token.YES: 50, Token.NO: 40}),
        (98, "50", {Token.NO: 50}),  # room 2 is below the minimum order 5
        (120, "50", {Token.NO: 50}),  # already past the limit: only the reducing side
        (-90, "200", {Token.YES: 190, Token.NO: 10}),
        (-120, "200", {Token.YES: 200}),  # BUY YES to +80 is within it; no room for NO
    ],
)
def test_a_side_is_sized_to_the_room_left_to_the_limit(
    net: int, size: str, quoted: dict[Token, int]
) -> None:
    quotes = desired_quotes(market(), D("0.5"), position_with_net(net), config(size=size))
    assert {q.token: q.size for q in quotes} == quoted


def test_a_quote_size_above_what_the_limit_leaves_still_reaches_the_limit() -> None:
    """The issue's case: minimum size 75 against a limit of 100 stopped at 75, quoting NO."""
    m = market(reward_min="75")
    c = config(size="75", limit="100")
    position = FLAT
    for _ in range(3):
        yes = next(q for q in desired_quotes(m, D("0.5"), position, c) if q.token is Token.YES)
        position = position.apply_fill(
            Fill(
                trade_id=f"t{position.yes_qty}",
                condition_id="c",
                token=Token.YES,
                side=Side.BUY,
                price=yes.price,
                size=yes.size,
                at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
        if position_limit_reached(position, c.position_limit, m.min_order_size):
            break
    assert position.yes_qty == 100


def test_a_partly_filled_quote_below_the_reward_minimum_is_replaced() -> None:
    m = market(reward_min="20")
    wanted = OrderIntent(token=Token.YES, side=Side.BUY, price=D("0.48"), size=D(50))
    assert keeps_quote(wanted, wanted, False, m)
    assert keeps_quote(wanted.model_copy(update={"size": D(20)}), wanted, False, m)
    assert not keeps_quote(wanted.model_copy(update={"size": D(19)}), wanted, False, m)
    # More left than the room to the limit allows: replaced by the smaller quote.
    assert not keeps_quote(wanted, wanted.model_copy(update={"size": D(30)}), False, m)
    assert not keeps_quote(wanted, None, False, m)
    assert not keeps_quote(wanted.model_copy(update={"price": D("0.47")}), wanted, True, m)


@pytest.mark.parametrize(
    ("mid", "tokens", "leave"),
    [
        ("0.50", {Token.YES}, False),  # one side scores a third in [0.10, 0.90]
        ("0.95", {Token.YES}, True),
        ("0.05", {Token.NO}, True),
        ("0.95", {Token.YES, Token.NO}, False),
        ("0.95", set(), False),
    ],
)
def test_one_side_quoted_outside_the_band_leaves_the_market(
    mid: str, tokens: set[Token], leave: bool
) -> None:
    quotes = tuple(
        OrderIntent(token=t, side=Side.BUY, price=D("0.01"), size=D(10)) for t in sorted(tokens)
    )
    assert (leave_reason(D(mid), quotes) is not None) is leave


def test_requote_decision() -> None:
    threshold = D("0.005")
    assert needs_requote(None, D("0.5"), threshold)
    assert not needs_requote(D("0.50"), D("0.504"), threshold)
    assert needs_requote(D("0.50"), D("0.505"), threshold)
    assert needs_requote(D("0.50"), D("0.495"), threshold)


def test_position_limit_reached() -> None:
    assert not position_limit_reached(position_with_net(99), D(100))
    assert position_limit_reached(position_with_net(100), D(100))
    assert position_limit_reached(position_with_net(-150), D(100))
    # 4 short of the limit with a minimum order of 5: no order can take it further.
    assert position_limit_reached(position_with_net(96), D(100), D(5))
    assert not position_limit_reached(position_with_net(95), D(100), D(5))
    assert not position_limit_reached(FLAT, D(100), D(5))


def test_a_plan_keeps_what_still_fits_and_places_only_the_missing_side() -> None:
    m, c = market(), config()
    first = plan_quotes(m, D("0.50"), FLAT, [], None, c)
    assert prices(first.place) == {Token.YES: D("0.48"), Token.NO: D("0.48")}
    assert first.quoted_mid == D("0.50") and not first.ends_round
    yes, no = first.place
    # Inside the threshold: both stay, nothing new, priced at the first midpoint still.
    calm = plan_quotes(m, D("0.503"), FLAT, [yes, no], D("0.50"), c)
    assert calm.keep == (True, True) and calm.place == () and calm.quoted_mid == D("0.50")
    # The NO bid filled: it is placed again, the YES bid stays.
    refill = plan_quotes(m, D("0.50"), FLAT, [yes], D("0.50"), c)
    assert refill.keep == (True,) and [q.token for q in refill.place] == [Token.NO]
    # Past the threshold: both re-priced (cancelled, then placed at the new midpoint).
    moved = plan_quotes(m, D("0.52"), FLAT, [yes, no], D("0.50"), c)
    assert moved.split([yes, no]) == ([], [yes, no])
    assert prices(moved.place) == {Token.YES: D("0.50"), Token.NO: D("0.46")}
    assert moved.quoted_mid == D("0.52")


def test_a_plan_hands_over_at_the_limit_and_leaves_a_one_sided_market_out_of_band() -> None:
    m, c = market(), config()
    quotes = list(plan_quotes(m, D("0.50"), FLAT, [], None, c).place)
    full = plan_quotes(m, D("0.50"), position_with_net(100), quotes, D("0.50"), c)
    assert full.hand_over and full.ends_round and full.keep == (False, False)
    assert full.place == ()
    # At 0.995 the NO bid has no price below its midpoint: a YES bid alone scores nothing.
    leaving = plan_quotes(m, D("0.995"), FLAT, quotes, D("0.50"), c)
    assert leaving.leave_reason is not None and leaving.place == () and not leaving.hand_over
    assert leaving.keep == (False, False) and leaving.quoted_mid == D("0.995")


@given(
    tick=st.sampled_from(sorted(VALID_TICKS)),
    mid=st.integers(1, 9999).map(lambda n: D(n) / 10_000),
    spread=st.integers(1, 80).map(lambda n: D(n) / 10),
    fraction=st.integers(1, 100).map(lambda n: D(n) / 100),
)
def test_bid_price_properties(
    tick: Decimal, mid: Decimal, spread: Decimal, fraction: Decimal
) -> None:
    band = spread / 100
    offset = fraction * band
    price = bid_price(mid, offset, band, tick)
    if price is None:
        assert tick >= mid  # only when even the lowest price is not below the mid
        return
    assert is_on_tick(price, tick)
    assert tick <= price <= 1 - tick
    assert price < mid
    lowest_inside = next(
        (p for p in (tick * k for k in range(1, int(1 / tick))) if mid - band < p < mid), None
    )
    if lowest_inside is not None:
        assert mid - price < band  # inside the band whenever the tick allows
    if price > mid - offset:
        # Closer than intended only when clamped to the tick or pulled into the band.
        assert price in (tick, lowest_inside)


def bought(position: PositionTracker, token: Token, qty: int) -> PositionTracker:
    return position.apply_fill(
        Fill(
            trade_id=f"{token}{position.qty(token)}",
            condition_id="c",
            token=token,
            side=Side.BUY,
            price=D("0.48"),
            size=D(qty),
            at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


@pytest.mark.parametrize(
    ("yes", "no", "merge_at", "hands_over"),
    [
        (49, 49, "50", False),
        (50, 50, "50", True),  # flat, 50 pairs: the liquidation merges them
        (80, 50, "50", True),  # 50 pairs and 30 YES of exposure
        (80, 49, "50", False),
        (500, 500, "0", False),  # 0: pairs are kept until the round ends
    ],
)
def test_a_plan_hands_over_once_the_pairs_held_reach_merge_pairs_at(
    yes: int, no: int, merge_at: str, hands_over: bool
) -> None:
    position = bought(bought(FLAT, Token.YES, yes), Token.NO, no)
    c = config().model_copy(update={"merge_pairs_at": D(merge_at)})
    plan = plan_quotes(market(), D("0.50"), position, [], D("0.50"), c)
    assert plan.hand_over is hands_over
    assert (plan.place == ()) is hands_over
