"""Logs: one structured line per event with its workflow, market and order ids; no per-request
INFO noise; a routine "order not found" is no ERROR; never a secret (dualmm.logs)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from test_active_market_workflow import (
    Venue,
    _a_to_liquidation_b_quoted,
    _config,
    _terminate,
    _until,
    _worker_process,
)
from test_exchange_contract import contract_venue, fresh_key, sim_settings

from dualmm.config import ProcessSettings
from dualmm.exchange.clob import ClobExchange
from dualmm.logs import REDACTED, EventFormatter, configure, redact_settings
from dualmm.runtime import start_or_attach
from dualmm.sim.server import SimServer
from workflows.contracts import active_market_workflow_id, liquidation_workflow_id


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The process's logging, as the worker configures it, into a buffer (restored after)."""
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure("worker", level="INFO", fmt="json", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _record(msg: str, level: int = logging.INFO, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("dualmm.test", level, __file__, 1, msg, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_an_event_is_one_line_with_temporal_ids_market_and_order() -> None:
    record = _record(
        "order placed: SELL 10 @ 0.49",
        temporal_activity={
            "activity_type": "liquidation_place_order",
            "attempt": 1,
            "workflow_id": "liquidation-0xabc",
            "workflow_run_id": "run-1",
            "workflow_type": "LiquidationWorkflow",
        },
        market="0x" + "ab" * 32,
        order_id="0x" + "cd" * 32,
    )
    try:
        raise ValueError("two\nlines")
    except ValueError:
        record.exc_info = sys.exc_info()
    event = json.loads(EventFormatter("json").format(record))
    assert event["workflow_id"] == "liquidation-0xabc" and event["run_id"] == "run-1"
    assert event["activity"] == "liquidation_place_order"
    assert event["market"] == "0xabababab"  # short, still greppable
    assert event["order_id"] == "0x" + "cd" * 32
    assert "two\nlines" in event["exc"]
    text = EventFormatter("text").format(record)
    assert "\n" not in text
    assert 'msg="order placed: SELL 10 @ 0.49"' in text
    assert "workflow_id=liquidation-0xabc run_id=run-1" in text
    assert "market=0xabababab" in text


def test_secret_values_of_the_settings_never_reach_a_line(captured: io.StringIO) -> None:
    key = "0x" + "5e" * 32
    settings = ProcessSettings(
        private_key=SecretStr(key),
        api_key=SecretStr("key-0123456789"),
        api_secret=SecretStr("c2VjcmV0LXNlY3JldC1zZWNyZXQ="),
        api_passphrase=SecretStr("pass-phrase-0123"),
    )
    redact_settings(settings)
    log = logging.getLogger("dualmm.test")
    log.warning("signing with %s", key)
    log.warning("bare key %s", key.removeprefix("0x"))
    log.error("creds %s %s", "c2VjcmV0LXNlY3JldC1zZWNyZXQ=", "pass-phrase-0123")
    log.info("ids", extra={"order_id": "key-0123456789"})
    text = captured.getvalue()
    assert "5e5e5e5e" not in text and "c2VjcmV0" not in text and "pass-phrase" not in text
    assert "key-0123456789" not in text
    assert text.count(REDACTED) == 5


def test_request_lines_are_quiet_and_an_unknown_order_is_no_error(
    captured: io.StringIO,
) -> None:
    """httpx's per-request INFO lines are off; the SDK's ERROR line for each non-200 answer
    (a 404 for an order the venue no longer knows) is DEBUG; the adapter's answers stand."""

    async def lookups() -> None:
        with SimServer(contract_venue()) as server:
            exchange = await ClobExchange.connect(sim_settings(server.url, fresh_key()))
            assert await exchange.get_order("0x" + "99" * 32) is None
            await exchange.cancel_order("0x" + "98" * 32)  # already gone: a success

    asyncio.run(lookups())
    lines = _lines(captured)
    assert not [line for line in lines if line["level"] in ("ERROR", "CRITICAL")], lines
    assert not [line for line in lines if "HTTP Request" in line["msg"]], lines
    assert not [line for line in lines if line["logger"].startswith("py_clob_client")], lines


def test_a_bad_log_setting_is_one_line_naming_it() -> None:
    env = {**os.environ, "DUALMM_LOG_FORMAT": "xml"}
    done = subprocess.run(
        [sys.executable, "-m", "dualmm", "bots"], capture_output=True, text=True, env=env,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: DUALMM_LOG_FORMAT: 'xml' is not one of text, json"
    ]


# -- a worker process's log of a round and a liquidation (dev server) ---------------------------


async def test_a_workers_log_of_a_liquidation_has_its_events_and_no_secret(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    venue = Venue()
    a, _, _ = venue.markets
    key = "0x" + "47" * 32
    client = dev_env.client
    log = tmp_path / "worker.log"
    with SimServer(venue.venue) as server:
        worker = _worker_process(
            dev_env, task_queue, server.url, key, log, DUALMM_LOG_FORMAT="json"
        )
        config = _config()
        handle, _ = await start_or_attach(client, task_queue, config)
        try:
            await _a_to_liquidation_b_quoted(handle, venue)
            venue.move(a, "0.50")  # the liquidation's SELL @ 0.49 fills
            await _until(handle, lambda s: s.liquidations_finished == 1)
            # The same key derives the same API credentials: the ones the worker holds.
            creds = (await ClobExchange.connect(sim_settings(server.url, key)))._client.creds
        finally:
            await _terminate(client, handle.id)
            for market in venue.markets:
                await _terminate(client, liquidation_workflow_id(market.condition_id))
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
    text = log.read_text()
    for secret in (key, key.removeprefix("0x"), creds.api_secret, creds.api_passphrase):
        assert secret not in text
    assert creds.api_key not in text
    events = [json.loads(line) for line in text.splitlines()]  # every line is one JSON event
    assert not [e for e in events if "HTTP Request" in e["msg"]]
    assert not [e for e in events if e["level"] == "INFO" and e["logger"].startswith("http")]
    assert not [e for e in events if e["level"] == "ERROR"], events

    bot_id = active_market_workflow_id(config.bot_id)
    child_id = liquidation_workflow_id(a.condition_id)

    def find(prefix: str, workflow_id: str) -> dict[str, Any]:
        found = [
            e for e in events if e["msg"].startswith(prefix) and e.get("workflow_id") == workflow_id
        ]
        assert found, f"no {prefix!r} event of {workflow_id} in {events}"
        assert all(e["run_id"] for e in found)
        return found[0]

    assert find("quoting", bot_id)["market"] == a.condition_id
    assert find("position limit: liquidation", bot_id)["market"] == a.condition_id
    assert find("liquidation started", child_id)["market"] == a.condition_id
    placed = find("order placed: SELL", child_id)
    assert placed["market"] == a.condition_id and placed["order_id"].startswith("0x")
    assert placed["activity"] == "liquidation_place_order"
    fill = find("fill: SELL", child_id)
    assert fill["order_id"] == placed["order_id"]
    assert find("liquidation closed", child_id)["market"] == a.condition_id
    assert find("liquidation finished", bot_id)["market"] == a.condition_id
    quote = find("order placed: BUY", bot_id)
    assert quote["activity"] == "make_market" and quote["order_id"].startswith("0x")
    bought = find("fill: BUY", bot_id)
    assert bought["market"] == a.condition_id and bought["activity"] == "make_market"
    assert len([e for e in events if e["msg"].startswith("fill:")]) == 2  # each fill once


@pytest.mark.parametrize("access_log", [False, True])
def test_the_simulators_request_lines_only_with_access_log(access_log: bool) -> None:
    command = [sys.executable, "-m", "dualmm", "sim-server", "--port", "0", "--markets", "1"]
    process = subprocess.Popen(
        [*command, *(["--access-log"] if access_log else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DUALMM_LOG_FORMAT": "json"},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[2]
        for _ in range(3):
            assert httpx.get(f"{url}/time", timeout=10).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    requests = [json.loads(line) for line in err.splitlines() if "GET /time" in line]
    assert len(requests) == (3 if access_log else 0), err
    assert all(r["logger"] == "dualmm.sim.http" for r in requests)
