"""`dualmm backtest`: known answers on crafted inputs."""

from __future__ import annotations

from decimal import Decimal

from backtest_cases import FILL_PATH, market, scenario_input

from dualmm.backtest import report
from dualmm.backtest.engine import run_mode
from dualmm.config import OrchestratorConfig

CONFIG = OrchestratorConfig()
FLAT_DAY = [[0, "0.50"], [86_400, "0.50"]]


def both(data: object) -> dict[str, dict[str, object]]:
    from dualmm.backtest.inputs import BacktestInput

    assert isinstance(data, BacktestInput)
    runs = {mode: run_mode(data, CONFIG, mode == "dual") for mode in ("single", "dual")}
    return report.to_json(report.build(runs))


def test_flat_market_without_competition_earns_the_whole_daily_rate() -> None:
    out = both(scenario_input(market("aa", FLAT_DAY, competition=[])))
    for mode in ("single", "dual"):
        figures = out[mode]
        assert figures["uptime"] == "1.0000"
        assert figures["rewards"] == "120.000000"  # rate 120 x 1 day, all of the pool
        assert figures["liquidations"] == 0
        assert figures["net_pnl"] == "120.000000"
        # two bids of 50 at 0.48 lock 48 USDC: 120 / 48 per USDC per day
        assert figures["peak_capital"] == "48.000000"
        assert figures["capital_efficiency"] == "2.500000"
    assert out["ratios"]["uptime"] == "1.0000"


def test_stated_competition_takes_its_share_by_the_formula() -> None:
    out = both(scenario_input(market("aa", FLAT_DAY, competition=[["1", "100"]])))
    # ours: 50 shares 2 cents out on each side of a 3-cent band: ((3-2)/3)^2 * 50 = 50/9 a side
    # theirs: 100 shares 1 cent out: ((3-1)/3)^2 * 100 = 400/9 a side; Q_min of each = that
    ours, theirs = Decimal(50) / 9, Decimal(400) / 9
    expected = Decimal(120) * ours / (ours + theirs)  # = 120 / 9
    assert out["dual"]["rewards"] == str(expected.quantize(Decimal("0.000001")))
    assert out["dual"]["uptime"] == "1.0000"


def test_absent_competition_means_the_calibrated_competition_for_the_pool() -> None:
    data = scenario_input(market("aa", FLAT_DAY))
    run = run_mode(data, CONFIG, dual=False)
    # 120 USDC a day at the calibrated yield (0.5 % a day): 24,000 shares in three makers of
    # 8,000 at 0.9, 1.5 and 2.1 cents of a 3-cent band: (0.49 + 0.25 + 0.09) * 8,000 a side
    ours, theirs = Decimal(50) / 9, Decimal("0.83") * 8000
    expected = Decimal(120) * ours / (ours + theirs)
    assert run.rewards_active.quantize(Decimal("0.000001")) == expected.quantize(
        Decimal("0.000001")
    )
    # about 0.10 USDC: below the 1 USDC minimum payout, so the day pays nothing
    assert run.rewards == 0


def test_a_fill_path_to_the_limit_and_a_profitable_exit() -> None:
    data = scenario_input(market("aa", FILL_PATH, competition=[]))
    run = run_mode(data, CONFIG, dual=True)
    (liquidation,) = run.liquidations
    assert liquidation.started == 180
    assert (liquidation.opening.yes_qty, liquidation.opening.yes_cost) == (
        Decimal(100),
        Decimal("46.50"),
    )
    assert liquidation.status == "closed"
    assert liquidation.exit_stage is not None and liquidation.exit_stage.value == "SKEWED"
    assert liquidation.fills == [(600, Decimal("0.48"), Decimal(100))]
    assert liquidation.pnl == Decimal("1.50")
    assert liquidation.exit_seconds == 420
    figures = report.to_json(report.build({"dual": run}))["dual"]
    assert figures["median_exit_minutes_profitable"] == "7.00"
    assert figures["p90_exit_minutes_profitable"] == "7.00"
    assert figures["median_exit_minutes_loss"] is None
    assert figures["liquidation_pnl"] == "1.500000"
    assert figures["loss_to_earnings"] == "0.0000"
    # 60 minutes sampled; the 7 from the hand-over (180 s) to the exit (600 s) earn nothing:
    # the only market is in liquidation and its SELL at 0.48 is 4.5 cents from a 0.435 midpoint.
    assert figures["uptime"] == str((Decimal(53) / 60).quantize(Decimal("0.0001")))
    assert figures["rewards"] == str((Decimal(53) * 120 / 1440).quantize(Decimal("0.000001")))
    # peak capital at 120 s: 50 YES held (24.00) + bids YES 0.45 x 50 and NO 0.52 x 50
    assert figures["peak_capital"] == "72.500000"


def test_two_markets_dual_keeps_earning_while_single_waits() -> None:
    data = scenario_input(
        market("aa", FILL_PATH, competition=[]),
        market("bb", [[0, "0.50"], [3600, "0.50"]], rate="60", competition=[]),
    )
    out = both(data)
    # Both start on aa (120/day beats 60/day for the same 48 USDC). From the hand-over at 180 s
    # to the exit at 600 s, single mode waits (7 of 60 minutes idle); dual quotes bb at once.
    assert out["single"]["uptime"] == str((Decimal(53) / 60).quantize(Decimal("0.0001")))
    assert out["dual"]["uptime"] == "1.0000"
    assert out["ratios"]["uptime"] == str((Decimal(60) / 53).quantize(Decimal("0.0001")))
    # single goes back to aa at 600 s: 53 minutes at 120/day. So does dual: aa's liquidation
    # finished, the re-rank finds it twice as good as bb and the flat bb round gives way:
    # 3 + 50 minutes of aa, 7 of bb at 60/day.
    minute = Decimal(1) / 1440
    assert out["single"]["rewards"] == str((53 * 120 * minute).quantize(Decimal("0.000001")))
    assert out["dual"]["rewards"] == str(
        (53 * 120 * minute + 7 * 60 * minute).quantize(Decimal("0.000001"))
    )
    assert out["dual"]["switches"] == 1 and out["single"]["switches"] == 0
    assert out["single"]["liquidation_pnl"] == out["dual"]["liquidation_pnl"] == "1.500000"


def test_without_re_ranking_dual_stays_on_the_second_best_market() -> None:
    data = scenario_input(
        market("aa", FILL_PATH, competition=[]),
        market("bb", [[0, "0.50"], [3600, "0.50"]], rate="60", competition=[]),
    )
    # The design before re-ranking: a round ends only at the limit, so dual stays on bb
    # after the hand-over: 3 minutes of aa, 57 of bb.
    run = run_mode(data, OrchestratorConfig(rerank=False), dual=True)
    assert run.rewards.quantize(Decimal("0.000001")) == Decimal("2.625000")  # (360 + 3420) / 1440
    assert run.switches == 0


def test_a_held_position_defers_the_move_and_the_margin_prevents_it() -> None:
    data = scenario_input(
        market("aa", FILL_PATH, competition=[]),
        market("bb", [[0, "0.50"], [3600, "0.50"]], rate="60", competition=[]),
    )
    # aa earns 2x bb per USDC: a switch margin of 1 (2x needed) keeps dual on bb.
    run = run_mode(data, OrchestratorConfig(switch_margin=Decimal(1)), dual=True)
    assert run.switches == 0
    run = run_mode(data, OrchestratorConfig(switch_margin=Decimal("0.99")), dual=True)
    assert run.switches == 1


def test_capital_held_in_liquidation_counts_against_the_budget() -> None:
    data = scenario_input(
        market("aa", FILL_PATH, competition=[]),
        market("bb", [[0, "0.50"], [3600, "0.50"]], rate="60", competition=[]),
    )
    # 60 USDC: aa's quotes (48) fit; after the hand-over its 100 YES hold 46.50, which leaves
    # 13.50, less than bb's 48: dual mode cannot switch and waits like single mode.
    config = OrchestratorConfig(liquidity_budget=Decimal(60))
    dual = run_mode(data, config, dual=True)
    single = run_mode(data, config, dual=False)
    assert dual.scoring_minutes == single.scoring_minutes == 53
    # the budget binds picks, not fills (as the venue): 24.00 + 22.50 + 26.00 at 120 s
    assert dual.peak_capital == Decimal("72.50")


def test_a_losing_exit_keeps_its_market_out_of_the_picks_for_the_cooldown() -> None:
    # aa fills to the limit as in FILL_PATH (100 YES at 0.465), then drops to 0.30 for good:
    # the stop-loss sells at a loss. Its reward rate still makes it the best market.
    loss_path = [[0, "0.50"], [90, "0.465"], [150, "0.435"], [600, "0.30"], [3600, "0.30"]]
    data = scenario_input(
        market("aa", loss_path, competition=[]),
        market("bb", [[0, "0.50"], [3600, "0.50"]], rate="60", competition=[]),
    )
    plain = run_mode(data, OrchestratorConfig(), dual=True)
    assert plain.liquidations[0].pnl < 0
    assert plain.switches == 1  # back to aa once its liquidation finished
    cooled = run_mode(data, OrchestratorConfig(loss_cooldown_minutes=60), dual=True)
    assert cooled.switches == 0 and len(cooled.liquidations) == 1  # stays on bb
    single = run_mode(data, OrchestratorConfig(loss_cooldown_minutes=60), dual=False)
    assert single.rounds == 2 and len(single.liquidations) == 1  # aa, then bb


def test_capital_is_averaged_over_every_minute_and_the_peak_kept_apart() -> None:
    run = run_mode(scenario_input(market("aa", FILL_PATH, competition=[])), CONFIG, dual=True)
    # Minutes 0-1: bids YES 0.48 x 50 + NO 0.48 x 50 = 48. Minute 2: 50 YES held at 24.00 +
    # bids 0.45 and 0.52 x 50 = 72.50 (the peak). Minutes 3-9: the liquidation's 100 YES at
    # cost, 46.50, nothing quoted (the only market is in liquidation). Minutes 10-59: 48 again.
    assert run.capital_minutes == 48 + 48 + Decimal("72.50") + 7 * Decimal("46.50") + 50 * 48
    figures = report.figures(run)
    assert figures["avg_capital"] == Decimal(2894) / 60
    assert figures["peak_capital"] == Decimal("72.50")
    assert figures["budget"] == CONFIG.liquidity_budget
    net = Decimal(53) * 120 / 1440 + Decimal("1.50")  # rewards + the exit's profit
    cents = Decimal("0.000001")
    assert figures["net_pnl"].quantize(cents) == net.quantize(cents)
    efficiency = net / (Decimal(2894) / 60) / (Decimal(60) / 1440)
    assert figures["capital_efficiency"].quantize(cents) == efficiency.quantize(cents)


def test_ratios_of_losses_are_never_shown_as_gains() -> None:
    single = {key: Decimal(1) for key in report.RATIO_FIELDS}
    dual = dict(single)
    single["net_pnl"], dual["net_pnl"] = Decimal(-35), Decimal(-22)  # dual better, both losing
    single["capital_efficiency"], dual["capital_efficiency"] = Decimal("0.5"), Decimal("-0.1")
    single["liquidation_pnl"], dual["liquidation_pnl"] = Decimal(0), Decimal(3)
    ratios, notes = report.ratios(single, dual)
    assert ratios["net_pnl"] is None and "not above 0" in notes["net_pnl"]
    assert ratios["liquidation_pnl"] is None and "liquidation_pnl" in notes
    assert ratios["capital_efficiency"] == Decimal("-0.2")  # dual loses where single earns
    assert ratios["uptime"] == 1 and "uptime" not in notes


def test_paired_sources_add_up_to_the_net_difference() -> None:
    from dualmm.backtest.paired import sources

    data = scenario_input(
        market("aa", FILL_PATH, competition=[]),
        market("bb", [[0, "0.50"], [3600, "0.50"]], rate="60", competition=[]),
    )
    single, dual = run_mode(data, CONFIG, dual=False), run_mode(data, CONFIG, dual=True)
    parts = sources(single, dual)
    # Minutes 3-9: single waits for aa's exit, dual earns bb's 60/day; nothing else differs.
    assert parts.idle_minutes == 7
    cents = Decimal("0.000001")
    assert parts.idle_rewards.quantize(cents) == (7 * Decimal(60) / 1440).quantize(cents)
    assert (parts.worse_minutes, parts.other_rewards, parts.inventory) == (0, 0, 0)
    diff = report.figures(dual)["net_pnl"] - report.figures(single)["net_pnl"]
    total = parts.idle_rewards + parts.other_rewards + parts.inventory
    assert total.quantize(cents) == diff.quantize(cents)  # to 1e-6: 28-digit Decimal sums
