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
    "days", "avg_capital", "budget", "markouts_cents",
}  # fmt: skip
BOUNDS = ("conservative", "probabilistic")


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
    both = json.loads(result.stdout)
    assert set(both) == set(BOUNDS)  # --fills both, the default: the bounds side by side
    for bound in BOUNDS:
        report = both[bound]
        assert set(report) == {"single", "dual", "ratios", "ratio_notes"}
        for mode in ("single", "dual"):
            assert set(report[mode]) >= MODE_FIELDS
            assert set(report[mode]["markouts_cents"]) == {"1", "5", "30", "60"}
    report = both["conservative"]
    assert report["single"]["uptime"] == "0.8833"  # 53 of 60 minutes (test_backtest.py)
    assert report["dual"]["uptime"] == "1.0000"
    assert report["ratios"]["uptime"] == "1.1321"
    assert report["dual"]["budget"] == "1000.000000"
    one = json.loads(
        dualmm(str(write_scenario(tmp_path)), "--json", "--fills", "conservative").stdout
    )
    assert one == report  # one bound: today's shape


def test_paired_seeds_report_a_difference_and_a_ratio_with_intervals() -> None:
    args = ("--synthetic", "--markets", "3", "--days", "1", "--seeds", "4", "--json")
    result = dualmm(*args, "--fills", "conservative")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    paired = report["paired"]
    assert paired["seeds"] == 4
    diff = paired["net_pnl_diff"]
    assert diff["ci90"][0] <= diff["mean"] <= diff["ci90"][1]
    ratio = paired["capital_efficiency_ratio"]
    assert ratio["ci90"] is not None or ratio["note"]  # an interval, or the reason there is none
    assert set(paired["sources"]) == {
        "minutes_single_idled_dual_earned", "rewards_while_single_idled",
        "minutes_dual_on_worse_market", "rewards_other_minutes", "trading_pnl_diff",
    }  # fmt: skip
    parts = paired["sources"]
    total = sum(parts[k]["mean"] for k in ("rewards_while_single_idled",
                                          "rewards_other_minutes", "trading_pnl_diff"))  # fmt: skip
    assert abs(total - diff["mean"]) < 1e-5
    assert report["dual"]["days"] == "4.0000"  # the seeds' runs pooled: 4 x 1 day
    # seeds 1-4 are the same paths whoever runs them: seed 1 alone is seed 1 of the four
    alone = json.loads(
        dualmm(*args[:-3], "--seed", "1", "--json", "--fills", "conservative").stdout
    )
    assert "paired" not in alone and alone["dual"]["days"] == "1.0000"


def test_one_mode_and_the_flags_reach_the_bot(tmp_path: Path) -> None:
    scenario = str(write_scenario(tmp_path))
    one = ("--json", "--fills", "conservative")
    result = dualmm(scenario, *one, "--mode", "single", "--position-limit", "50")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"single"}
    # a limit of 50: the first fill (50 at 0.48, at 90 s) hands aa over at 120 s
    assert report["single"]["liquidations"] == 1
    margin = ("--liq-profit-margin", "0.05", "--liq-timeout", "60")
    slow = dualmm(scenario, *one, "--mode", "dual", *margin)
    # a 5-cent margin puts the floor at 0.52: the 0.50 midpoint never reaches it, and the
    # hour-long run ends before a 60-minute timeout
    assert json.loads(slow.stdout)["dual"]["still_open"] == 1


def test_recorded_books_and_the_plot(tmp_path: Path) -> None:
    png = tmp_path / "backtest.png"
    # 45 minutes of books: a pool of 2,000 a day pays over the 1 USDC minimum
    rate = ("--rewards-daily-rate", "2000")
    result = dualmm(str(RECORDED), "--json", "--plot", str(png), "--fee-rate", "0.07", *rate)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["conservative"]
    assert report["dual"]["liquidations"] > 0
    assert float(report["dual"]["rewards"]) > 0
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert (width, height) == (1100, 900)
    assert png.stat().st_size > 20_000


def test_human_table_and_the_days_cut() -> None:
    result = dualmm("--synthetic", "--markets", "3", "--days", "1", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "dual / single" in result.stdout
    assert "capital efficiency" in result.stdout
    assert "The seed's targets" in result.stdout


def test_sweep_on_one_path_runs_every_combination_in_sample(tmp_path: Path) -> None:
    scenario = str(write_scenario(tmp_path))
    args = ("--sweep", "position-limit=50,100", "--sweep", "--liq-stop-loss=on,off")
    result = dualmm(scenario, "--json", "--fills", "conservative", *args)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["walk_forward"] is None  # one path: chosen and reported on the same data
    rows = out["sweep"]
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
    assert "in-sample" in table.stdout and "*" in table.stdout


def test_a_synthetic_sweep_chooses_on_some_seeds_and_reports_the_others() -> None:
    args = ("--synthetic", "--markets", "3", "--days", "1", "--seeds", "4", "--json")
    sweep = ("--sweep", "position-limit=50,200", "--fills", "conservative")
    out = json.loads(dualmm(*args, *sweep).stdout)
    assert out["walk_forward"] == {"choose_seeds": [1, 2], "report_seeds": [3, 4]}
    rows = out["sweep"]
    chosen = max(rows, key=lambda r: float(r["chosen_by_net_pnl"]))
    assert chosen["best"] and sum(r["best"] for r in rows) == 1
    for row in rows:  # the figures shown are seeds 3-4's, pooled: 2 x 1 day
        assert row["dual"]["days"] == "2.0000" and row["paired"]["seeds"] == 2
    again = ("--seeds", "2", "--seed", "3", "--json", "--fills", "conservative")
    limit_200 = json.loads(dualmm(*args[:-3], *again, "--position-limit", "200").stdout)
    assert rows[1]["dual"]["net_pnl"] == limit_200["dual"]["net_pnl"]


def test_competition_levels_side_by_side() -> None:
    args = ("--synthetic", "--markets", "2", "--days", "0.5", "--seed", "3", "--json")
    out = json.loads(dualmm(*args, "--competition", "low,high", "--fills", "conservative").stdout)
    assert set(out["competition"]) == {"low", "high"}
    assert set(out["competition"]["low"]) == {"single", "dual", "ratios", "ratio_notes"}


def test_flow_levels_side_by_side() -> None:
    args = ("--synthetic", "--markets", "2", "--days", "0.5", "--seed", "3", "--json")
    out = json.loads(dualmm(*args, "--flow", "low,high", "--fills", "conservative").stdout)
    assert set(out["flow"]) == {"low", "high"}
    assert set(out["flow"]["high"]) == {"single", "dual", "ratios", "ratio_notes"}


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
        (["--synthetic", "--fills", "optimistic"], "--fills: 'optimistic' is not one of"),
        (["--synthetic", "--competition", "none"], "--competition: 'none' is not one of"),
        (["scenarios/skewed-exit.json", "--competition", "high"], "only with --synthetic"),
        (["--synthetic", "--flow", "medium"], "--flow: 'medium' is not one of"),
        (["scenarios/skewed-exit.json", "--flow", "low"], "--flow: only with --synthetic"),
        (["--synthetic", "--flow", "low,high", "--competition", "low,high"], "one of"),
        (["scenarios/skewed-exit.json", "--seeds", "5"], "--seed/--seeds: only with --synthetic"),
        (["--synthetic", "--seeds", "0"], "--seeds: need a number of seeds"),
        (["--synthetic", "--seeds", "1", "--sweep", "order-size=5,10"], "needs --seeds 2"),
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
