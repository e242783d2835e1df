"""What a liquidation watches between checks (move_watch) and when the market calls for a
check at once (reason_to_recheck): pure, no venue."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from dualmm.config import LiquidationConfig
from dualmm.domain.liquidation import LiquidationState, RestingOrder, move_watch
from dualmm.domain.market_moves import MoveWatch, reason_to_recheck
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import MarketSnapshot, Stage, Token

D = Decimal
AT = datetime(2026, 1, 21, 12, tzinfo=UTC)
TICK = D("0.01")
STATE = LiquidationState.start("0xc", AT)
# 20 YES bought at 0.55; stop-loss at -1: crossed below a midpoint of 0.50.
POSITION = PositionTracker.opening(Token.YES, D(20), D("0.55"))
CONFIG = LiquidationConfig(stop_loss_threshold=D(-1))
# Our PASSIVE ask at 0.60 is the best ask: the others' touch is 0.59 / 0.61.
ORDER = RestingOrder(order_id="o1", token=Token.YES, price=D("0.60"), size=D(20))


def snapshot(mid: str) -> MarketSnapshot:
    return MarketSnapshot(
        condition_id="0xc",
        tick_size=TICK,
        min_order_size=D(5),
        midpoint=D(mid),
        best_bid=None,
        best_ask=None,
        at=AT,
    )


def watch(state: LiquidationState = STATE, mid: str = "0.60") -> MoveWatch | None:
    return move_watch(state, POSITION, ORDER, snapshot(mid), CONFIG)


def book(bid: str, ask: str) -> dict[str, list[tuple[Decimal, Decimal]]]:
    """The others' touch, with our ask at 0.60 in the book too."""
    asks = sorted([(D(ask), D(50)), (D("0.60"), D(20))])
    return {"bids": [(D(bid), D(50))], "asks": asks}


def test_a_move_of_a_tick_off_the_priced_midpoint_calls_for_a_check() -> None:
    priced = watch()
    assert priced is not None
    # Our ask at 0.60 is the best ask, but the others' midpoint is still 0.60.
    assert reason_to_recheck(priced, **book("0.59", "0.61"), tick=TICK) is None
    # Half a tick (0.595) leaves the PASSIVE price where it is; a tick moves it.
    assert reason_to_recheck(priced, **book("0.58", "0.61"), tick=TICK) is None
    reason = reason_to_recheck(priced, **book("0.58", "0.60"), tick=TICK)
    assert reason == "midpoint 0.60 -> 0.59"


def test_a_tick_size_change_calls_for_a_check() -> None:
    priced = watch()
    assert priced is not None
    assert reason_to_recheck(priced, **book("0.59", "0.61"), tick=D("0.001")) is not None


def test_the_stop_loss_is_evaluated_on_every_move() -> None:
    # Held at MARKET already: the price no longer follows the midpoint and the stop-loss
    # cannot escalate further, so nothing is watched.
    assert watch(STATE.model_copy(update={"stage": Stage.MARKET})) is None
    # AGGRESSIVE (timeout): only the stop-loss is watched.
    aggressive = watch(STATE.model_copy(update={"stage": Stage.AGGRESSIVE}))
    assert aggressive is not None and not aggressive.reprice
    assert reason_to_recheck(aggressive, **book("0.55", "0.57"), tick=TICK) is None
    reason = reason_to_recheck(aggressive, **book("0.48", "0.50"), tick=TICK)
    assert reason == "stop-loss crossed at midpoint 0.49"


def test_a_stop_loss_the_last_check_saw_crossed_is_not_watched_again() -> None:
    # A check that held its stage past a crossing (e.g. waiting for trades to settle) must
    # not be woken again by the same crossing at every event.
    held = watch(STATE.model_copy(update={"stage": Stage.AGGRESSIVE}), mid="0.45")
    assert held is None
    passive = watch(mid="0.45")
    assert passive is not None and passive.stop_loss is None


def test_an_empty_book_calls_for_nothing() -> None:
    priced = watch()
    assert priced is not None
    assert reason_to_recheck(priced, bids=[], asks=[(D("0.60"), D(20))], tick=TICK) is None
