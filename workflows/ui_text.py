"""What the Temporal UI shows for the bot's workflows and activities: static summaries (one line,
the workflow list and the page's title area), static details (Markdown, the page's "User
Metadata" tab) and activity summaries (the event history and the timeline).

Pure text from the workflows' own inputs and state; user metadata is not replayed, so changing
a text never breaks a history. Kept here so every label reads the same and is tested once.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dualmm.config import LiquidationConfig, OrchestratorConfig
    from dualmm.domain.liquidation import RestingOrder
    from dualmm.domain.position import PositionTracker
    from dualmm.domain.types import MarketInfo, OrderIntent, Stage, Token
    from dualmm.liquidator import LiquidationResult
    from workflows.active_market_types import ActiveMarketState

SUMMARY_MAX = 200  # the UI shows one line; the server caps metadata size


def _num(value: Decimal) -> str:
    """A number as an operator writes it: 50, 0.5, 12.25 (no exponent, no trailing zeros)."""
    return f"{value.normalize():f}"


def _market_name(market: MarketInfo) -> str:
    return market.question or market.condition_id


def liquidation_summary(held: Token | None, qty: Decimal, market: MarketInfo) -> str:
    """`liquidate YES 50 shares: <question>`."""
    side = held.value if held is not None else "?"
    return f"liquidate {side} {_num(qty)} shares: {_market_name(market)}"[:SUMMARY_MAX]


def liquidation_details(
    market: MarketInfo,
    held: Token | None,
    qty: Decimal,
    config: LiquidationConfig,
    bot_id: str,
) -> str:
    """The liquidation's page: what it sells, on which market, for which bot, and when each
    stage starts."""
    side = held.value if held is not None else "?"
    token_id = market.token_id(held) if held is not None else "?"
    stop = (
        f"{config.stop_loss_stage.value} at an unrealized loss of "
        f"{_num(-config.stop_loss_threshold)} USDC"
        if config.stop_loss_enabled
        else "off"
    )
    return "\n".join(
        [
            f"**Selling {_num(qty)} {side} shares** for bot `{bot_id}`",
            "",
            f"- Market: {_market_name(market)}",
            f"- Condition id: `{market.condition_id}`",
            f"- {side} token id: `{token_id}`",
            f"- Tick {_num(market.tick_size)}, minimum order {_num(market.min_order_size)} shares",
            "",
            "**Stages**",
            "",
            f"- PASSIVE: at the midpoint, never below cost plus {_num(config.min_profit_margin)}",
            f"- SKEWED: from {_num(config.skew_start_minutes)} min, "
            f"{_num(config.skew_per_minute)} per minute up to {_num(config.max_skew)}",
            f"- {config.timeout_stage.value}: at the timeout, {_num(config.timeout_minutes)} min",
            f"- Stop-loss: {stop}",
            f"- Checks every {_num(Decimal(config.price_check_interval_ms) / 1000)} s",
            "",
            "Signals `force_exit` (MARKET now), `pause`, `resume`; update `set_config`; query "
            "`status` for the live state. The search attributes DualmmStage and DualmmOutcome "
            "follow it.",
        ]
    )


def liquidation_current(
    stage: Stage,
    position: PositionTracker,
    midpoint: Decimal | None,
    resting: RestingOrder | None,
    paused: bool,
    last_error: str | None,
) -> str:
    """The running liquidation's page ("Current Details"): where it stands now."""
    held = position.held_token
    left = f"{_num(position.held_qty)} {held.value} left" if held is not None else "flat"
    order = (
        f"SELL {_num(resting.size)} {resting.token.value} @ {_num(resting.price)} resting"
        if resting is not None
        else "no order resting"
    )
    pnl = f"realized {_num(position.realized_pnl)} USDC"
    if midpoint is not None:
        pnl += f", unrealized {_num(position.unrealized_pnl(midpoint))} USDC at the midpoint"
    lines = [
        f"**{stage.value}**{' (paused)' if paused else ''}: {left}",
        "",
        f"- Midpoint {_num(midpoint) if midpoint is not None else 'unknown'}; {order}",
        f"- P&L: {pnl}",
    ]
    if last_error:
        lines.append(f"- Last error: {last_error[:300]}")
    return "\n".join(lines)


def liquidation_finished(result: LiquidationResult, orders_placed: int) -> str:
    """The finished liquidation's page: how it ended."""
    held = result.position.held_token
    left = (
        f"{_num(result.remaining_qty)} {held.value} left"
        if held is not None and result.remaining_qty
        else "nothing left"
    )
    pnl = f"- Realized P&L: {_num(result.realized_pnl)} USDC"
    resolved = result.resolution
    if resolved is not None:  # nothing trades any more: what is held is redeemed
        left = f"{left}, awaiting redemption" if held is not None else "pairs awaiting redemption"
        won = f"{resolved.winner.value} won" if resolved.winner is not None else "winner unknown"
        pnl = (
            f"- Redemption ({won}): {_num(resolved.yes_qty)} YES and {_num(resolved.no_qty)} NO "
            f"pay {_num(resolved.payout)} USDC\n"
            f"- P&L at the resolution: {_num(result.realized_pnl)} USDC"
        )
    return "\n".join(
        [
            f"**{result.status}** in {result.exit_stage.value} after {result.duration_seconds} s: "
            f"{left}",
            "",
            f"- Why: {result.reason}",
            pnl,
            f"- Orders placed: {orders_placed}",
        ]
    )


def bot_summary(config: OrchestratorConfig, mode: str) -> str:
    """`dualmm bot demo: sim, dual-market, position limit 50 shares`."""
    kind = "dual" if config.dual_market_mode else "single"
    return (
        f"dualmm bot {config.bot_id}: {mode}, {kind}-market, position limit "
        f"{_num(config.market_maker.position_limit)} shares"
    )[:SUMMARY_MAX]


def bot_details(config: OrchestratorConfig, mode: str) -> str:
    """The bot's page: its settings, and where its liquidations are listed."""
    maker, liq = config.market_maker, config.liquidation
    return "\n".join(
        [
            f"**Bot `{config.bot_id}`**: mode {mode}, "
            f"{'dual' if config.dual_market_mode else 'single'}-market",
            "",
            f"- Quotes {_num(maker.order_size)} shares a side, every "
            f"{_num(Decimal(maker.quote_interval_ms) / 1000)} s",
            f"- Position limit {_num(maker.position_limit)} shares; liquidity budget "
            f"{_num(config.liquidity_budget)} USDC",
            f"- Liquidations: SKEWED from {_num(liq.skew_start_minutes)} min, "
            f"{liq.timeout_stage.value} at {_num(liq.timeout_minutes)} min",
            "",
            f'Its liquidations: filter the list by `DualmmBotId = "{config.bot_id}"` and '
            '`WorkflowType = "LiquidationWorkflow"`. Status: '
            f"`dualmm status --bot-id {config.bot_id}`.",
        ]
    )


def bot_current(state: ActiveMarketState, idle_reason: str | None) -> str:
    """The bot's page ("Current Details"): what it quotes, what it liquidates, what it made."""
    if state.liquidating_all:
        doing = "**Liquidating everything**"
    elif state.paused:
        doing = "**Paused**"
    elif state.active is not None:
        doing = f"**Quoting** {_market_name(state.active.market)}"
    else:
        doing = f"**Idle**: {idle_reason}" if idle_reason else "**Looking for a market**"
    lines = [doing, ""]
    if state.active is not None:
        position = state.active.checkpoint.position
        held = position.held_token
        holding = f"{_num(position.held_qty)} {held.value}" if held is not None else "flat"
        lines.append(
            f"- Round {state.active.number + 1}: {len(state.active.checkpoint.quotes)} quotes, "
            f"holding {holding}"
        )
    lines.append(
        f"- Liquidating {len(state.liquidations)}, finished {state.liquidations_finished}"
        f" (realized {_num(state.liquidations_realized_pnl)} USDC)"
    )
    for entry in state.liquidations[:10]:
        side = entry.held.value if entry.held is not None else "?"
        name = entry.question or entry.condition_id
        lines.append(
            f"- {entry.stage.value}: selling {_num(entry.qty)} {side} of {name}"[:SUMMARY_MAX]
        )
    if len(state.liquidations) > 10:
        lines.append(f"- and {len(state.liquidations) - 10} more liquidations")
    return "\n".join(lines)


def place_summary(intent: OrderIntent) -> str:
    """`place SELL 20 YES @ 0.53`."""
    return f"place {intent.side} {_num(intent.size)} {intent.token} @ {_num(intent.price)}"


def cancel_summary(order_id: str) -> str:
    return f"cancel {order_id[:18]}"


def check_summary(stage: Stage, position: PositionTracker) -> str:
    """`check PASSIVE: 50 YES left` (or `flat`)."""
    held = position.held_token
    left = f"{_num(position.held_qty)} {held.value} left" if held is not None else "flat"
    return f"check {stage.value}: {left}"


def next_check_summary(wake_at: datetime) -> str:
    """The check timer's label: when the check is due, to the millisecond (bench/capacity.py
    measures each check's lag from it)."""
    return f"next check at {wake_at.isoformat(timespec='milliseconds')}"


def watch_summary(priced_mid: Decimal) -> str:
    """The label of the watch between checks."""
    return f"watch the market (priced at midpoint {priced_mid})"


def merge_summary(pairs: Decimal) -> str:
    return f"merge {_num(pairs)} YES+NO pairs into USDC"


def quote_summary(market: MarketInfo) -> str:
    """`quote <question>` for a market-making round."""
    return f"quote {_market_name(market)}"[:SUMMARY_MAX]


def withdraw_summary(market: MarketInfo) -> str:
    return f"withdraw quotes on {_market_name(market)}"[:SUMMARY_MAX]


def settle_summary(market: MarketInfo) -> str:
    return f"read settling trades on {_market_name(market)}"[:SUMMARY_MAX]
