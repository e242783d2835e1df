"""Every bad input gets one line: exit code 2, `error: ...` naming the flag, setting or field,
never a traceback, and nothing started (no output on stdout).

One table over every command, flag, environment setting and scenario field. The cases run in
one process that imports the CLI once and forks a child per case (`tests/cli_runner.py`), so
the whole table takes seconds, not minutes. Nothing listens at the Temporal address or the
CLOB URL the cases use: a command that got past its validation would fail differently (and a
server command that started would be killed by the runner's alarm and reported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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

    # Numbers: NaN, inf, negative, zero, huge, non-numeric.
    bad_numbers = ("nan", "inf", "-inf", "-1", "1e30", "abc", "")
    for flag in ("--position-limit", "--order-size", "--liquidity-budget"):
        for value in (*bad_numbers, "0"):
            rows.append((("orchestrate", flag, value), {}, flag))
    for flag in ("--spread-fraction", "--requote-threshold"):
        for value in (*bad_numbers, "0", "2"):
            rows.append((("orchestrate", flag, value), {}, flag))
    for value in ("0", "-1", "99999999999999999999", "abc", "1.5"):
        rows.append((("orchestrate", "--quote-interval", value), {}, "--quote-interval"))
    liq_decimal = {
        "--liq-profit-margin": ("nan", "inf", "-1", "1e30", "abc", "1"),
        "--liq-skew-start": ("nan", "inf", "-1", "1e30", "abc"),
        "--liq-skew-rate": ("nan", "inf", "-1", "1e30", "abc", "1"),
        "--liq-skew-max": ("nan", "inf", "-1", "1e30", "abc", "1"),
        "--liq-stop-loss-threshold": ("nan", "-inf", "1", "-1e30", "abc"),
        "--liq-timeout": ("nan", "inf", "-1", "0", "1e30", "abc"),
    }
    liq_int = {"--liq-check-interval": ("0", "-5", "99999999999999999999", "1e3", "abc")}
    for command in (("orchestrate",), ("replay", str(SEED))):
        for flag, values in {**liq_decimal, **liq_int}.items():
            for value in values:
                rows.append(((*command, flag, value), {}, flag))
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
    for var in ("DUALMM_POSITION_LIMIT", "DUALMM_ORDER_SIZE", "DUALMM_LIQUIDITY_BUDGET"):
        for value in ("nan", "inf", "-1", "1e30", "abc"):
            rows.append((("orchestrate",), {var: value}, "--"))

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


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Row, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("bad-input")
    for name, content in FILES.items():
        (tmp / name).write_bytes(content)
    rows = _rows() + _scenario_rows(tmp)
    cases = [{"args": list(args), "env": {**BASE_ENV, **env}} for args, env, _ in rows]
    spec = tmp / "cases.json"
    spec.write_text(json.dumps(cases))
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("cli_runner.py")), str(spec)],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=tmp,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    return dict(enumerate(zip(rows, results, strict=True)))


def test_every_bad_input_is_one_line_naming_what_is_wrong(
    outcomes: dict[int, tuple[Row, dict[str, Any]]],
) -> None:
    broken = []
    for (args, env, needle), result in outcomes.values():
        stderr = result["stderr"]
        ok = (
            result["code"] == 2
            and stderr.startswith("error: ")
            and stderr.count("\n") == 1
            and needle in stderr
            and "Traceback" not in stderr
            and result["stdout"] == ""
        )
        if not ok:
            shown_env = {k: v for k, v in env.items() if k not in BASE_ENV or BASE_ENV[k] != v}
            broken.append(
                f"{' '.join(a[:60] for a in args)} {shown_env or ''} -> code {result['code']}: "
                f"{stderr.strip().splitlines()[-1][:200] if stderr.strip() else '(no stderr)'}"
                f" (want {needle!r})"
            )
    assert not broken, f"{len(broken)} of {len(outcomes)} bad inputs:\n" + "\n".join(broken)


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
