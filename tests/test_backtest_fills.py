"""Fills as the venue makes them: queue position, trade flow, latency, depth, fees, markouts.

Every number below is worked out by hand in the comment beside it.
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest
from backtest_cases import market, scenario_input

from dualmm.backtest.engine import run_mode
from dualmm.backtest.flow import FlowParams, repricings, synthetic_flow
from dualmm.backtest.inputs import InputError, RewardParams, from_recorded
from dualmm.backtest.markets import PathMarket, TradeTape
from dualmm.backtest.markouts import Markouts
from dualmm.config import OrchestratorConfig
from dualmm.domain.fees import Fees, taker_fee
from dualmm.domain.queue import (
    QueueSpot,
    cancel_share_ahead,
    join,
    on_level,
    on_trade_at_price,
)
from dualmm.domain.types import OrderIntent, Side, Token

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


@pytest.mark.parametrize(("limit", "filled"), [(None, 50), ("0.49", 0), ("0.48", 50)])
def test_a_market_order_walks_the_book_only_down_to_its_limit(
    limit: str | None, filled: int
) -> None:
    # mid 0.50: the bids are 200 at 0.49 (the touch's 100 and a maker's 100) and 200 at 0.48.
    # Our 50 at 0.48 join behind those 200. A taker sells 1000 at 30 s: without a limit 200 go
    # to 0.49, 200 to the queue ahead of us, 50 to us; limited to 0.49 (an uninformed taker at
    # the touch) it never reaches 0.48; limited to 0.48 it does.
    data = scenario_input(
        market("aa", [[0, "0.50"], [3600, "0.50"]], competition=[["1", "100"], ["2", "200"]])
    )
    path = data.markets[0]
    path.tape = TradeTape(
        times=[30],
        sells=[True],
        prices=[None],
        sizes=[D(1000)],
        limits=[None if limit is None else D(limit)],
    )
    bid = _order("YES", "0.48", 50)
    spot = path.join(0, bid)
    assert spot.ahead == D(200)
    fills, _ = path.quote_fills(bid, spot, 0, 60, "conservative")
    assert sum((size for _, size in fills), D(0)) == filled


def _order(token: str, price: str, size: int) -> OrderIntent:
    return OrderIntent(token=Token(token), side=Side.BUY, price=D(price), size=D(size))


def test_markouts_of_a_crafted_path_by_hand() -> None:
    # mid 0.50 until 60 s, 0.47 from 60 s, 0.44 from 300 s, 0.52 from 1800 s
    data = scenario_input(
        market("aa", [[0, "0.50"], [60, "0.47"], [300, "0.44"], [1800, "0.52"], [3600, "0.52"]])
    )
    path = data.markets[0]
    marks = Markouts()
    # a YES bid filled at 0.48 at 0 s: 1 min on the mid is 0.47 (-1 c), 5 min 0.44 (-4 c),
    # 30 and 60 min 0.52 (+4 c)
    marks.add("quoting", path, 0, Token.YES, Side.BUY, D("0.48"), D(50))
    # a NO bid filled at 0.48 (a YES ask at 0.52) at 0 s, 150 shares: the NO mid is 0.53
    # (+5 c), 0.56 (+8 c), 0.48 (0 c), 0.48 (0 c)
    marks.add("quoting", path, 0, Token.NO, Side.BUY, D("0.48"), D(150))
    # share-weighted: 1 min (50 x -1 + 150 x 5) / 200 = 3.5; 5 min (50 x -4 + 150 x 8) / 200
    # = 5; 30 and 60 min (50 x 4 + 0) / 200 = 1
    assert marks.cents("quoting") == {"1": D("3.5"), "5": D(5), "30": D(1), "60": D(1)}
    # a SELL of YES at 0.45 at 300 s: 1 and 5 min on 0.44 (+1 c), 30 min 0.52 (-7 c), and
    # 60 min: the path holds 0.52 (-7 c)
    marks.add("liquidation", path, 300, Token.YES, Side.SELL, D("0.45"), D(10))
    assert marks.cents("liquidation") == {"1": D(1), "5": D(1), "30": D(-7), "60": D(-7)}


def test_informed_flow_comes_before_the_repricing_in_its_direction() -> None:
    # a 10-cent fall over 2 minutes at 3600 s, after an hour at 0.50
    path = [[0, "0.50"], [3600, "0.45"], [3660, "0.40"], [7200, "0.40"]]
    data = scenario_input(market("aa", path))
    market_ = data.markets[0]
    assert repricings(market_) == [(3600, -1)]
    quiet = FlowParams(uninformed_per_minute=0)
    tape = synthetic_flow(7, 0, market_, 7200, quiet)
    assert tape.times and all(3000 < t <= 3900 for t in tape.times)  # lead 10 min, move 5
    assert all(tape.sells)  # sells before a fall
    assert synthetic_flow(7, 0, market_, 7200, quiet) == tape  # seeded


def test_a_minute_stale_quote_is_hit_by_a_repricing_in_the_synthetic_flow() -> None:
    # our YES bid rests 1.5 cents under a 0.50 midpoint; nothing but the informed flow before
    # the 10-cent fall at 3600 s trades. The bot looks once a minute (step 60): the sells in
    # the minutes before the fall reach the bid before the bot sees the move.
    path = [[0, "0.50"], [3600, "0.45"], [3660, "0.40"], [7200, "0.40"]]
    data = scenario_input(market("aa", path, competition=[]))
    market_ = data.markets[0]
    market_.flow = partial(synthetic_flow, 7, 0, market_, 7200, FlowParams(uninformed_per_minute=0))
    run = run_mode(data, OrchestratorConfig(), dual=True, step=60)
    assert run.markouts.shares["quoting"] > 0  # the stale bid bought from informed sellers
    # and its fills lost: 5 minutes on, the midpoint was more than 5 cents under the price
    after_5 = run.markouts.cents("quoting")["5"]
    assert after_5 is not None and after_5 < D(-5)
    # the same bid at the venue: the informed sells (the touch's 100 shares at 0.49 first)
    # fill it between the bot's looks, before the midpoint moves at 3600 s
    bid = _order("YES", "0.48", 50)
    fills, _ = market_.quote_fills(bid, market_.join(0, bid), 0, 3600, "conservative")
    assert fills and all(3000 < at < 3600 and at % 60 for at, _ in fills)


SAMPLE = Path(__file__).parent / "data" / "resolvedkit-sample"


def _sample_with_trades(folder: Path, rows: list[dict[str, object]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir()
    for name in ("markets.parquet", "books.parquet"):
        (folder / name).write_bytes((SAMPLE / name).read_bytes())
    pq.write_table(pa.Table.from_pylist(rows), folder / "trades.parquet")
    return folder


def test_recorded_trades_are_read_onto_the_books_clock(tmp_path: Path) -> None:
    plain = from_recorded(SAMPLE, RewardParams())
    first = plain.markets[0]
    origin_ms = int(plain.start.timestamp()) * 1000
    rows: list[dict[str, object]] = [
        {
            "market_id": first.condition_id,
            "ts": origin_ms + 65_000,
            "side": "SELL",
            "price": 0.5,
            "size": 12.5,
        },
        {
            "market_id": first.condition_id,
            "ts": origin_ms + 5_000,
            "side": "buy",
            "price": 0.51,
            "size": 3.0,
        },
    ]
    data = from_recorded(_sample_with_trades(tmp_path / "with", rows), RewardParams())
    tape = data.markets[0].trades()
    assert tape.times == [5, 65] and tape.sells == [False, True]
    assert tape.prices == [D("0.51"), D("0.5")] and tape.sizes == [D("3.0"), D("12.5")]
    assert data.markets[1].trades().times == []  # a market without trades
    assert plain.markets[0].trades().times == []  # no trades.parquet: no trades


def test_a_trade_of_no_side_is_bad_input(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"market_id": "0x1", "ts": 0, "side": "HOLD", "price": 0.5, "size": 1.0}
    ]
    with pytest.raises(InputError, match="neither BUY nor SELL"):
        from_recorded(_sample_with_trades(tmp_path / "bad", rows), RewardParams())


def test_recorded_books_without_trades_fill_only_what_moved_through_the_quote() -> None:
    from test_backtest_markets import book_market

    book = book_market()  # state 1 at 60 s: asks 30 at 0.47, 40 at 0.48, 500 at 0.49
    at_48 = _order("YES", "0.48", 100)
    fills, _ = book.quote_fills(at_48, book.join(0, at_48), 0, 60, "conservative")
    assert fills == [(60, D(30))]  # the 30 at 0.47 went through 0.48; the 40 at 0.48 did not
    at_49 = _order("YES", "0.49", 100)
    fills, _ = book.quote_fills(at_49, book.join(0, at_49), 0, 60, "conservative")
    assert fills == [(60, D(70))]  # 30 at 0.47 and 40 at 0.48, through 0.49


def test_a_cancelled_quote_stays_exposed_for_the_loop_interval_and_the_cancel_latency() -> None:
    # YES bid 0.48 at 0 s; at 60 s the midpoint is 0.53 and the bot cancels it, then places
    # YES 0.51. Market sells of 150 at 63 s and 70 s: the touch's 100 at 0.52 goes first,
    # 50 reach a bid of ours.
    path = [[0, "0.50"], [60, "0.53"], [3600, "0.53"]]
    sells = [(63, "SELL", None, D(150)), (70, "SELL", None, D(150))]

    def run(quote_interval_ms: int):  # type: ignore[no-untyped-def]
        data = scenario_input(market("aa", path, competition=[]))
        data.markets[0].tape = TradeTape.recorded(sells)
        config = OrchestratorConfig.model_validate(
            {"market_maker": {"quote_interval_ms": quote_interval_ms}}
        )
        return run_mode(data, config, dual=True, cancel_latency_ms=1_000)

    # 5 s + 1 s: the 0.48 bid still rests at 63 s (50 at 0.48); the 0.51 bid, placed after
    # the cancel (66 s), takes the 70 s sell (50 at 0.51): 100 YES, the limit, for 49.50
    (liquidation,) = run(5_000).liquidations
    assert (liquidation.opening.yes_qty, liquidation.opening.yes_cost) == (D(100), D("49.50"))
    # 1 s + 1 s: the 0.48 bid is gone at 62 s; the 0.51 bid takes the 63 s sell and is done
    quick = run(1_000)
    assert quick.liquidations == [] and quick.markouts.shares["quoting"] == D(50)


def test_the_probabilistic_queue_is_never_behind_the_conservative_one() -> None:
    import random

    rng = random.Random(16)
    for _ in range(200):
        conservative = probabilistic = join(D(rng.randint(0, 300)))
        for _ in range(20):
            level = D(rng.randint(0, 400))
            conservative = on_level(conservative, level, "conservative")
            probabilistic = on_level(probabilistic, level, "probabilistic")
            assert probabilistic.ahead <= conservative.ahead <= level
            if rng.random() < 0.3:
                size = D(rng.randint(1, 200))
                _, conservative = on_trade_at_price(conservative, size, D(50))
                _, probabilistic = on_trade_at_price(probabilistic, size, D(50))
