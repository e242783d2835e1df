"""The status view: the bot's `status` query, enriched with each child's, and its rendering."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from temporalio.client import Client


async def bot_status(client: Client, bot_id: str) -> dict[str, Any]:
    """The bot's `status` query (each live liquidation with the stage its child last signalled),
    each live liquidation enriched with the child's own `status` (elapsed, unrealized P&L)."""
    from temporalio.service import RPCError

    from workflows.active_market import ActiveMarketWorkflow, active_market_workflow_id
    from workflows.liquidation import LiquidationWorkflow

    handle = client.get_workflow_handle_for(
        ActiveMarketWorkflow.run, active_market_workflow_id(bot_id)
    )
    status = (await handle.query(ActiveMarketWorkflow.status)).model_dump(mode="json")
    for entry in status["liquidations"]:
        child = client.get_workflow_handle_for(LiquidationWorkflow.run, entry["workflow_id"])
        try:
            entry["status"] = (await child.query(LiquidationWorkflow.status)).model_dump(
                mode="json", exclude={"fills", "config"}
            )
        except RPCError as exc:
            entry["status"] = {"error": exc.message}
    return status


def render_status(status: dict[str, Any]) -> str:
    """A few readable lines of a `bot_status` answer."""
    mode = "dual-market" if status["dual_market_mode"] else "single-market"
    flags = " PAUSED" if status["paused"] else ""
    flags += " LIQUIDATING-ALL" if status["liquidating_all"] else ""
    uptime = Decimal(status["earning_uptime"]) * 100
    lines = [
        f"bot {status['bot_id']} ({mode}){flags}: running {status['running_seconds']}s, "
        f"earning uptime {uptime:.1f}%, liquidations finished {status['liquidations_finished']} "
        f"(realized {status['liquidations_realized_pnl']})"
    ]
    market = status["active_market"]
    if market is None:
        lines.append("active: none")
    else:
        position = status["position"] or {}
        quotes = ", ".join(f"BUY {q['token']} {q['size']} @ {q['price']}" for q in status["quotes"])
        lines.append(
            f"active: {market['condition_id']} {market['question']!r} "
            f"YES {position.get('yes_qty', '0')} NO {position.get('no_qty', '0')}; "
            f"quotes: {quotes or 'none'}"
        )
    for entry in status["liquidations"]:
        child = entry.get("status", {})
        lines.append(
            f"liquidating: {entry['condition_id']} {entry['held']} {entry['qty']} "
            f"stage {entry['stage']} after {child.get('elapsed_seconds', '?')}s "
            f"unrealized {child.get('unrealized_pnl', '?')}"
        )
    for done in status["finished"][-3:]:
        lines.append(
            f"finished: {done['condition_id']} {done['status']} in {done['exit_stage']} "
            f"after {done['duration_seconds']}s, realized {done['realized_pnl']}"
        )
    return "\n".join(lines)


def status_line(status: dict[str, Any]) -> str:
    market = status["active_market"]
    active = "none" if market is None else market["question"]
    position = status["position"] or {}
    stages = ", ".join(e["stage"] for e in status["liquidations"])
    uptime = Decimal(status["earning_uptime"]) * 100
    return (
        f"[{int(status['running_seconds']):>5}s] active: {active} "
        f"(quotes {len(status['quotes'])}, YES {position.get('yes_qty', '0')} "
        f"NO {position.get('no_qty', '0')}) | liquidating {len(status['liquidations'])}"
        f"{f' ({stages})' if stages else ''} | finished {status['liquidations_finished']} "
        f"(realized {status['liquidations_realized_pnl']}) "
        f"| earning uptime {uptime:.0f}%"
    )
