"""`dualmm backtest` from the command line: inputs, flags, report shape, --plot, --sweep, errors."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from backtest_cases import FILL_PATH, START, market

RECORDED = Path(__file__).parent / "data" / "resolvedkit-sample"
MODE_FIELDS = {
    "uptime", "rewards", "liquidations", "median_exit_minutes_profitable",
    "p90_exit_minutes_profitable", "median_exit_minutes_loss", "p90_exit_minutes_loss",
    "liquidation_pnl", "net_pnl", "loss_to_earnings", "peak_capital", "capital_efficiency",
    "days",
}  # fmt: skip


def dualmm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dualmm", "backtest", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def write_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "two.json"
    markets = [
        market("aa", FILL_PATH, competition=[]),
        market("bb", [[0, "0.50"], [3600, "0.50"]], rate="60", competition=[]),
    ]
    path.write_text(json.dumps({"name": "two", "start": START, "markets": markets}))
    return path


def test_scenario_json_report_shape_and_no_progress_bar(tmp_path: Path) -> None:
    result = dualmm(str(write_scenario(tmp_path)), "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bar with --json
    report = json.loads(result.stdout)
    assert set(report) == {"single", "dual", "ratios"}
    for mode in ("single", "dual"):
        assert set(report[mode]) >= MODE_FIELDS
    assert report["single"]["uptime"] == "0.8833"  # 53 of 60 minutes (test_backtest.py)
    assert report["dual"]["uptime"] == "1.0000"
    assert report["ratios"]["uptime"] == "1.1321"


def test_one_mode_and_the_flags_reach_the_bot(tmp_path: Path) -> None:
    scenario = str(write_scenario(tmp_path))
    result = dualmm(scenario, "--json", "--mode", "single", "--position-limit", "50")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"single"}
    # a limit of 50: the first fill (50 at 0.48, at 90 s) hands aa over at 120 s
    assert report["single"]["liquidations"] == 1
    slow = dualmm(scenario, "--json", "--mode", "dual", "--liq-profit-margin", "0.05")
    # a 5-cent margin puts the floor at 0.52: the 0.50 midpoint never reaches it
    assert json.loads(slow.stdout)["dual"]["still_open"] == 1


def test_recorded_books_and_the_plot(tmp_path: Path) -> None:
    png = tmp_path / "backtest.png"
    # 45 minutes of books: a pool of 2,000 a day pays over the 1 USDC minimum
    rate = ("--rewards-daily-rate", "2000")
    result = dualmm(str(RECORDED), "--json", "--plot", str(png), "--fee-rate", "0.07", *rate)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dual"]["liquidations"] > 0
    assert float(report["dual"]["rewards"]) > 0
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert (width, height) == (1100, 700)
    assert png.stat().st_size > 20_000


def test_human_table_and_the_days_cut() -> None:
    result = dualmm("--synthetic", "--markets", "3", "--days", "1", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "dual / single" in result.stdout
    assert "capital efficiency" in result.stdout
    assert "The seed's targets" in result.stdout


def test_sweep_runs_every_combination_and_marks_the_best(tmp_path: Path) -> None:
    scenario = str(write_scenario(tmp_path))
    args = ("--sweep", "position-limit=50,100", "--sweep", "--liq-stop-loss=on,off")
    result = dualmm(scenario, "--json", *args)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["sweep"]
    assert [r["flags"] for r in rows] == [
        {"--position-limit": "50", "--liq-stop-loss": "on"},
        {"--position-limit": "50", "--liq-stop-loss": "off"},
        {"--position-limit": "100", "--liq-stop-loss": "on"},
        {"--position-limit": "100", "--liq-stop-loss": "off"},
    ]
    best = [r for r in rows if r["best"]]
    assert len(best) == 1
    assert best[0]["dual"]["net_pnl"] == max((r["dual"]["net_pnl"] for r in rows), key=float)
    table = dualmm(scenario, *args)
    assert table.returncode == 0, table.stderr
    assert "best by net P&L" in table.stdout and "*" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--synthetic", "--mode", "triple"], "--mode: 'triple' is not one of single, dual, both"),
        (["--synthetic", "--days", "soon"], "--days: 'soon' is not a number"),
        (["--synthetic", "--position-limit", "-5"], "position_limit"),
        (["--synthetic", "--liq-timeout", "x"], "--liq-timeout: 'x' is not a number"),
        (["--synthetic", "--sweep", "colour=red,blue"], "--sweep: unknown flag --colour"),
        (["--synthetic", "--sweep", "position-limit"], "is not FLAG=v1,v2"),
        (["--synthetic", "--sweep", "liq-stop-loss=maybe"], "takes on/off"),
        (["--synthetic", "--step", "7"], "--step: 7 s does not divide a minute"),
        ([], "give INPUT"),
        (["scenarios/skewed-exit.json", "--days", "0.0001"], "leaves less than a minute"),
        (["nowhere.json"], "cannot read"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = dualmm(*args)
    assert result.returncode == 2, result.stdout
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("broken", ["markets.parquet", "books.parquet"])
def test_unreadable_parquet_exits_2_with_one_line(tmp_path: Path, broken: str) -> None:
    folder = tmp_path / "books"
    folder.mkdir()
    for name in ("markets.parquet", "books.parquet"):
        (folder / name).write_bytes((RECORDED / name).read_bytes())
    (folder / broken).write_bytes(b"PAR1 this is not parquet")
    result = dualmm(str(folder))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"{broken}: unreadable Parquet" in result.stderr


def test_a_parquet_without_the_layouts_columns_exits_2(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "books.parquet").write_bytes((RECORDED / "books.parquet").read_bytes())
    pq.write_table(pa.table({"market_id": ["x"]}), folder / "markets.parquet")
    result = dualmm(str(folder))
    assert result.returncode == 2
    assert "missing column(s) question, start_ts, end_ts" in result.stderr


def test_books_of_the_wrong_types_exit_2(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "markets.parquet").write_bytes((RECORDED / "markets.parquet").read_bytes())
    table = pq.read_table(RECORDED / "books.parquet")
    broken = table.set_column(1, "ts", pa.array(["soon"] * table.num_rows))
    pq.write_table(broken, folder / "books.parquet")
    result = dualmm(str(folder))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "values not in resolvedkit's layout" in result.stderr
