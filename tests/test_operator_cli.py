"""The operator's commands as a subprocess against a dev server: `status` (table, JSON, exit
codes for a failed or stuck bot), `bots`, `liquidate-all --now` with progress, `orchestrate`
with a config file, the environment and `--dry-run`.

The bot runs on an in-process worker over the steered venue of test_active_market_workflow,
so each command runs as its own process (`python -m dualmm`) while the worker answers it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio import workflow
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from test_active_market_workflow import (
    WAIT,
    Venue,
    _a_to_liquidation_b_quoted,
    _bot,
    _config,
    _liquidating,
    _until,
)

from dualmm.domain.position import PositionTracker
from dualmm.domain.types import Token
from dualmm.runtime import start_or_attach
from dualmm.status import bot_status
from dualmm.worker import build_worker
from workflows.active_market import ActiveMarketInput, ActiveMarketState, LiveLiquidation
from workflows.contracts import active_market_workflow_id, liquidation_workflow_id
from workflows.liquidation import LiquidationInput, LiquidationWorkflow


class Run:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.code, self.stdout, self.stderr = code, stdout, stderr


async def dualmm(env: WorkflowEnvironment, *args: str, **extra: str) -> Run:
    """`python -m dualmm ARGS` without blocking the event loop the worker runs on."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dualmm", *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "DUALMM_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            **extra,
        },
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def _child_resting(env: WorkflowEnvironment, bot_id: str) -> None:
    """Until the liquidation has checked the market and rests its SELL (a run that just
    continued as new knows its order but no midpoint until its first check)."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        report = await bot_status(env.client, bot_id)
        if any(
            m["role"] == "liquidating" and m.get("order") and m["unrealized_pnl"] is not None
            for m in report["markets"]
        ):
            return
        assert asyncio.get_running_loop().time() < deadline, report
        await asyncio.sleep(0.2)


async def test_status_table_and_json_say_whether_the_bot_makes_money(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    venue = Venue()
    a, b, _ = venue.markets
    config = _config()
    async with _bot(dev_env, task_queue, venue, config) as handle:
        await _a_to_liquidation_b_quoted(handle, venue)
        await _child_resting(dev_env, config.bot_id)
        table = await dualmm(dev_env, "status", DUALMM_BOT_ID=config.bot_id)
        assert table.code == 0, table.stderr
        lines = table.stdout.splitlines()
        assert lines[0].startswith(f"bot {config.bot_id}: RUNNING, mode sim, dual-market, up ")
        assert lines[1].startswith("P&L: ") and "USDC" in lines[1]
        # The venue's own figure for today, as the round read it (this venue pays none).
        assert "capital in use: " in lines[2] and "venue-reported 0.00" in lines[2]
        a_row = next(line for line in lines if line.strip().startswith("liquidating"))
        assert a.question in a_row and "PASSIVE" in a_row and "SELL 10.00 @ 0.49" in a_row
        assert b.question in table.stdout and "BUY YES 10.00 @ 0.48" in table.stdout

        for _ in range(3):  # a child that just continued as new knows no midpoint for 1 s
            answer = await dualmm(dev_env, "status", "--bot-id", config.bot_id, "--json")
            assert answer.code == 0, answer.stderr
            report = json.loads(answer.stdout)
            if all(m["unrealized_pnl"] is not None for m in report["markets"]):
                break
        assert (report["state"], report["mode"], report["problem"]) == ("running", "sim", None)
        assert report["units"] == {"money": "USDC", "size": "shares"}
        assert isinstance(report["uptime_seconds"], int)
        roles = {m["role"]: m for m in report["markets"]}
        assert roles["liquidating"]["condition_id"] == a.condition_id
        assert roles["liquidating"]["workflow_state"] == "running"
        # 10 YES bought at 0.48: 4.80 USDC of capital in the exit, 9.60 in B's two bids.
        assert roles["liquidating"]["capital"] == "4.80"
        assert roles["active"]["capital"] == "9.60"
        assert report["totals"]["capital_in_use"] == "14.40"
        # At the book: A's midpoint is 0.45 against a cost of 0.48.
        assert roles["liquidating"]["unrealized_pnl"] == "-0.30", roles
        assert report["totals"]["pnl"] == "-0.30"

        venue.move(a, "0.50")  # the exit fills at 0.49: +0.10 realized
        await _until(handle, lambda s: s.liquidations_finished == 1)
        done = json.loads(
            (await dualmm(dev_env, "status", "--json", "--bot-id", config.bot_id)).stdout
        )
        assert done["totals"]["realized_pnl"] == "0.10"
        assert done["finished_total"] == 1 and done["finished_not_listed"] == 0
        assert [f["condition_id"] for f in done["finished"]] == [a.condition_id]
        shown = await dualmm(dev_env, "status", "--bot-id", config.bot_id)
        assert "finished liquidations: 1 (realized 0.10 USDC)" in shown.stdout

        listed = await dualmm(dev_env, "bots")
        assert listed.code == 0
        assert any(
            line.split()[:2] == [config.bot_id, "running"] for line in listed.stdout.splitlines()
        )


async def test_a_missing_bot_names_the_bots_there_are(dev_env: WorkflowEnvironment) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    result = await dualmm(dev_env, "status", "--bot-id", missing)
    assert result.code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        f"error: no bot {missing!r} (workflow active-market-{missing}); "
    )
    paused = await dualmm(dev_env, "pause", "--bot-id", missing)
    assert paused.code == 2 and f"no bot {missing!r}" in paused.stderr


async def test_status_reports_a_failed_bot_and_exits_non_zero(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    bot = f"bad-{uuid.uuid4().hex[:8]}"
    bad = {"config": {"bot_id": bot, "liquidity_budget": "-1"}}
    async with build_worker(dev_env.client, task_queue, Venue().exchange):
        handle = await dev_env.client.start_workflow(
            "ActiveMarketWorkflow", bad, id=active_market_workflow_id(bot), task_queue=task_queue
        )
        deadline = asyncio.get_running_loop().time() + WAIT
        while (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.2)
        result = await dualmm(dev_env, "status", "--bot-id", bot)
    assert result.code == 1, result.stderr
    assert result.stdout.startswith(f"bot {bot}: FAILED")
    assert "PROBLEM: " in result.stdout and "liquidity_budget" in result.stdout
    listed = await dualmm(dev_env, "bots")
    assert any(line.split()[:2] == [bot, "failed"] for line in listed.stdout.splitlines())


@workflow.defn(name="ActiveMarketWorkflow", sandboxed=False)
class _BrokenBot:
    """A bot whose workflow task raises (a bug, a bad deploy): it stays RUNNING, retrying."""

    @workflow.run
    async def run(self, request: dict[str, Any]) -> None:
        raise RuntimeError("a bug in the bot")


async def test_status_reports_a_bot_stuck_on_a_failing_workflow_task(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    bot = f"stuck-{uuid.uuid4().hex[:8]}"
    async with Worker(dev_env.client, task_queue=task_queue, workflows=[_BrokenBot]):
        handle = await dev_env.client.start_workflow(
            "ActiveMarketWorkflow", {}, id=active_market_workflow_id(bot), task_queue=task_queue
        )
        try:
            deadline = asyncio.get_running_loop().time() + WAIT
            while (await handle.describe()).raw_description.pending_workflow_task.attempt < 2:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.2)
            result = await dualmm(dev_env, "status", "--bot-id", bot, "--json")
        finally:
            await handle.terminate("test over")
    assert result.code == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["state"] == "stuck"
    assert "workflow task failing" in report["problem"] and "a bug in the bot" in report["problem"]


async def test_a_finished_child_is_not_shown_as_live(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The parent's registry still lists a liquidation whose workflow has ended (its report
    was lost): the status says the workflow ended instead of showing it live."""
    venue = Venue()
    a, _, c = venue.markets
    workflow_id = liquidation_workflow_id(c.condition_id)
    child = await dev_env.client.start_workflow(
        LiquidationWorkflow.run,
        LiquidationInput(
            market=c,
            position=PositionTracker.opening(Token.YES, Decimal(10), Decimal("0.40")),
            started_at=datetime.now(UTC),
        ),
        id=workflow_id,
        task_queue=f"nobody-{task_queue}",
    )
    await child.terminate("ended behind the parent's back")
    config = _config()
    entry = LiveLiquidation(
        condition_id=c.condition_id,
        workflow_id=workflow_id,
        question=c.question,
        started_at=datetime.now(UTC),
        held=Token.YES,
        qty=Decimal(10),
    )
    async with build_worker(dev_env.client, task_queue, venue.exchange):
        handle = await dev_env.client.start_workflow(
            "ActiveMarketWorkflow",
            ActiveMarketInput(config=config, state=ActiveMarketState(liquidations=(entry,))),
            id=active_market_workflow_id(config.bot_id),
            task_queue=task_queue,
        )
        try:
            result = await dualmm(dev_env, "status", "--bot-id", config.bot_id, "--json")
        finally:
            await handle.terminate("test over")
    report = json.loads(result.stdout)
    (market,) = [m for m in report["markets"] if m["role"] == "liquidating"]
    assert market["workflow_state"] == "terminated"
    assert a.condition_id  # the venue's markets are unique to this test


async def test_liquidate_all_now_shows_progress_until_everything_is_sold(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    venue = Venue()
    a, _, _ = venue.markets
    config = _config()
    async with _bot(dev_env, task_queue, venue, config) as handle:
        await _a_to_liquidation_b_quoted(handle, venue)
        result = await dualmm(dev_env, "liquidate-all", "--now", "--bot-id", config.bot_id)
        assert result.code == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == f"sent liquidate_all to {handle.id} (and force_exit to each liquidation)"
        assert any(line.startswith("liquidate-all: 1 liquidating") for line in lines)
        assert "completed" in lines[-1] and "finished 1" in lines[-1]
        assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED
        (finished,) = (await handle.result()).finished
        assert (finished.condition_id, finished.exit_stage.value) == (a.condition_id, "MARKET")
        # The Temporal UI reads like the bot: the child's and its activities' summaries. The
        # static summary belongs to the first run (continue-as-new, suggested here after 40
        # events, starts a run without one), so read every run of the child.
        child_id = liquidation_workflow_id(a.condition_id)
        runs = [r async for r in dev_env.client.list_workflows(f"WorkflowId = '{child_id}'")]
        first = min(runs, key=lambda run: run.start_time)
        child = dev_env.client.get_workflow_handle(child_id, run_id=first.run_id)
        described = await child.describe()
        assert (await described.static_summary() or "").startswith(
            "liquidate YES 10 shares: market A-"
        )
        details = await described.static_details() or ""
        assert details.startswith(f"**Selling 10 YES shares** for bot `{config.bot_id}`")
        assert f"Condition id: `{a.condition_id}`" in details
        converter = dev_env.client.data_converter.payload_converter
        summaries = [
            converter.from_payload(event.user_metadata.summary, str)
            for run in runs
            for event in (
                await dev_env.client.get_workflow_handle(
                    child_id, run_id=run.run_id
                ).fetch_history()
            ).events
            # a check's sync is a local activity: its summary is on its marker
            if (
                event.HasField("activity_task_scheduled_event_attributes")
                or event.HasField("marker_recorded_event_attributes")
            )
            and event.user_metadata.HasField("summary")
        ]
        assert "place SELL 10 YES @ 0.49" in summaries, summaries
        assert "check PASSIVE: 10 YES left" in summaries, summaries
        assert [o for o in venue.open_orders() if o["side"] == "SELL"] == []


async def test_liquidate_all_no_wait_returns_at_once(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    venue = Venue()
    config = _config()
    async with _bot(dev_env, task_queue, venue, config) as handle:
        await _a_to_liquidation_b_quoted(handle, venue)
        result = await dualmm(dev_env, "liquidate-all", "--no-wait", "--bot-id", config.bot_id)
        assert result.code == 0, result.stderr
        assert result.stdout == f"sent liquidate_all to {handle.id}\n"
        await _until(handle, lambda s: s.liquidating_all and _liquidating(venue.markets[0])(s))


async def test_orchestrate_takes_a_config_file_the_environment_and_flags(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Flags win over the environment, which wins over the file; --dry-run is paper."""
    bot = f"cfg-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "bot.toml"
    path.write_text(
        f'bot_id = "{bot}"\ndual_market_mode = false\nliquidity_budget = "500"\n'
        '[market_maker]\nposition_limit = "40"\norder_size = "20"\nspread_fraction = "0.25"\n'
        "[liquidation]\ntimeout_minutes = 30\n"
    )
    env = {"DUALMM_TASK_QUEUE": f"nobody-{bot}", "DUALMM_EXCHANGE": "polymarket"}
    result = await dualmm(
        dev_env, "orchestrate", "--config", str(path), "--position-limit", "60", "--dry-run",
        "--liq-skew-start", "2", DUALMM_ORDER_SIZE="30", DUALMM_POSITION_LIMIT="50", **env,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    handle = dev_env.client.get_workflow_handle(active_market_workflow_id(bot))
    try:
        assert result.stdout == f"started workflow {handle.id} (mode paper)\n"
        history = await handle.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        (payload,) = dev_env.client.data_converter.payload_converter.from_payloads(
            list(started.input.payloads), [ActiveMarketInput]
        )
        config = payload.config
        assert config.dual_market_mode is False and config.liquidity_budget == Decimal(500)
        maker = config.market_maker
        assert maker.position_limit == Decimal(60)  # flag over environment over file
        assert maker.order_size == Decimal(30)  # environment over file
        assert maker.spread_fraction == Decimal("0.25")  # file
        assert config.liquidation.timeout_minutes == Decimal(30)  # file
        assert config.liquidation.skew_start_minutes == Decimal(2)  # flag
        assert config.liquidation.price_check_interval_ms == 30_000  # default
        assert (await (await handle.describe()).memo())["mode"] == "paper"
        report = json.loads((await dualmm(dev_env, "status", "--json", "--bot-id", bot)).stdout)
        assert report["mode"] == "paper"
    finally:
        await handle.terminate("test over")

    bad = tmp_path / "bad.toml"
    bad.write_text("[market_maker]\nposition_limit = -1\n")
    refused = await dualmm(dev_env, "orchestrate", "--config", str(bad), **env)
    assert refused.code == 2 and refused.stderr.count("\n") == 1
    assert "market_maker.position_limit" in refused.stderr and str(bad) in refused.stderr
    live_on_sim = await dualmm(dev_env, "orchestrate", "--live", DUALMM_EXCHANGE="sim")
    assert live_on_sim.code == 2 and "--live" in live_on_sim.stderr


async def test_start_or_attach_records_the_mode(dev_env: WorkflowEnvironment) -> None:
    config = _config()
    handle, started = await start_or_attach(
        dev_env.client, f"nobody-{config.bot_id}", config, mode="paper"
    )
    try:
        assert started
        assert (await (await handle.describe()).memo())["mode"] == "paper"
    finally:
        await handle.terminate("test over")
