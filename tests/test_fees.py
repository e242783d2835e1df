"""Taker fees (issue 8): `rate * (p(1-p))^exponent` per share of a crossing fill; the simulator
charges them at settlement, the adapter reads them off the trades, P&L includes them."""

from __future__ import annotations

from decimal import Decimal

from sim_helpers import START, connect, market_info, one_market_venue

from dualmm.domain.fees import taker_fee
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import Fill, Side, Token
from dualmm.exchange.base import PlaceOrder
from dualmm.sim.rules import VenueRules
from dualmm.sim.server import SimServer
from dualmm.sim.venue import SimVenue

D = Decimal
WALLET = "0x00000000000000000000000000000000000000dd"
FEES = VenueRules(fee_rate=0.25, fee_exponent=2.0)
INFO = market_info("0xfee", "701", "702")


def venue(rules: VenueRules = FEES) -> SimVenue:
    return one_market_venue(INFO, WALLET, "fee", rules)


def test_the_fee_formula() -> None:
    assert taker_fee(D("0.5"), D(100), D("0.25"), D(2)) == D("1.5625")
    assert taker_fee(D("0.9"), D(100), D("0.25"), D(2)) == D("0.2025")
    assert taker_fee(D("0.5"), D(100), D(0), D(2)) == 0


def test_the_taker_pays_at_settlement() -> None:
    sim = venue()
    sim.place(WALLET, "take", "701", Side.BUY, D("0.55"), D(100))  # crosses the 0.51 ask
    (taken,) = sim.trades(WALLET)
    assert taken.fee == taker_fee(D("0.51"), D(100), D("0.25"), D(2))
    assert sim.balances(WALLET).collateral == D(10000) - D(51) - taken.fee


def test_fee_free_markets_charge_nothing() -> None:
    sim = venue(VenueRules())
    sim.place(WALLET, "take", "701", Side.BUY, D("0.55"), D(100))
    assert sim.trades(WALLET)[0].fee == 0


def test_pnl_includes_fees() -> None:
    bought = Fill(
        trade_id="b",
        condition_id="0xfee",
        token=Token.YES,
        side=Side.BUY,
        price=D("0.50"),
        size=D(100),
        at=START,
        fee=D("1.5"),
    )
    sold = bought.model_copy(
        update={"trade_id": "s", "side": Side.SELL, "price": D("0.60"), "fee": D("1.44")}
    )
    position = PositionTracker().apply_fills([bought, sold])
    assert position.realized_pnl == D(10) - D("1.5") - D("1.44")


async def test_the_adapter_reads_the_fee_and_the_position_matches_the_venue() -> None:
    sim = venue()
    with SimServer(sim) as server:
        exchange = await connect(server)
        await exchange.place_order(
            PlaceOrder(
                key="take",
                market=INFO,
                token_id="701",
                side=Side.BUY,
                price=D("0.55"),
                size=D(100),
            )
        )
        page = await exchange.fills(INFO)
        (fill,) = page.fills
        assert fill.fee == taker_fee(D("0.51"), D(100), D("0.25"), D(2))
        position = PositionTracker().apply_fills(page.fills)
        held = await exchange.balances(["701"])
        assert D(10000) - held.collateral == position.yes_cost  # what it cost, fee included
