"""Inventory skew: the pairing bid leans in, the adding bid out, the adding bid stops early."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dualmm.config import MarketMakerConfig
from dualmm.domain.inventory import (
    highest_bid_below,
    skewed_offset,
    withholds_adding,
)
from dualmm.domain.position import PositionTracker
from dualmm.domain.quoting import desired_quotes
from dualmm.domain.types import Fill, MarketInfo, Side, Token

D = Decimal
FLAT = PositionTracker()
MARKET = MarketInfo(
    condition_id="0xc",
    yes_token_id="y",
    no_token_id="n",
    tick_size=D("0.01"),
    min_order_size=D(5),
    rewards_daily_rate=D(100),
    rewards_max_spread_cents=D(4),
    rewards_min_size=D(0),
)


def holding(token: Token, qty: str, price: str = "0.48") -> PositionTracker:
    fill = Fill(
        trade_id="t1",
        condition_id="0xc",
        token=token,
        side=Side.BUY,
        price=D(price),
        size=D(qty),
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return FLAT.apply_fill(fill)


def bids(position: PositionTracker, **settings: str) -> dict[Token, tuple[Decimal, Decimal]]:
    config = MarketMakerConfig(**{k: D(v) for k, v in settings.items()})
    quotes = desired_quotes(MARKET, D("0.50"), position, config)
    return {q.token: (q.price, q.size) for q in quotes}


def test_flat_or_no_skew_leaves_the_offset() -> None:
    assert skewed_offset(D("0.02"), FLAT, D(100), Token.YES, D(1)) == D("0.02")
    half_yes = holding(Token.YES, "50")
    assert skewed_offset(D("0.02"), half_yes, D(100), Token.NO, D(0)) == D("0.02")


def test_half_full_leans_pairing_in_and_adding_out() -> None:
    half_yes = holding(Token.YES, "50")
    # lean = 1 * 50/100: NO pairs (0.02 * 0.5), YES adds (0.02 * 1.5)
    assert skewed_offset(D("0.02"), half_yes, D(100), Token.NO, D(1)) == D("0.010")
    assert skewed_offset(D("0.02"), half_yes, D(100), Token.YES, D(1)) == D("0.030")


def test_stop_adding_withholds_only_the_adding_side_past_the_fraction() -> None:
    half_no = holding(Token.NO, "50")
    assert withholds_adding(half_no, D(100), Token.NO, D("0.5"))
    assert not withholds_adding(half_no, D(100), Token.YES, D("0.5"))
    assert not withholds_adding(half_no, D(100), Token.NO, D("0.6"))
    assert not withholds_adding(half_no, D(100), Token.NO, D(1))  # 1: off


@pytest.mark.parametrize(
    ("mid", "expected"), [("0.50", "0.49"), ("0.505", "0.50"), ("0.005", None)]
)
def test_highest_bid_below_is_strictly_below(mid: str, expected: str | None) -> None:
    assert highest_bid_below(D(mid), D("0.01")) == (None if expected is None else D(expected))


def test_defaults_quote_as_before() -> None:
    """No skew by default: holding 50 YES, both bids 2 c out (0.5 of a 4 c band)."""
    assert bids(holding(Token.YES, "50")) == {
        Token.YES: (D("0.48"), D(50)),
        Token.NO: (D("0.48"), D(50)),
    }


def test_skew_moves_the_bids_in_desired_quotes() -> None:
    # offset 2 c; held 50 of 100, skew 1: NO (pairs) 1 c out, YES (adds) 3 c out
    assert bids(holding(Token.YES, "50"), inventory_skew="1") == {
        Token.YES: (D("0.47"), D(50)),
        Token.NO: (D("0.49"), D(50)),
    }


def test_full_skew_at_the_limit_keeps_a_pairing_bid_below_the_mid() -> None:
    # 95 of 100 held: the YES side has 5 left; NO leans to 0.1 c out, rounded down: 0.49
    quotes = bids(holding(Token.YES, "95"), inventory_skew="1")
    assert quotes[Token.NO] == (D("0.49"), D(50))


def test_stop_adding_quotes_only_the_pairing_side() -> None:
    assert bids(holding(Token.NO, "50"), stop_adding_at="0.5") == {Token.YES: (D("0.48"), D(50))}
    assert set(bids(holding(Token.NO, "40"), stop_adding_at="0.5")) == {Token.YES, Token.NO}


def test_the_adding_bid_stays_inside_the_reward_band() -> None:
    # offset 3 c (0.75 of 4), skew 1 at 50 %: 4.5 c is outside the band; raised to 3.9 c -> 0.47
    price, _ = bids(holding(Token.YES, "50"), inventory_skew="1", spread_fraction="0.75")[Token.YES]
    assert D("0.50") - price < D("0.04")
