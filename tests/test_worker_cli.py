"""The runtime commands: flags, one-line errors, and no live exchange without `--live`."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from decimal import Decimal
from unittest.mock import MagicMock

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from dualmm.cli.options import orchestrator_config
from dualmm.config import ProcessSettings
from dualmm.errors import UsageError
from dualmm.exchange.factory import open_exchange, trading_mode
from workflows.active_market import ActiveMarketInput
from workflows.contracts import active_market_workflow_id

# Nothing listens here: a command that tried to reach an exchange would fail.
DEAD_CLOB = "http://127.0.0.1:9"


def dualmm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dualmm", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("orchestrate", "--position-limit", "lots"), "--position-limit: 'lots' is not a number"),
        (("orchestrate", "--position-limit", "0"), "market_maker.position_limit"),
        (("orchestrate", "--quote-interval", "0"), "market_maker.quote_interval_ms"),
        (("orchestrate", "--liq-check-interval", "0"), "price_check_interval_ms"),
        (("orchestrate", "--bot-id", "no spaces"), "--bot-id"),
        (("orchestrate", "--liquidity-budget", "-5"), "liquidity_budget"),
        (("orchestrate", "--bogus"), "No such option: --bogus"),
        (("worker", "--bogus"), "No such option: --bogus"),
        (("demo", "--duration", "0"), "--duration"),
        (("status", "--bot-id"), "--bot-id"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    result = dualmm(*args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert message in result.stderr
    assert result.stdout == ""


def test_config_from_flags_keeps_defaults_for_unset_ones() -> None:
    config = orchestrator_config(
        {
            "--bot-id": "b1",
            "--dual-market-mode": False,
            "--position-limit": "25",
            "--liquidity-budget": "500",
        }
    )
    assert (config.bot_id, config.dual_market_mode) == ("b1", False)
    assert config.market_maker.position_limit == Decimal(25)
    assert config.liquidity_budget == Decimal(500)
    assert config.market_maker.order_size == Decimal(50)  # default
    assert config.liquidation.price_check_interval_ms == 30_000  # seed default
    with pytest.raises(UsageError, match="order_size"):
        orchestrator_config({"--order-size": "-1"})


@pytest.mark.parametrize(
    ("exchange", "live", "dry_run", "mode"),
    [
        ("polymarket", False, False, "paper"),  # real data, simulated fills: no --live
        ("polymarket", False, True, "paper"),
        ("polymarket", True, False, "live"),
        ("paper", False, False, "paper"),
        ("sim", False, False, "sim"),  # the simulator needs no --live
        ("sim", False, True, "sim"),
    ],
)
def test_trading_mode_is_live_only_with_live_on_polymarket(
    exchange: str, live: bool, dry_run: bool, mode: str
) -> None:
    settings = ProcessSettings(exchange=exchange)  # type: ignore[arg-type]
    assert trading_mode(settings, live=live, dry_run=dry_run) == mode


@pytest.mark.parametrize(
    ("exchange", "live", "dry_run", "message"),
    [
        ("polymarket", True, True, "contradict"),
        ("sim", True, False, "the simulator has no real orders"),
        ("paper", True, False, "--live needs DUALMM_EXCHANGE=polymarket"),
    ],
)
def test_trading_mode_refuses_contradictions(
    exchange: str, live: bool, dry_run: bool, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        trading_mode(ProcessSettings(exchange=exchange), live=live, dry_run=dry_run)  # type: ignore[arg-type]


@pytest.mark.parametrize(("exchange", "live"), [("polymarket", False), ("polymarket", True)])
async def test_only_live_opens_a_client_that_can_sign(
    monkeypatch: pytest.MonkeyPatch, exchange: str, live: bool
) -> None:
    connected: list[bool] = []

    async def fake_connect(settings: ProcessSettings, *, read_only: bool = False) -> object:
        connected.append(read_only)
        return MagicMock()

    monkeypatch.setattr("dualmm.exchange.clob.ClobExchange.connect", fake_connect)
    settings = ProcessSettings(exchange=exchange)  # type: ignore[arg-type]
    await open_exchange(settings, trading_mode(settings, live=live))
    assert connected == [not live]


async def test_orchestrate_starts_then_attaches_and_never_builds_an_exchange(
    dev_env: WorkflowEnvironment,
) -> None:
    """Even with DUALMM_EXCHANGE=polymarket and a key, orchestrate touches no exchange."""
    bot = f"cli-{uuid.uuid4().hex[:8]}"
    env = {
        "DUALMM_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "DUALMM_TASK_QUEUE": f"no-worker-{bot}",  # nobody runs it: we only look at the start
        "DUALMM_EXCHANGE": "polymarket",
        "DUALMM_CLOB_URL": DEAD_CLOB,
        "DUALMM_PRIVATE_KEY": "0x" + "ab" * 32,
    }
    handle = dev_env.client.get_workflow_handle(active_market_workflow_id(bot))
    try:
        first = dualmm(
            "orchestrate", "--bot-id", bot, "--single-market-mode", "--position-limit", "60",
            env=env,
        )  # fmt: skip
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == f"started workflow {handle.id} (mode paper)"
        description = await handle.describe()
        assert description.status is WorkflowExecutionStatus.RUNNING
        assert description.task_queue == env["DUALMM_TASK_QUEUE"]
        history = await handle.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        (payload,) = dev_env.client.data_converter.payload_converter.from_payloads(
            list(started.input.payloads), [ActiveMarketInput]
        )
        assert payload.config.dual_market_mode is False
        assert payload.config.market_maker.position_limit == Decimal(60)
        assert "ab" * 32 not in str(started.input)  # the key never enters the history

        again = dualmm("orchestrate", "--bot-id", bot, env=env)
        assert again.returncode == 0, again.stderr
        assert again.stdout.startswith(f"attached to the running workflow {handle.id}")
    finally:
        await handle.terminate("test over")


def test_operator_command_on_a_missing_bot_is_one_line(dev_env: WorkflowEnvironment) -> None:
    env = {"DUALMM_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host}
    result = dualmm("status", "--bot-id", f"missing-{uuid.uuid4().hex[:8]}", env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: no bot ")


def test_unreachable_temporal_is_one_line() -> None:
    result = dualmm("pause", env={"DUALMM_TEMPORAL_ADDRESS": "127.0.0.1:9"})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot reach Temporal" in result.stderr


def test_worker_without_a_key_is_one_line() -> None:
    """A missing key does not heal by waiting (Temporal or the venue being down does:
    tests/test_worker_startup.py)."""
    no_key = dualmm("worker", env={"DUALMM_EXCHANGE": "sim"})
    assert no_key.returncode == 2
    assert no_key.stderr == "error: exchange sim: no private key configured (DUALMM_PRIVATE_KEY)\n"
