"""What a backtest command line asks for: the bot's settings per swept combination, the seeds,
the competition and flow levels, the reward parameters of recorded books."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dualmm.cli.options import CONFIG_FLAGS, decimal_flag, orchestrator_config
from dualmm.errors import UsageError

if TYPE_CHECKING:
    from dualmm.backtest.inputs import RewardParams
    from dualmm.backtest.runs import Settings

DEFAULT_SEEDS = 20
MAX_SEEDS = 1000
MAX_DAYS = Decimal(3650)
COMPETITION = ("low", "calibrated", "high")
# The bot's settings the backtest takes: all but the bot's name, `--mode` and `--step`.
NOT_BACKTESTED = ("--bot-id", "--dual-market-mode", "--quote-interval")
_CONFIG = tuple(s for s in CONFIG_FLAGS if s.name not in NOT_BACKTESTED)
_SWITCHES = tuple(s.name for s in _CONFIG if s.switch)
RUN_FLAGS = ("--fee-rate", "--fee-exponent", "--min-hours-to-end")
SWEEPABLE = (*(s.name for s in _CONFIG), *RUN_FLAGS)
_ON, _OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0")


def settings_for(flags: dict[str, Any], label: dict[str, str]) -> Settings:
    """Config and fees from flag values (`flag -> value`: strings as typed, switches as
    bools; the bot's settings as `config_options` gives them, the run flags by name)."""
    from dualmm.backtest.runs import Settings
    from dualmm.domain.fees import Fees

    config = orchestrator_config({flag: v for flag, v in flags.items() if flag not in RUN_FLAGS})
    # No --fee-rate: each market pays its category's documented rate.
    rate = decimal_flag("--fee-rate", flags.get("--fee-rate"))
    exponent = decimal_flag("--fee-exponent", flags.get("--fee-exponent"))
    if rate is not None and not 0 <= rate < 1:
        raise UsageError("--fee-rate: need a rate in [0, 1)")
    if exponent is not None and exponent <= 0:
        raise UsageError("--fee-exponent: must be positive")
    fees = Fees(rate=rate) if exponent is None else Fees(rate=rate, exponent=exponent)
    hours = decimal_flag("--min-hours-to-end", flags.get("--min-hours-to-end")) or Decimal(0)
    if not Decimal(0) <= hours <= MAX_DAYS * 24:
        raise UsageError(f"--min-hours-to-end: need hours in [0, {MAX_DAYS * 24}]")
    return Settings(label=label, config=config, fees=fees, min_to_end=int(hours * 3600))


def parse_sweeps(sweeps: list[str]) -> list[tuple[str, list[str]]]:
    parsed: list[tuple[str, list[str]]] = []
    for sweep in sweeps:
        name, sep, values = sweep.partition("=")
        flag = "--" + name.strip().removeprefix("--")
        if not sep or not values.strip():
            raise UsageError(f"--sweep: {sweep!r} is not FLAG=v1,v2,...")
        if flag not in SWEEPABLE:
            raise UsageError(f"--sweep: unknown flag {flag} (sweepable: {', '.join(SWEEPABLE)})")
        if any(flag == seen for seen, _ in parsed):
            raise UsageError(f"--sweep: {flag} is swept twice")
        parsed.append((flag, [v.strip() for v in values.split(",") if v.strip()]))
    return parsed


def _switch(flag: str, value: str) -> bool:
    if value.lower() in _ON:
        return True
    if value.lower() in _OFF:
        return False
    raise UsageError(f"--sweep: {flag} takes on/off, not {value!r}")


def combinations(base: dict[str, Any], sweeps: list[tuple[str, list[str]]]) -> list[Settings]:
    """Every combination of the swept values over the base flags (just the base without)."""
    combos = []
    for values in itertools.product(*(v for _, v in sweeps)):
        flags = dict(base)
        label = {}
        for (flag, _), value in zip(sweeps, values, strict=True):
            flags[flag] = _switch(flag, value) if flag in _SWITCHES else value
            label[flag] = value
        combos.append(settings_for(flags, label))
    return combos


def seed_list(
    synthetic: bool, seed: int | None, seeds: int | None, modes: tuple[str, ...], sweeping: bool
) -> list[int | None]:
    """The seeds to run: paired seeds by default for a synthetic comparison or sweep, one seed
    with `--seed` alone, none (one loaded input) otherwise."""
    if not synthetic:
        if seeds is not None or seed is not None:
            raise UsageError("--seed/--seeds: only with --synthetic (INPUT is one path)")
        return [None]
    if seeds is None:
        paired = len(modes) == 2 or sweeping
        seeds = DEFAULT_SEEDS if seed is None and paired else 1
    if not 1 <= seeds <= MAX_SEEDS:
        raise UsageError(f"--seeds: need a number of seeds in [1, {MAX_SEEDS}]")
    if sweeping and seeds < 2:
        raise UsageError("--sweep: needs --seeds 2 or more (it chooses on some, reports others)")
    first = seed if seed is not None else (1 if seeds > 1 else 7)
    return list(range(first, first + seeds))


def competition_levels(value: str, flag: str = "--competition") -> list[str]:
    """The levels of `--competition` or `--flow` (the same three names)."""
    levels = [v.strip() for v in value.split(",") if v.strip()]
    wrong = [v for v in levels if v not in COMPETITION]
    if not levels or wrong:
        bad = wrong[0] if wrong else value
        raise UsageError(f"{flag}: {bad!r} is not one of {', '.join(COMPETITION)}")
    return list(dict.fromkeys(levels))


def reward_params(rate: str, spread: str, size: str) -> RewardParams:
    """The reward pool of recorded books, which do not carry one."""
    from dualmm.backtest.inputs import RewardParams
    from dualmm.config import MAX_SHARES, MAX_USDC

    names = ("--rewards-daily-rate", "--rewards-max-spread", "--rewards-min-size")
    texts = (rate, spread, size)
    values = [decimal_flag(name, text) for name, text in zip(names, texts, strict=True)]
    bounds = (MAX_USDC, Decimal(100), MAX_SHARES)  # USDC a day, cents, shares
    for name, value, most in zip(names, values, bounds, strict=True):
        if value is None or not 0 <= value <= most:
            raise UsageError(f"{name}: must be a number in [0, {most}]")
    daily, band, minimum = (v or Decimal(0) for v in values)
    return RewardParams(daily_rate=daily, max_spread_cents=band, min_size=minimum)
