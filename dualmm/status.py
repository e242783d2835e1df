"""The status view: is the bot alive, and is it making money.

`bot_status` reads the bot's workflow (its execution state from Temporal, its typed `status`
query) and each live liquidation's (its state and `status` query), and folds them into one
report: the bot's health (running, failed, stuck on a failing workflow task), its mode,
uptime, and P&L per market and in total, as the JSON `status --json` prints.
`render_status` makes the table, `status_line` the demo's one line.

JSON number encoding: money (USDC), sizes (shares) and prices are decimal strings, exact to
the cent or the tick as the bot holds them ("0.10", "-1.25"); counts and durations in whole
seconds are JSON integers; fractions (earning uptime) are decimal strings in [0, 1]; a value
that is not known is null.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dualmm.errors import UsageError
from workflows.contracts import (
    ACTIVE_MARKET_ID_PREFIX,
    ACTIVE_MARKET_WORKFLOW,
    active_market_workflow_id,
)

if TYPE_CHECKING:
    from temporalio.api.failure.v1 import Failure
    from temporalio.client import Client, WorkflowHandle

    from workflows.active_market_types import ActiveMarketStatus, LiveLiquidation
    from workflows.liquidation_types import LiquidationStatus

ZERO = Decimal(0)
_CENT = Decimal("0.01")
# Workflow states that mean the bot is not doing its job (the command exits non-zero).
UNHEALTHY = ("failed", "stuck", "terminated", "timed_out", "canceled")
# Finished liquidations the table lists (the JSON has every one the bot keeps).
FINISHED_SHOWN = 10


def _money(value: Decimal) -> str:
    return str(value.quantize(_CENT))


async def bot_names(client: Client) -> list[tuple[str, str]]:
    """(bot workflow id, state) of every bot on the namespace, newest first, one per id."""
    seen: dict[str, str] = {}
    async for execution in client.list_workflows(f"WorkflowType = '{ACTIVE_MARKET_WORKFLOW}'"):
        state = execution.status.name.lower() if execution.status else "unknown"
        if execution.id not in seen or state == "running":
            seen[execution.id] = state
    return list(seen.items())


async def _not_found(client: Client, bot_id: str, workflow_id: str) -> UsageError:
    bots = [wid.removeprefix(ACTIVE_MARKET_ID_PREFIX) for wid, _ in await bot_names(client)]
    known = f"bots here: {', '.join(bots)}" if bots else "no bot has run on this namespace"
    return UsageError(f"no bot {bot_id!r} (workflow {workflow_id}); {known}")


async def _last_problem(client: Client, handle: WorkflowHandle[Any, Any]) -> str | None:
    """The message of the latest workflow-task failure or workflow failure in the history."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.enums.v1 import EventType
    from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest

    request = GetWorkflowExecutionHistoryReverseRequest(
        namespace=client.namespace,
        execution=WorkflowExecution(workflow_id=handle.id),
        maximum_page_size=50,
    )
    answer = await client.workflow_service.get_workflow_execution_history_reverse(request)
    for event in answer.history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            return await failure_message(client, failure)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            failure = event.workflow_execution_failed_event_attributes.failure
            return await failure_message(client, failure)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            return str(event.workflow_execution_terminated_event_attributes.reason)
    return None


async def failure_message(client: Client, failure: Failure) -> str:
    """A failure's message; with the payload codec on (dualmm.codec) it is encrypted in the
    failure's encoded attributes, and the plain `message` only says "Encoded failure"."""
    codec = client.data_converter.payload_codec
    if codec is not None and failure.HasField("encoded_attributes"):
        try:
            (decoded,) = await codec.decode([failure.encoded_attributes])
            (attributes,) = client.data_converter.payload_converter.from_payloads([decoded])
        except Exception:  # another key or a corrupt payload: show what the server has
            attributes = None
        if isinstance(attributes, dict) and isinstance(attributes.get("message"), str):
            return str(attributes["message"])
    return str(failure.message)


async def _execution(client: Client, handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    """State ("running", "stuck", "failed", ...), start time, memo, and what went wrong."""
    description = await handle.describe()
    state = description.status.name.lower() if description.status else "unknown"
    pending = description.raw_description.pending_workflow_task
    attempts = (
        pending.attempt if description.raw_description.HasField("pending_workflow_task") else 0
    )
    problem = None
    if state == "running" and attempts > 1:
        state = "stuck"  # the workflow task fails and retries forever: a bug or a bad deploy
        problem = f"workflow task failing (attempt {attempts})"
        detail = await _last_problem(client, handle)
        problem += f": {detail}" if detail else ""
    elif state in UNHEALTHY:
        problem = await _last_problem(client, handle)
    memo = await description.memo()
    return {
        "state": state,
        "problem": problem,
        "market_feed": await _market_feed(client, description),
        "started_at": description.start_time,
        "closed_at": description.close_time,
        "memo": memo,
    }


async def _market_feed(client: Client, description: Any) -> str | None:
    """How the quoting round sees its market, from its last heartbeat: MARKET_CHANNEL, or POLL
    while the channel is down (None: no round, or it has not said)."""
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name != "make_market" or not pending.heartbeat_details.payloads:
            continue
        try:
            details = await client.data_converter.decode(pending.heartbeat_details.payloads)
        except Exception:  # a payload this CLI cannot read (another key): not worth failing for
            return None
        feed = details[0].get("market_feed") if details and isinstance(details[0], dict) else None
        return str(feed) if feed else None
    return None


@dataclass(frozen=True)
class ChildView:
    """A live liquidation as the parent knows it, with its own workflow's state and `status`
    query (None when that query could not be answered: `error` says why)."""

    live: LiveLiquidation
    workflow_state: str
    status: LiquidationStatus | None
    error: str | None = None


async def bot_status(client: Client, bot_id: str) -> dict[str, Any]:
    """The bot's report: its health from Temporal, its `status` query, each live liquidation
    with its own state and `status` query, and P&L per market and in total."""
    from temporalio.client import WorkflowQueryFailedError
    from temporalio.service import RPCError, RPCStatusCode

    from workflows.active_market import ActiveMarketWorkflow

    workflow_id = active_market_workflow_id(bot_id)
    handle = client.get_workflow_handle_for(ActiveMarketWorkflow.run, workflow_id)
    try:
        execution = await _execution(client, handle)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise await _not_found(client, bot_id, workflow_id) from None
        raise
    query: ActiveMarketStatus | None
    try:
        query = await handle.query(ActiveMarketWorkflow.status)
        if execution["state"] == "running":  # carried on to this reader's clock
            query = query.at(datetime.now(UTC))
    except (RPCError, WorkflowQueryFailedError) as exc:  # no worker, or a broken workflow
        query = None
        message = exc.message if isinstance(exc, RPCError) else str(exc)
        execution["problem"] = execution["problem"] or f"status query failed: {message}"
        if execution["state"] == "running":
            execution["state"] = "stuck"
    children = [await _child(client, live) for live in (query.liquidations if query else ())]
    return _report(bot_id, workflow_id, execution, query, children)


async def _child(client: Client, live: LiveLiquidation) -> ChildView:
    from temporalio.client import WorkflowQueryFailedError
    from temporalio.service import RPCError

    from workflows.liquidation import LiquidationWorkflow

    handle = client.get_workflow_handle_for(LiquidationWorkflow.run, live.workflow_id)
    state = "unknown"
    try:
        description = await handle.describe()
        state = description.status.name.lower() if description.status else "unknown"
        return ChildView(live, state, await handle.query(LiquidationWorkflow.status))
    except (RPCError, WorkflowQueryFailedError) as exc:
        return ChildView(live, state, None, exc.message if isinstance(exc, RPCError) else str(exc))


def _active_row(
    query: ActiveMarketStatus, workflow_id: str, workflow_state: str
) -> dict[str, Any] | None:
    from dualmm.domain.position import PositionTracker

    active = query.active_market
    if active is None:
        return None
    position = query.position or PositionTracker()
    mid = query.midpoint
    quoted = sum((q.price * q.size for q in query.quotes), ZERO)
    return {
        "role": "active",
        "condition_id": active.condition_id,
        "question": active.question,
        "stage": "PAUSED" if query.paused else "QUOTING",
        "held": position.held_token.value if position.held_token else None,
        "qty": str(position.held_qty),
        "yes_qty": str(position.yes_qty),
        "no_qty": str(position.no_qty),
        "midpoint": None if mid is None else str(mid),
        "realized_pnl": _money(position.realized_pnl),
        "unrealized_pnl": None if mid is None else _money(position.unrealized_pnl(mid)),
        "capital": _money(position.yes_cost + position.no_cost + quoted),
        "quotes": [q.model_dump(mode="json") for q in query.quotes],
        "workflow_id": workflow_id,
        "workflow_state": workflow_state,
    }


def _liquidating_row(child: ChildView) -> dict[str, Any]:
    live, status = child.live, child.status
    if status is None:  # what the parent last heard
        held = live.held.value if live.held else None
        stage, qty, realized = live.stage.value, live.qty, ZERO
    else:
        held = status.held_token.value if status.held_token else None
        stage, qty, realized = status.stage.value, status.held_qty, status.realized_pnl
    unrealized = None if status is None else status.unrealized_pnl
    return {
        "role": "liquidating",
        "condition_id": live.condition_id,
        "question": live.question,
        "stage": stage,
        "held": held,
        "qty": str(qty),
        "midpoint": None if status is None or status.midpoint is None else str(status.midpoint),
        "realized_pnl": _money(realized),
        "unrealized_pnl": None if unrealized is None else _money(unrealized),
        "capital": None if status is None else _money(status.position_cost),
        "elapsed_seconds": None if status is None else status.elapsed_seconds,
        "order": None
        if status is None or status.order is None
        else status.order.model_dump(mode="json"),
        "error": child.error if status is None else status.last_error,
        "workflow_id": live.workflow_id,
        # A child that ended while its parent could not hear of it shows as ended.
        "workflow_state": child.workflow_state,
    }


def _report(
    bot_id: str,
    workflow_id: str,
    execution: dict[str, Any],
    query: ActiveMarketStatus | None,
    children: list[ChildView],
) -> dict[str, Any]:
    memo = execution["memo"]
    started: datetime = execution["started_at"]
    until = execution["closed_at"] or datetime.now(UTC)
    report: dict[str, Any] = {
        "bot_id": bot_id,
        "workflow_id": workflow_id,
        "state": execution["state"],
        "problem": execution["problem"],
        "mode": memo.get("mode", "unknown"),
        "units": {"money": "USDC", "size": "shares"},
        "started_at": started.isoformat(),
        "uptime_seconds": int((until - started).total_seconds()),
        "market_feed": execution.get("market_feed"),
    }
    markets: list[dict[str, Any]] = []
    finished_realized = ZERO
    if query is not None:
        active = _active_row(query, workflow_id, execution["state"])
        markets += [active] if active else []
        markets += [_liquidating_row(child) for child in children]
        report.update(
            {
                "paused": query.paused,
                "liquidating_all": query.liquidating_all,
                "dual_market_mode": query.dual_market_mode,
                "earning_seconds": int(query.earning_seconds),
                "earning_uptime": str(query.earning_uptime.quantize(Decimal("0.001"))),
                "finished": [f.model_dump(mode="json") for f in query.finished],
                "finished_total": query.liquidations_finished,
                "finished_not_listed": query.liquidations_finished - len(query.finished),
            }
        )
        finished_realized = query.liquidations_realized_pnl
    realized = finished_realized + sum((Decimal(m["realized_pnl"]) for m in markets), ZERO)
    unrealized = sum(
        (Decimal(m["unrealized_pnl"]) for m in markets if m["unrealized_pnl"] is not None), ZERO
    )
    capital = sum((Decimal(m["capital"]) for m in markets if m["capital"] is not None), ZERO)
    rewards = None if query is None else query.venue_rewards_today
    report["markets"] = markets
    report["totals"] = {
        "realized_pnl": _money(realized),
        "realized_pnl_finished_liquidations": _money(finished_realized),
        "unrealized_pnl": _money(unrealized),
        "pnl": _money(realized + unrealized),
        "rewards_estimated": None,
        # as the bot's round last read them from the venue, for today
        "rewards_reported": None if rewards is None else _money(rewards),
        "capital_in_use": _money(capital),
    }
    return report


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "?"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _or_na(value: Any) -> str:
    return "n/a" if value is None else str(value)


def render_status(report: dict[str, Any], width: int = 160) -> str:
    """The report as a few lines and a table per section (plain text, no colour codes)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    state = report["state"].upper()
    flags = ""
    if report.get("paused"):
        flags += " PAUSED"
    if report.get("liquidating_all"):
        flags += " LIQUIDATING-ALL"
    mode = report["mode"]
    mode_note = {"paper": " (paper: real data, simulated fills)", "live": " (REAL ORDERS)"}
    market_mode = "dual-market" if report.get("dual_market_mode", True) else "single-market"
    console.print(
        f"bot {report['bot_id']}: {state}{flags}, mode {mode}{mode_note.get(mode, '')}, "
        f"{market_mode}, up {_duration(report['uptime_seconds'])}"
        + (
            f", earning uptime {Decimal(report['earning_uptime']) * 100:.1f}%"
            if "earning_uptime" in report
            else ""
        )
    )
    if report["problem"]:
        console.print(f"PROBLEM: {report['problem']}")
    feed = {"MARKET_CHANNEL": "market channel", "POLL": "REST poll (market channel down)"}
    if report.get("market_feed") in feed:
        console.print(f"market data: {feed[report['market_feed']]}")
    totals = report["totals"]
    console.print(
        f"P&L: {totals['pnl']} USDC = realized {totals['realized_pnl']} "
        f"+ unrealized {totals['unrealized_pnl']} (at the book midpoint)"
    )
    console.print(
        f"rewards: estimated {_or_na(totals['rewards_estimated'])} USDC, "
        f"venue-reported {_or_na(totals['rewards_reported'])} | "
        f"capital in use: {totals['capital_in_use']} USDC"
    )
    if report["markets"]:
        table = Table(
            title="markets (sizes in shares, money in USDC)",
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        for name in ("role", "question", "market", "stage", "held", "qty", "mid"):
            table.add_column(
                name,
                justify="right" if name in ("qty", "mid") else "left",
                no_wrap=name != "question",
                min_width=24 if name == "question" else None,
            )
        for name in ("realized", "unrealized", "capital", "orders"):
            table.add_column(
                name,
                justify="right" if name != "orders" else "left",
                no_wrap=name != "orders",
                min_width=22 if name == "orders" else None,
            )
        for m in report["markets"]:
            if m["role"] == "active":
                orders = "\n".join(
                    f"BUY {q['token']} {q['size']} @ {q['price']}" for q in m["quotes"]
                )
            else:
                order = m.get("order")
                orders = f"SELL {order['size']} @ {order['price']}" if order else ""
                if m["workflow_state"] != "running":
                    orders = f"workflow {m['workflow_state']}"
                if m.get("error"):
                    orders += f" (last error: {m['error']})"
            stage = m["stage"]
            if m["role"] == "liquidating":
                stage += f" {_duration(m.get('elapsed_seconds'))}"
            table.add_row(
                m["role"],
                m["question"][:60],
                m["condition_id"][:12],
                stage,
                _or_na(m["held"]),
                m["qty"],
                _or_na(m["midpoint"]),
                m["realized_pnl"],
                _or_na(m["unrealized_pnl"]),
                _or_na(m["capital"]),
                orders or "none",
            )
        console.print(table)
    else:
        console.print("markets: none (no active market, no liquidation)")
    finished = report.get("finished", [])
    if finished:
        shown = finished[-FINISHED_SHOWN:]
        table = Table(
            title=f"finished liquidations: {report['finished_total']} "
            f"(realized {totals['realized_pnl_finished_liquidations']} USDC)",
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        for name in ("finished at", "market", "outcome", "exit stage", "took", "realized"):
            table.add_column(name, justify="right" if name in ("took", "realized") else "left")
        for done in reversed(shown):
            table.add_row(
                done["finished_at"][:19].replace("T", " "),
                done["condition_id"][:14],
                done["status"],
                done["exit_stage"],
                _duration(done["duration_seconds"]),
                _money(Decimal(done["realized_pnl"])),
            )
        console.print(table)
        hidden = report["finished_total"] - len(shown)
        if hidden:
            console.print(f"({hidden} earlier finished liquidations not shown)")
    return "\n".join(line.rstrip() for line in console.export_text().rstrip().splitlines())


def status_line(report: dict[str, Any]) -> str:
    """One line for the demo's running log."""
    markets = report["markets"]
    active = next((m for m in markets if m["role"] == "active"), None)
    liquidating = [m for m in markets if m["role"] == "liquidating"]
    stages = ", ".join(m["stage"] for m in liquidating)
    totals = report["totals"]
    return (
        f"[{_duration(report['uptime_seconds']):>9}] {report['state']} | active: "
        f"{active['question'][:40] if active else 'none'} "
        f"(quotes {len(active['quotes']) if active else 0}) | liquidating {len(liquidating)}"
        f"{f' ({stages})' if stages else ''} | finished {report.get('finished_total', 0)} | "
        f"P&L {totals['pnl']} USDC (realized {totals['realized_pnl']}) | "
        f"earning uptime {Decimal(report.get('earning_uptime', '0')) * 100:.0f}%"
    )
