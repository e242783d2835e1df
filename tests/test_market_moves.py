"""When a change of the market calls for the quotes at once (dualmm.domain.market_moves)."""

from __future__ import annotations

from decimal import Decimal

from dualmm.domain.market_moves import (
    MarketResolution,
    TradePrint,
    reason_to_leave,
    reason_to_requote,
    trade_reaches,
)
from dualmm.domain.types import MarketInfo, OrderIntent, Side, Token

D = Decimal
YES_BID = OrderIntent(token=Token.YES, side=Side.BUY, price=D("0.48"), size=D(10))
NO_BID = OrderIntent(token=Token.NO, side=Side.BUY, price=D("0.48"), size=D(10))  # YES ask 0.52


def reason(bids: list[tuple[str, str]], asks: list[tuple[str, str]], **kw: object) -> str | None:
    args: dict[str, object] = {
        "tick": D("0.01"),
        "quoted_tick": D("0.01"),
        "quoted_mid": D("0.50"),
        "threshold": D("0.005"),
        "quotes": [YES_BID, NO_BID],
        **kw,
    }
    return reason_to_requote(
        bids=[(D(p), D(s)) for p, s in bids],
        asks=[(D(p), D(s)) for p, s in asks],
        **args,  # type: ignore[arg-type]
    )


def test_a_book_that_moved_less_than_the_threshold_leaves_the_quotes() -> None:
    assert reason([("0.49", "50"), ("0.48", "10")], [("0.51", "50"), ("0.52", "10")]) is None


def test_a_midpoint_moved_by_the_threshold_calls_for_new_prices() -> None:
    said = reason([("0.54", "50"), ("0.48", "10")], [("0.56", "50"), ("0.52", "10")])
    assert said is not None and "0.50 -> 0.55" in said


def test_our_own_quotes_do_not_count_as_the_market() -> None:
    """Our 10 at 0.48 and 0.52 are the only other levels: removing them, nothing moved."""
    assert reason([("0.49", "5"), ("0.48", "10")], [("0.51", "5"), ("0.52", "10")]) is None
    # With nobody else left, the round must look (its REST view decides).
    assert reason([("0.48", "10")], [("0.52", "10")]) == "nobody else quotes"


def test_a_tick_size_change_calls_for_new_prices() -> None:
    said = reason([("0.49", "50")], [("0.51", "50")], tick=D("0.001"))
    assert said == "tick size 0.01 -> 0.001"


def test_a_trade_at_or_through_our_price_calls_for_the_fills() -> None:
    assert trade_reaches(TradePrint(token=Token.YES, price=D("0.48")), YES_BID)
    assert trade_reaches(TradePrint(token=Token.YES, price=D("0.47")), YES_BID)
    assert not trade_reaches(TradePrint(token=Token.YES, price=D("0.49")), YES_BID)
    # A NO bid at 0.48 is a YES ask at 0.52: a YES trade at 0.52 or above reaches it.
    assert trade_reaches(TradePrint(token=Token.YES, price=D("0.52")), NO_BID)
    assert not trade_reaches(TradePrint(token=Token.YES, price=D("0.51")), NO_BID)
    said = reason(
        [("0.49", "50")], [("0.51", "50")], trades=[TradePrint(token=Token.NO, price=D("0.48"))]
    )
    assert said is not None and said.startswith("trade at 0.48 NO")


def test_a_resolved_market_is_left_at_once_and_an_open_one_is_not() -> None:
    market = MarketInfo(
        condition_id="0xr",
        yes_token_id="1",
        no_token_id="2",
        tick_size=D("0.01"),
        min_order_size=D(5),
    )
    assert reason_to_leave(market, None) is None
    won_no = MarketResolution(winning_asset_id="2", winning_outcome="No")
    assert reason_to_leave(market, won_no) == "market resolved: No won (the NO token)"
    odd = MarketResolution(winning_asset_id="9", winning_outcome="Other")
    assert reason_to_leave(market, odd) == "market resolved: Other won"
