"""Every bad input gets one line: exit code 2, `error: ...` naming the flag, setting or field,
never a traceback, and nothing started (no output on stdout).

One table over every command, flag, environment setting and scenario field, run in this
process through the CLI's own entry (`dualmm.cli.run`: the parser, the error handling and
the exit code of `dualmm`), each case with its own environment and captured output; a few
rows also run as real `python -m dualmm` processes. Nothing listens at the Temporal address or
the CLOB URL the cases use: a command that got past its validation would fail differently (a
server command that started is stopped by an alarm and reported).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any

import annotated_types
import pytest

from dualmm.cli.backtest.settings import NOT_BACKTESTED
from dualmm.cli.options import CONFIG_FLAGS, Setting

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "scenarios" / "quick-profitable-exit.json"

BASE_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": os.environ.get("HOME", "/tmp"),
    "DUALMM_TEMPORAL_ADDRESS": "127.0.0.1:9",  # nothing listens
    "DUALMM_CLOB_URL": "http://127.0.0.1:9",
    "DUALMM_EXCHANGE": "sim",
    "DUALMM_PRIVATE_KEY": "0x" + "11" * 32,
}

CLIENT_COMMANDS = (
    ("orchestrate",),
    ("status",),
    ("bots",),
    ("exit-market",),
    ("liquidate-all",),
    ("pause",),
    ("resume",),
    ("worker", "--no-tracing"),
)


def _scenario(**changes: Any) -> str:
    data = json.loads(SEED.read_text())
    market = data["markets"][0]
    for key, value in changes.items():
        if key in ("start", "name"):
            data[key] = value
        elif key.startswith("position."):
            market["position"][key.removeprefix("position.")] = value
        else:
            market[key] = value
    return json.dumps(data)


# name -> file content (bytes); written once into the test's directory.
FILES: dict[str, bytes] = {
    "invalid-utf8.json": b'{"name": "\xff\xfe bad"}',
    "deep.json": b"[" * 100_000,
    "deep-object.json": b'{"a":' * 50_000,
    "empty.json": b"",
    "list.json": b"[1, 2, 3]",
    "year-9999.json": _scenario(start="9999-12-31T23:59:00Z").encode(),
    "year-1.json": _scenario(start="0001-01-01T00:00:00Z").encode(),
    "qty-1e30.json": _scenario(**{"position.qty": "1e30"}).encode(),
    "qty-nan.json": _scenario(**{"position.qty": "NaN"}).encode(),
    "cost-inf.json": _scenario(**{"position.avg_cost": "Infinity"}).encode(),
    "min-size-1e30.json": _scenario(min_order_size="1e30").encode(),
    "rate-inf.json": _scenario(rewards_daily_rate="Infinity").encode(),
    "path-1e30.json": _scenario(path=[[0, "0.5"], [10**30, "0.6"]]).encode(),
    "path-mid-nan.json": _scenario(path=[[0, "NaN"]]).encode(),
    "tick-bad.json": _scenario(tick_size="0.03").encode(),
    "cid-huge.json": _scenario(condition_id="x" * 100_000).encode(),
    # orchestrate --config (TOML)
    "invalid-utf8.toml": b'bot_id = "\xff"\n',
    "deep.toml": b"x = " + b"[" * 100_000,
    "deep-table.toml": b"x = " + b"{a=" * 50_000,
    "bad.toml": b"this is = = not toml",
    "limit-nan.toml": b"[market_maker]\nposition_limit = nan\n",
    "limit-inf.toml": b"[market_maker]\nposition_limit = inf\n",
    "size-huge.toml": b"[market_maker]\norder_size = 1e30\n",
    "timeout-huge.toml": b"[liquidation]\ntimeout_minutes = 1e30\n",
    "interval-huge.toml": b"[liquidation]\nprice_check_interval_ms = 99999999999999999999\n",
    "unknown.toml": b"bogus_field = 1\n",
}

CONFIG_ROWS = [
    ("invalid-utf8.toml", "not UTF-8"),
    ("deep.toml", "nested"),
    ("deep-table.toml", "nested"),
    ("bad.toml", "not valid TOML"),
    ("limit-nan.toml", "position_limit"),
    ("limit-inf.toml", "position_limit"),
    ("size-huge.toml", "order_size"),
    ("timeout-huge.toml", "timeout_minutes"),
    ("interval-huge.toml", "price_check_interval_ms"),
    ("unknown.toml", "bogus_field"),
    ("/dev/zero", "too large"),
    ("/nonexistent/bot.toml", "--config"),
    (".", "--config"),
]

SCENARIO_ROWS = [
    ("invalid-utf8.json", "not UTF-8"),
    ("deep.json", "nested"),
    ("deep-object.json", "nested"),
    ("empty.json", "not valid JSON"),
    ("list.json", "a scenario is a JSON object"),
    ("year-9999.json", "start"),
    ("year-1.json", "start"),
    ("qty-1e30.json", "qty"),
    ("qty-nan.json", "qty"),
    ("cost-inf.json", "avg_cost"),
    ("min-size-1e30.json", "min_order_size"),
    ("rate-inf.json", "rewards_daily_rate"),
    ("path-1e30.json", "path"),
    ("path-mid-nan.json", "path"),
    ("tick-bad.json", "tick_size"),
    ("cid-huge.json", "condition_id"),
    ("/dev/zero", "too large"),
    ("/nonexistent/scenario.json", "cannot read"),
    (".", "cannot read"),
]


def _bad_values(spec: Setting) -> list[str]:
    """Values a setting's flag must refuse: not a number (or not whole), and each bound of its
    config field just crossed."""
    field = spec.field
    if field.annotation is str:  # a name: each length bound crossed, outside its pattern
        lengths = [m for m in field.metadata if isinstance(m, annotated_types.MaxLen)]
        return ["", "no spaces", *("x" * (m.max_length + 1) for m in lengths)]
    decimal = field.annotation is Decimal
    values = ["abc", ""] + (["nan", "inf", "-inf", "1e30"] if decimal else ["1.5", "1e3"])
    if not decimal:
        values.append("99999999999999999999")
    for bound in field.metadata:
        if isinstance(bound, annotated_types.Gt):
            values.append(str(bound.gt))
        elif isinstance(bound, annotated_types.Ge):
            values.append(str(bound.ge - 1))
        elif isinstance(bound, annotated_types.Lt):
            values.append(str(bound.lt))
        elif isinstance(bound, annotated_types.Le):
            values.append(str(bound.le + 1))
    return values


# (command line, extra environment, what the line must name)
Row = tuple[tuple[str, ...], dict[str, str], str]


def _rows() -> list[Row]:
    rows: list[Row] = []
    # Malformed settings, for every command that reads them.
    for command in CLIENT_COMMANDS:
        for address in ("127.0.0.1:99999", "", "localhost:abc", "localhost", "http://x:7233"):
            rows.append((command, {"DUALMM_TEMPORAL_ADDRESS": address}, "DUALMM_TEMPORAL_ADDRESS"))
        rows.append((command, {"DUALMM_TASK_QUEUE": ""}, "DUALMM_TASK_QUEUE"))
        rows.append((command, {"DUALMM_TEMPORAL_NAMESPACE": ""}, "DUALMM_TEMPORAL_NAMESPACE"))
        rows.append((command, {"DUALMM_TEMPORAL_TLS": "maybe"}, "DUALMM_TEMPORAL_TLS"))
        rows.append((command, {"DUALMM_CODEC_KEY": "not-a-key"}, "DUALMM_CODEC_KEY"))
    venue_commands: list[tuple[str, ...]] = [
        ("worker", "--no-tracing"),
        ("markets", "--url", "http://127.0.0.1:9"),
    ]
    for command in venue_commands:
        for timeout in ("inf", "nan", "-1", "0", "abc", "1e30"):
            rows.append(
                (command, {"DUALMM_CLOB_TIMEOUT_SECONDS": timeout}, "DUALMM_CLOB_TIMEOUT_SECONDS")
            )
        rows.append((command, {"DUALMM_EXCHANGE": "bogus"}, "DUALMM_EXCHANGE"))
        rows.append((command, {"DUALMM_CHAIN_ID": "abc"}, "DUALMM_CHAIN_ID"))
        rows.append((command, {"DUALMM_CHAIN_ID": "-1"}, "DUALMM_CHAIN_ID"))
        rows.append((command, {"DUALMM_SIGNATURE_TYPE": "9"}, "DUALMM_SIGNATURE_TYPE"))
        rows.append((command, {"DUALMM_FUNDER": "0xnothex"}, "DUALMM_FUNDER"))
    for url in ("not a url", "", "ftp://example.com", "http://", "http://x:99999"):
        rows.append((("worker", "--no-tracing"), {"DUALMM_CLOB_URL": url}, "DUALMM_CLOB_URL"))
        rows.append((("markets", "--url", url), {}, "--url"))
    key = {"DUALMM_PRIVATE_KEY": "nothex"}
    rows.append((("worker", "--no-tracing"), key, "DUALMM_PRIVATE_KEY"))
    for url in ("http://x/ws/user", "not a url", "ws://", "ws://x:99999"):
        env = {"DUALMM_USER_CHANNEL_URL": url}
        rows.append((("worker", "--no-tracing"), env, "DUALMM_USER_CHANNEL_URL"))
    channel = {"DUALMM_USER_CHANNEL": "maybe"}
    rows.append((("worker", "--no-tracing"), channel, "DUALMM_USER_CHANNEL"))

    # The bot's settings, from their one declaration (the `Flag` of each dualmm.config field,
    # listed by dualmm.cli.options.CONFIG_FLAGS): every valued flag gets non-numbers and each
    # bound of its field crossed, on every command that takes it and in its DUALMM_* variable.
    for spec in CONFIG_FLAGS:
        if "/" in spec.decl:  # a switch
            if spec.env:
                rows.append((("orchestrate",), {spec.env: "maybe"}, spec.name))
            continue
        commands = [("orchestrate",)]
        if spec.path.startswith("liquidation."):
            commands.append(("replay", str(SEED)))
        if spec.name not in NOT_BACKTESTED:
            commands.append(("backtest", "--synthetic"))
        if spec.path in ("liquidity_budget", "market_maker.order_size"):
            commands.append(("markets",))
        for value in _bad_values(spec):
            for command in commands:
                rows.append(((*command, spec.name, value), {}, spec.name))
            if spec.env and value:  # an empty variable is an unset one
                rows.append((("orchestrate",), {spec.env: value}, spec.name))
    for command in (("orchestrate",), ("replay", str(SEED))):
        # Contradictory flags.
        rows.append(
            (
                (*command, "--no-liq-stop-loss", "--liq-stop-loss-threshold", "-5"),
                {},
                "--liq-stop-loss-threshold",
            )
        )
        rows.append(
            (
                (*command, "--no-liq-block-losing", "--liq-profit-margin", "0.02"),
                {},
                "--liq-profit-margin",
            )
        )
    rows.append(
        (
            ("replay", str(SEED), "--temporal", "--liq-check-interval", "99999999999999999999"),
            {},
            "--liq-check-interval",
        )
    )
    for value in ("", "no spaces", "x" * 300):
        for command in ("orchestrate", "status", "pause"):
            rows.append(((command, "--bot-id", value), {}, "--bot-id"))

    # markets
    bad_numbers = ("nan", "inf", "-inf", "-1", "1e30", "abc", "")
    for value in (*bad_numbers, "0"):
        rows.append((("markets", "--order-size", value), {}, "--order-size"))
        rows.append((("markets", "--liquidity", value), {}, "--liquidity"))
    for flag in ("--min-price", "--max-price", "--max-volatility"):
        for value in ("nan", "inf", "-1", "2", "abc"):
            rows.append((("markets", flag, value), {}, flag))
    for value in ("nan", "inf", "-1", "0", "1e30", "abc"):
        rows.append((("markets", "--volatility-lookback", value), {}, "--volatility-lookback"))
        if value != "0":  # no end-date filter at all is fine
            rows.append((("markets", "--min-hours-to-end", value), {}, "--min-hours-to-end"))
    rows.append((("markets", "--min-price", "0.9", "--max-price", "0.1"), {}, "--min-price"))
    rows.append((("markets", "--limit", "0"), {}, "--limit"))
    rows.append((("markets", "--sim-markets", "0"), {}, "--sim-markets"))
    rows.append((("markets", "--sim-markets", "1000000"), {}, "--sim-markets"))
    rows.append((("markets", "--exchange", "bogus"), {}, "--exchange"))

    # sim-server
    for value in ("nan", "inf", "-1", "1e30", "abc"):
        rows.append((("sim-server", "--port", "0", "--fund", value), {}, "--fund"))
    for flag in ("--error-rate", "--rate-limit-rate", "--accept-timeout-rate"):
        for value in ("nan", "inf", "-0.1", "2", "abc"):
            rows.append((("sim-server", "--port", "0", flag, value), {}, flag))
    for value in ("nan", "inf", "0", "-1", "abc"):
        rows.append((("sim-server", "--port", "0", "--speed", value), {}, "--speed"))
    for value in ("nan", "inf", "-1"):
        hang = ("sim-server", "--port", "0", "--accept-timeout-hang", value)
        rows.append((hang, {}, "--accept-timeout-hang"))
    rows.append((("sim-server", "--port", "70000"), {}, "--port"))
    rows.append((("sim-server", "--port", "0", "--markets", "0"), {}, "--markets"))
    rows.append((("sim-server", "--port", "0", "--latency-ms", "-1"), {}, "--latency-ms"))
    rows.append((("sim-server", "--port", "0", "--page-size", "0"), {}, "--page-size"))

    # codec-server
    codec_key = {"DUALMM_CODEC_KEY": "ab" * 32}
    cs = ("codec-server", "--port", "0")
    rows.append((cs, {}, "DUALMM_CODEC_KEY"))  # no key: nothing to decrypt with
    rows.append((cs, {"DUALMM_CODEC_KEY": "ab" * 31}, "DUALMM_CODEC_KEY"))
    rows.append((cs, {**codec_key, "DUALMM_CODEC_PREVIOUS_KEYS": "x"}, "PREVIOUS_KEYS"))
    rows.append((cs, {**codec_key, "DUALMM_CODEC_TOKEN": "short"}, "DUALMM_CODEC_TOKEN"))
    rows.append(((*cs, "--host", "0.0.0.0"), codec_key, "--host"))  # not loopback, no token
    token = {**codec_key, "DUALMM_CODEC_TOKEN": "t" * 32}
    rows.append(((*cs, "--host", "no such host"), token, "--host"))
    for port in ("70000", "-1", "abc"):
        rows.append((("codec-server", "--port", port), codec_key, "--port"))
    for origin in ("ftp://x", "not a url", "http://localhost:8233/namespaces", ""):
        rows.append(((*cs, "--cors-origin", origin), codec_key, "--cors-origin"))

    # worker
    for path in ("/etc/hostname/traces.jsonl", "/", "/proc/nope/x.jsonl"):
        rows.append((("worker", "--trace-file", path), {}, "--trace-file"))

    for value in ("nan", "inf", "0", "-1", "abc", "1e30"):
        rows.append((("worker", "--start-timeout", value), {}, "--start-timeout"))

    # status, liquidate-all and the environment's orchestrate settings
    for value in ("nan", "inf", "0", "-1", "abc", "1e30"):
        rows.append((("status", "--interval", value), {}, "--interval"))
    for value in ("", "no spaces", "x" * 300):
        if value:  # an empty variable is an unset one
            rows.append((("status",), {"DUALMM_BOT_ID": value}, "--bot-id"))
        rows.append((("liquidate-all", "--now", "--bot-id", value), {}, "--bot-id"))

    # backtest (each row would otherwise simulate: none may get that far)
    bt = ("backtest", "--synthetic", "--markets", "2", "--days", "0.01")
    for flag in ("--position-limit", "--order-size", "--liquidity-budget", "--fee-rate"):
        for value in ("nan", "inf", "-1", "1e30", "abc"):
            rows.append(((*bt, flag, value), {}, flag))
    for value in ("nan", "inf", "-1", "0", "1e30", "abc"):
        rows.append((("backtest", "--synthetic", "--days", value), {}, "--days"))
    for flag in ("--rewards-daily-rate", "--rewards-max-spread", "--rewards-min-size"):
        for value in ("nan", "inf", "-1", "1e30"):
            rows.append((("backtest", str(SEED), flag, value), {}, flag))
    for value in ("0", "7", "-5", "99999999999999999999"):
        rows.append(((*bt, "--step", value), {}, "--step"))
    for value in ("0", "100000"):
        rows.append((("backtest", "--synthetic", "--markets", value), {}, "--markets"))
    rows.append((("backtest", "--synthetic", str(SEED)), {}, "--synthetic"))
    rows.append((("backtest",), {}, "INPUT"))
    rows.append((("backtest", str(SEED), "--mode", "triple"), {}, "--mode"))
    rows.append(((*bt, "--sweep", "bogus"), {}, "--sweep"))
    rows.append(((*bt, "--plot", "/etc/hostname/x.png"), {}, "--plot"))
    rows.append(((*bt, "--liq-timeout", "1e30"), {}, "--liq-timeout"))
    rows.append(((*bt, "--liq-check-interval", "99999999999999999999"), {}, "--liq-check-interval"))

    # demo: validated before anything starts
    for value in ("0", "-1", "abc", "99999999999999999999"):
        rows.append((("demo", "--duration", value), {}, "--duration"))
    return rows


def _scenario_rows(tmp: Path) -> list[Row]:
    rows: list[Row] = []
    for name, needle in CONFIG_ROWS:
        path = name if name.startswith("/") or name == "." else str(tmp / name)
        rows.append((("orchestrate", "--config", path), {}, needle))
    for name, needle in SCENARIO_ROWS:
        path = name if name.startswith("/") or name == "." else str(tmp / name)
        rows.append((("replay", path), {}, needle))
        rows.append((("backtest", path), {}, "markets.parquet" if name == "." else needle))
        rows.append((("replay", path, "--temporal"), {}, needle))
        rows.append((("sim-server", "--port", "0", "--scenario", path), {}, needle))
    return rows


CASE_TIMEOUT_SECONDS = 30


class CaseTimedOut(Exception):
    """A case ran past its alarm: it got past validation and started something."""


@contextlib.contextmanager
def _process_state_restored() -> Iterator[None]:
    """Put back what running commands in this process changes: the environment, the working
    directory, the root logger's handlers and level, the secrets logs redact, os._exit."""
    from dualmm import logs

    environ, cwd = dict(os.environ), os.getcwd()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    secrets = set(logs._secrets)
    real_exit = os._exit

    def exit_instead(code: int) -> None:  # hard_exit must end the command, not pytest
        raise SystemExit(code)

    os._exit = exit_instead  # type: ignore[assignment]
    try:
        yield
    finally:
        os._exit = real_exit
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(cwd)
        root.handlers[:] = handlers
        root.setLevel(level)
        logs._secrets.clear()
        logs._secrets.update(secrets)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise CaseTimedOut(f"still running after {CASE_TIMEOUT_SECONDS} s")


def run_in_process(
    command: Any,
    args: list[str],
    env: dict[str, str],
    cwd: Path,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, Any]:
    """One command line through `dualmm.cli.run` with the app's parser `command`: its exit
    code, stdout and stderr."""
    from dualmm import cli

    capsys.readouterr()
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    with _process_state_restored():
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        signal.alarm(CASE_TIMEOUT_SECONDS)
        try:
            code = cli.run(args, command)
        except BaseException as exc:  # a traceback, which the table reports
            import traceback

            traceback.print_exception(exc)
            code = 1
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
    captured = capsys.readouterr()
    return {"code": code, "stdout": captured.out, "stderr": captured.err}


@pytest.fixture(scope="module")
def bad_input_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("bad-input")
    for name, content in FILES.items():
        (tmp / name).write_bytes(content)
    return tmp


def all_rows(tmp: Path) -> list[Row]:
    return _rows() + _scenario_rows(tmp)


def _problem(row: Row, result: dict[str, Any]) -> str | None:
    """None when the result is the one line the row wants, else what is wrong with it."""
    args, env, needle = row
    stderr = result["stderr"]
    ok = (
        result["code"] == 2
        and stderr.startswith("error: ")
        and stderr.count("\n") == 1
        and needle in stderr
        and "Traceback" not in stderr
        and result["stdout"] == ""
    )
    if ok:
        return None
    shown_env = {k: v for k, v in env.items() if k not in BASE_ENV or BASE_ENV[k] != v}
    return (
        f"{' '.join(a[:60] for a in args)} {shown_env or ''} -> code {result['code']}: "
        f"{stderr.strip().splitlines()[-1][:200] if stderr.strip() else '(no stderr)'}"
        f" (want {needle!r})"
    )


def test_every_bad_input_is_one_line_naming_what_is_wrong(
    bad_input_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import typer

    from dualmm import cli

    cli._register_all()
    command = typer.main.get_command(cli.app)
    rows = all_rows(bad_input_dir)
    broken = []
    for row in rows:
        args, env, _ = row
        result = run_in_process(command, list(args), {**BASE_ENV, **env}, bad_input_dir, capsys)
        problem = _problem(row, result)
        if problem:
            broken.append(problem)
    assert not broken, f"{len(broken)} of {len(rows)} bad inputs:\n" + "\n".join(broken)


# A few rows through the real entry point, `python -m dualmm`, in processes of their own:
# a parser error, a setting, a flag the command checks, a scenario file, a config file.
SUBPROCESS_ROWS: list[Row] = [
    (("orchestrate", "--no-such-flag"), {}, "--no-such-flag"),
    (("status",), {"DUALMM_TEMPORAL_ADDRESS": "localhost"}, "DUALMM_TEMPORAL_ADDRESS"),
    (("markets", "--min-price", "nan"), {}, "--min-price"),
    (("replay", "deep.json"), {}, "nested"),
    (("orchestrate", "--config", "limit-nan.toml"), {}, "position_limit"),
]


@pytest.mark.parametrize("row", SUBPROCESS_ROWS, ids=lambda row: " ".join(row[0]))
def test_the_real_entry_point_says_it_in_one_line_too(bad_input_dir: Path, row: Row) -> None:
    args, env, _ = row
    done = subprocess.run(
        [sys.executable, "-m", "dualmm", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=bad_input_dir,
        env={**BASE_ENV, **env, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    result = {"code": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
    assert _problem(row, result) is None


def test_a_position_limit_below_every_markets_minimum_is_refused_before_starting() -> None:
    """The venue answers: a limit under every minimum order size could never quote."""
    from datetime import UTC, datetime

    from dualmm.sim.server import SimServer
    from dualmm.sim.synthetic import SYNTHETIC_HISTORY
    from dualmm.sim.venue import SimVenue, WallClock

    now = datetime.now(UTC)
    venue = SimVenue.synthetic(4, 1, WallClock(now), start=now - SYNTHETIC_HISTORY)
    smallest = min(m.min_order_size for m in venue.markets())
    with SimServer(venue) as server:
        env = {**os.environ, **BASE_ENV, "DUALMM_CLOB_URL": server.url}
        below = subprocess.run(
            [sys.executable, "-m", "dualmm", "orchestrate", "--position-limit", "1"],
            capture_output=True, text=True, timeout=120, env=env, check=False,
        )  # fmt: skip
        assert below.returncode == 2, below.stderr
        assert below.stderr.count("\n") == 1
        assert below.stderr.startswith("error: --position-limit: 1 is below every market's")
        assert f"is {smallest}" in below.stderr
        # At the smallest minimum the check passes and the command goes on (to the dead
        # Temporal address).
        at = subprocess.run(
            [sys.executable, "-m", "dualmm", "orchestrate", "--position-limit", str(smallest)],
            capture_output=True, text=True, timeout=120, env=env, check=False,
        )  # fmt: skip
        assert "cannot reach Temporal" in at.stderr, at.stderr
