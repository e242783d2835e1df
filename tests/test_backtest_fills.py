"""Fills as the venue makes them: queue position, trade flow, latency, depth, fees, markouts.

Every number below is worked out by hand in the comment beside it.
"""

from __future__ import annotations

from decimal import Decimal

from backtest_cases import market, scenario_input

from dualmm.backtest.markets import PathMarket, TradeTape
from dualmm.domain.fees import Fees, taker_fee
from dualmm.domain.queue import (
    QueueSpot,
    cancel_share_ahead,
    join,
    on_level,
    on_trade_at_price,
)

D = Decimal


def test_a_bid_behind_100_fills_20_from_trades_of_60_and_60_at_its_price() -> None:
    spot = join(D(100))
    filled, spot = on_trade_at_price(spot, D(60), left=D(50))
    assert filled == 0 and spot.ahead == D(40)  # the first 60 go to the 100 ahead
    filled, spot = on_trade_at_price(spot, D(60), left=D(50))
    assert filled == D(20) and spot.ahead == 0  # 40 more ahead, then 20 reach us
    filled, spot = on_trade_at_price(spot, D(100), left=D(30))
    assert filled == D(30)  # at the front: a trade larger than what is left fills the rest


def test_conservative_cancels_are_behind_us_until_the_level_is_smaller_than_our_queue() -> None:
    spot = on_level(join(D(100)), D(200), "conservative")  # 100 joined behind us
    assert spot == QueueSpot(ahead=D(100), level=D(200))
    spot = on_level(spot, D(150), "conservative")  # 50 cancelled: all from behind
    assert spot.ahead == D(100)
    spot = on_level(spot, D(60), "conservative")  # 90 gone, only 50 were behind: 40 ahead
    assert spot == QueueSpot(ahead=D(60), level=D(60))


def test_a_cancel_of_50_ahead_moves_a_probabilistic_queue_up_by_the_models_share() -> None:
    # just joined: nothing behind us, so every cancel is ahead
    assert on_level(join(D(100)), D(50), "probabilistic").ahead == D(50)
    # 100 ahead, 100 behind: f(x) = x^3 gives 1e6 / (1e6 + 1e6) = 1/2 of the cancel ahead
    spot = QueueSpot(ahead=D(100), level=D(200))
    assert cancel_share_ahead(D(100), D(100)) == D("0.5")
    assert on_level(spot, D(150), "probabilistic").ahead == D(75)
    # 100 ahead, 50 behind: 1e6 / (1e6 + 125e3) = 8/9 ahead; a cancel of 45 moves us up 40
    spot = QueueSpot(ahead=D(100), level=D(150))
    assert on_level(spot, D(105), "probabilistic").ahead == D(60)
    # the conservative model keeps the same queue where the level holds that much behind
    assert on_level(spot, D(105), "conservative").ahead == D(100)


def test_a_trade_through_the_price_fills_the_rest() -> None:
    # a path market whose YES bid of ours at 0.48 sits behind nobody; the touch then falls
    # through it (mid 0.465: ask 0.47 < 0.48) and the rest of the order fills at 0.48
    data = scenario_input(market("aa", [[0, "0.50"], [60, "0.50"], [120, "0.465"]]))
    path = data.markets[0]
    assert isinstance(path, PathMarket)
    bid = _order("YES", "0.48", 50)
    spot = path.join(0, bid)
    fills, spot = path.quote_fills(bid, spot, 0, 60, "conservative")
    assert fills == []  # the touch never reached the bid
    fills, _ = path.quote_fills(bid, spot, 60, 120, "conservative")
    assert fills == [(120, D(50))]


def test_reaching_the_price_without_trades_is_no_fill() -> None:
    # mid 0.47: the ask touch is 0.48, at our bid, not through it; no trade printed
    data = scenario_input(market("aa", [[0, "0.50"], [60, "0.47"]]))
    path = data.markets[0]
    assert isinstance(path, PathMarket)
    bid = _order("YES", "0.48", 50)
    fills, _ = path.quote_fills(bid, path.join(0, bid), 0, 60, "conservative")
    assert fills == []


def test_recorded_trades_fill_through_the_queue_at_the_price() -> None:
    # competition: 100 shares 2 cents under a 0.50 midpoint (0.48), where our bid joins
    data = scenario_input(market("aa", [[0, "0.50"]], competition=[["2", "100"]]))
    path = data.markets[0]
    assert isinstance(path, PathMarket)
    path.tape = TradeTape.recorded(
        [(10, "SELL", D("0.48"), D(60)), (20, "SELL", D("0.48"), D(60)), (30, "BUY", None, D(999))]
    )
    bid = _order("YES", "0.48", 50)
    spot = path.join(0, bid)
    assert spot.ahead == D(100)
    fills, spot = path.quote_fills(bid, spot, 0, 60, "conservative")
    assert fills == [(20, D(20))]  # the BUY hits the asks, not our bid


def test_a_market_order_walks_the_better_levels_first() -> None:
    # the touch at 0.49 holds DEFAULT_TOUCH_SIZE (100) and the competition 1 cent out 100
    # more (better than our 0.48); 2 cents out, 100 at 0.48, ahead of our bid
    data = scenario_input(market("aa", [[0, "0.50"]], competition=[["1", "100"], ["2", "100"]]))
    path = data.markets[0]
    assert isinstance(path, PathMarket)
    assert path.touch_size == D(100)
    path.tape = TradeTape.recorded([(5, "SELL", None, D(250)), (6, "SELL", None, D(280))])
    bid = _order("YES", "0.48", 50)
    fills, spot = path.quote_fills(bid, path.join(0, bid), 0, 60, "conservative")
    # 250: the 200 at 0.49, then 50 of the 100 ahead at 0.48; 280: the 200 at 0.49 (the book
    # stands again), the 50 left ahead, then 30 of ours
    assert fills == [(6, D(30))]
    assert spot.ahead == 0


def test_taker_fees_follow_the_documented_schedule_rounded_once() -> None:
    # fee = C x rate x p x (1 - p), floored to 5 decimals: 100 x 0.04 x 0.48 x 0.52 = 0.9984
    assert taker_fee(D("0.48"), D(100), D("0.04"), D(1)) == D("0.99840")
    # 3 x 0.07 x 0.33 x 0.67 = 0.046431 -> 0.04643
    assert taker_fee(D("0.33"), D(3), D("0.07"), D(1)) == D("0.04643")
    fees = Fees()
    assert fees.rate_for("politics") == D("0.04")
    assert fees.rate_for("geopolitics") == 0
    assert fees.rate_for("") == D("0.05")  # no category: the general rate
    assert fees.for_category("crypto").taker(D("0.5"), D(10)) == D("0.17500")
    assert Fees(rate=D(0)).for_category("crypto").taker(D("0.5"), D(10)) == 0


def _order(token: str, price: str, size: int):  # type: ignore[no-untyped-def]
    from dualmm.domain.types import OrderIntent, Side, Token

    return OrderIntent(token=Token(token), side=Side.BUY, price=D(price), size=D(size))
