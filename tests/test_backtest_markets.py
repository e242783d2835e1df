"""Backtest markets: fills against a recorded book, the fill model on paths, taker fees."""

from __future__ import annotations

from decimal import Decimal

from backtest_cases import market, scenario_input

from dualmm.backtest.markets import BookMarket, PathMarket
from dualmm.domain.fees import Fees
from dualmm.domain.types import MarketInfo, OrderIntent, Side, Token

D = Decimal


def book_market() -> BookMarket:
    info = MarketInfo(
        condition_id="0xbook",
        yes_token_id="1",
        no_token_id="2",
        tick_size=D("0.01"),
        min_order_size=D(5),
    )
    # state 0: 0.48/0.52; state 1: the ask side came down through 0.48 (30 at 0.47, 40 at 0.48)
    return BookMarket(
        info=info,
        times=[0, 60],
        mids=[D("0.50"), D("0.455")],
        raw_bids=[([0.48, 0.47], [100.0, 200.0]), ([0.44, 0.43], [100.0, 100.0])],
        raw_asks=[([0.52, 0.53], [100.0, 200.0]), ([0.47, 0.48, 0.49], [30.0, 40.0, 500.0])],
    )


def test_a_resting_bid_fills_for_what_the_recorded_asks_at_or_below_it_hold() -> None:
    book = book_market()
    bid = OrderIntent(token=Token.YES, side=Side.BUY, price=D("0.48"), size=D(100))
    assert book.resting_fill(0, bid) == 0
    assert book.resting_fill(1, bid) == D(70)  # 30 at 0.47 + 40 at 0.48, not the 0.49s
    # a NO bid at 0.56 is a YES ask at 0.44: the recorded YES bid (0.44, 100) reaches it
    no_bid = OrderIntent(token=Token.NO, side=Side.BUY, price=D("0.56"), size=D(50))
    assert book.resting_fill(1, no_bid) == D(50)


def test_a_crossing_sell_walks_the_recorded_bids_and_pays_the_fee() -> None:
    book = book_market()
    sell = OrderIntent(token=Token.YES, side=Side.SELL, price=D("0.47"), size=D(250))
    fills = book.crossing_fills(0, sell)
    assert fills == [(D("0.48"), D(100)), (D("0.47"), D(150))]
    fees = Fees(rate=D("0.07"))
    # rate * p * (1 - p) per share, per level
    assert fees.taker(D("0.48"), D(100)) == D(100) * D("0.07") * D("0.48") * D("0.52")
    # a NO sell at 0.53 is a YES bid at 0.47: it walks the YES asks at or below 0.47
    no_sell = OrderIntent(token=Token.NO, side=Side.SELL, price=D("0.53"), size=D(10))
    assert book.crossing_fills(1, no_sell) == [(D("0.53"), D(10))]
    assert book.yes_touch(1) == (D("0.44"), D("0.47"))


def test_a_path_market_reads_the_reference_midpoint_of_the_fill_models_touch() -> None:
    data = scenario_input(market("aa", [[0, "0.503"]], competition=[["1", "100"]]))
    assert data.duration == 0 and data.cut(Decimal(1)).duration == 86_400  # paths hold on
    path = data.markets[0]
    assert isinstance(path, PathMarket)
    # the touch around 0.503 on a 0.01 tick: (0.498 down, 0.508 up) = 0.49 / 0.51; the bot
    # reads their middle, 0.50, as from the simulator's book
    assert path.yes_touch(0) == (D("0.49"), D("0.51"))
    assert path.mid(0) == D("0.50")
    assert path.competition(0) == (((D("0.49"), D(100)),), ((D("0.51"), D(100)),))
