"""What the Temporal UI shows: summaries and details read like the bot (no 64-hex ids where a
question exists, numbers as an operator writes them)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from dualmm.config import LiquidationConfig, MarketMakerConfig, OrchestratorConfig
from dualmm.domain.liquidation import resolved_exit
from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import MarketInfo, OrderIntent, Side, Stage, Token
from workflows import ui_text

MARKET = MarketInfo(
    condition_id="0x" + "ab" * 32,
    question="Will BTC close above 100k?",
    yes_token_id="111",
    no_token_id="222",
    tick_size=Decimal("0.01"),
    min_order_size=Decimal(5),
)


def test_liquidation_summary_names_the_side_the_size_and_the_question() -> None:
    summary = ui_text.liquidation_summary(Token.NO, Decimal("50.00"), MARKET)
    assert summary == "liquidate NO 50 shares: Will BTC close above 100k?"


def test_liquidation_summary_falls_back_to_the_condition_id_and_fits_one_line() -> None:
    nameless = MARKET.model_copy(update={"question": ""})
    assert ui_text.liquidation_summary(None, Decimal(5), nameless).endswith(MARKET.condition_id)
    long = MARKET.model_copy(update={"question": "x" * 500})
    assert len(ui_text.liquidation_summary(Token.YES, Decimal(5), long)) == ui_text.SUMMARY_MAX


def test_liquidation_details_say_what_is_sold_where_and_when_each_stage_starts() -> None:
    config = LiquidationConfig(skew_start_minutes=Decimal(1), timeout_minutes=Decimal(4))
    details = ui_text.liquidation_details(MARKET, Token.YES, Decimal("20.0"), config, "demo")
    lines = details.splitlines()
    assert lines[0] == "**Selling 20 YES shares** for bot `demo`"
    assert "- Market: Will BTC close above 100k?" in lines
    assert f"- Condition id: `{MARKET.condition_id}`" in lines
    assert "- YES token id: `111`" in lines
    assert "- SKEWED: from 1 min, 0.002 per minute up to 0.02" in lines
    assert "- AGGRESSIVE: at the timeout, 4 min" in lines
    assert "- Stop-loss: MARKET at an unrealized loss of 10 USDC" in lines
    assert "- Checks every 30 s" in lines
    off = config.model_copy(update={"stop_loss_enabled": False})
    assert "- Stop-loss: off" in ui_text.liquidation_details(MARKET, None, Decimal(1), off, "b")


def test_bot_summary_and_details_carry_its_settings() -> None:
    config = OrchestratorConfig(
        bot_id="demo",
        market_maker=MarketMakerConfig(
            order_size=Decimal(50), position_limit=Decimal(50), quote_interval_ms=1000
        ),
    )
    assert ui_text.bot_summary(config, "sim") == (
        "dualmm bot demo: sim, dual-market, position limit 50 shares"
    )
    details = ui_text.bot_details(config, "sim")
    assert details.startswith("**Bot `demo`**: mode sim, dual-market")
    assert "- Quotes 50 shares a side, every 1 s" in details
    assert 'DualmmBotId = "demo"' in details


def test_activity_summaries() -> None:
    intent = OrderIntent(token=Token.YES, side=Side.SELL, price=Decimal("0.530"), size=Decimal(20))
    assert ui_text.place_summary(intent) == "place SELL 20 YES @ 0.53"
    assert ui_text.cancel_summary("0x" + "f" * 64) == "cancel 0xffffffffffffffff"
    held = PositionTracker(yes_qty=Decimal("12.50"), yes_cost=Decimal(6))
    assert ui_text.check_summary(Stage.SKEWED, held) == "check SKEWED: 12.5 YES left"
    assert ui_text.check_summary(Stage.PASSIVE, PositionTracker()) == "check PASSIVE: flat"
    assert ui_text.merge_summary(Decimal("7.00")) == "merge 7 YES+NO pairs into USDC"
    assert ui_text.quote_summary(MARKET) == "quote Will BTC close above 100k?"
    assert ui_text.withdraw_summary(MARKET) == "withdraw quotes on Will BTC close above 100k?"


def test_the_check_timer_says_when_the_check_is_due_to_the_millisecond() -> None:
    """bench/capacity.py measures each check's lag from this label."""
    due = datetime(2026, 12, 1, 6, 1, 12, 345678, tzinfo=UTC)
    label = ui_text.next_check_summary(due)
    assert label == "next check at 2026-12-01T06:01:12.345+00:00"
    assert datetime.fromisoformat(label.removeprefix("next check at ")) == due.replace(
        microsecond=345000
    )


def test_current_details_show_the_stage_what_is_left_the_order_and_the_pnl() -> None:
    from dualmm.domain.liquidation import RestingOrder

    held = PositionTracker(yes_qty=Decimal(20), yes_cost=Decimal(10))
    order = RestingOrder(order_id="0x1", token=Token.YES, price=Decimal("0.530"), size=Decimal(20))
    text = ui_text.liquidation_current(Stage.SKEWED, held, Decimal("0.55"), order, False, None)
    assert text.splitlines() == [
        "**SKEWED**: 20 YES left",
        "",
        "- Midpoint 0.55; SELL 20 YES @ 0.53 resting",
        "- P&L: realized 0 USDC, unrealized 1 USDC at the midpoint",
    ]
    waiting = ui_text.liquidation_current(Stage.PASSIVE, held, None, None, True, "venue said 503")
    assert waiting.splitlines()[0] == "**PASSIVE** (paused): 20 YES left"
    assert "- Midpoint unknown; no order resting" in waiting
    assert waiting.splitlines()[-1] == "- Last error: venue said 503"


def test_finished_details_say_how_it_ended() -> None:
    from datetime import UTC, datetime

    from workflows.liquidation import LiquidationResult

    at = datetime(2026, 12, 1, tzinfo=UTC)
    result = LiquidationResult(
        condition_id=MARKET.condition_id,
        status="closed",
        exit_stage=Stage.SKEWED,
        reason="flat",
        started_at=at,
        finished_at=at,
        duration_seconds=95,
        realized_pnl=Decimal("1.50"),
        remaining_qty=Decimal(0),
        position=PositionTracker(realized_pnl=Decimal("1.50")),
        stages=(),
        orders=(),
        fills=(),
    )
    assert ui_text.liquidation_finished(result, 3).splitlines() == [
        "**closed** in SKEWED after 95 s: nothing left",
        "",
        "- Why: flat",
        "- Realized P&L: 1.5 USDC",
        "- Orders placed: 3",
    ]


def test_bot_current_details_say_what_it_quotes_and_liquidates() -> None:
    from datetime import UTC, datetime

    from activities.market_making import Checkpoint
    from workflows.active_market import ActiveMarketState, ActiveRound, LiveLiquidation

    at = datetime(2026, 12, 1, tzinfo=UTC)
    state = ActiveMarketState(
        active=ActiveRound(
            market=MARKET,
            checkpoint=Checkpoint(
                position=PositionTracker(no_qty=Decimal(5), no_cost=Decimal(2)), cursor=""
            ),
            number=2,
        ),
        liquidations=(
            LiveLiquidation(
                condition_id="0x1",
                workflow_id="liquidation-0x1",
                question="Will ETH flip BTC?",
                started_at=at,
                held=Token.YES,
                qty=Decimal("20.00"),
                stage=Stage.SKEWED,
            ),
        ),
        liquidations_finished=4,
        liquidations_realized_pnl=Decimal("2.50"),
    )
    assert ui_text.bot_current(state, None).splitlines() == [
        "**Quoting** Will BTC close above 100k?",
        "",
        "- Round 3: 0 quotes, holding 5 NO",
        "- Liquidating 1, finished 4 (realized 2.5 USDC)",
        "- SKEWED: selling 20 YES of Will ETH flip BTC?",
    ]
    idle = ActiveMarketState()
    assert ui_text.bot_current(idle, "no reward market qualifies").startswith(
        "**Idle**: no reward market qualifies"
    )
    assert ui_text.bot_current(idle.model_copy(update={"paused": True}), None).startswith(
        "**Paused**"
    )


def test_finished_details_of_a_resolved_market_say_what_awaits_redemption() -> None:
    from workflows.liquidation import LiquidationResult

    at = datetime(2026, 12, 1, tzinfo=UTC)
    position = PositionTracker(yes_qty=Decimal(20), yes_cost=Decimal(11))
    ended = resolved_exit(
        position, MARKET, MarketResolution(winning_asset_id="111", winning_outcome="Yes")
    )
    assert ended is not None
    result = LiquidationResult(
        condition_id=MARKET.condition_id,
        status="resolved",
        exit_stage=Stage.PASSIVE,
        reason=ended.reason,
        started_at=at,
        finished_at=at,
        duration_seconds=40,
        realized_pnl=ended.pnl,
        remaining_qty=Decimal(20),
        position=position,
        stages=(),
        orders=(),
        fills=(),
        resolution=ended,
    )
    assert ui_text.liquidation_finished(result, 1).splitlines() == [
        "**resolved** in PASSIVE after 40 s: 20 YES left, awaiting redemption",
        "",
        "- Why: market resolved: YES won; 20 YES, 0 NO await redemption for 20 USDC",
        "- Redemption (YES won): 20 YES and 0 NO pay 20 USDC",
        "- P&L at the resolution: 9 USDC",
        "- Orders placed: 1",
    ]
