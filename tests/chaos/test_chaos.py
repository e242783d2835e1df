"""The chaos suite's short profile, `make chaos-short` (the full one: `make chaos`, see
tests/chaos/chaos.py):
2.5 minutes, 5 worker SIGKILLs, 1 Temporal restart, 10 % 5xx, 5 % 429, 5 % lost answers,
settlement lag, failed trades and venue restart windows (425); kills aimed in turn at market
making, a placement, a liquidation check and a merge (on the simulator's Polygon node); then
the audit; then the same with two workers (every other stop a SIGTERM). Any violation fails
it."""

from __future__ import annotations

import dataclasses

import pytest
from chaos import SHORT, chaos, spaced


@pytest.mark.chaos
def test_short_chaos_run_finds_no_violation(tmp_path_factory: pytest.TempPathFactory) -> None:
    run = chaos(SHORT, seed=11, var=tmp_path_factory.mktemp("chaos"))
    assert run.kills >= SHORT.kills and run.restarts >= SHORT.temporal_restarts
    assert run.kill_moments, "no kill knew what the worker was doing"
    # Merges, and kills during them, are the full profile's to require (expect_merges): 2.5
    # minutes may see one liquidation, and it may hold no pairs.
    assert not run.violations, "\n".join(run.violations)


@pytest.mark.chaos
def test_short_chaos_run_with_two_workers_finds_no_violation(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The same with two workers on the task queue: stops alternate SIGKILL and SIGTERM (a
    rolling restart) of the worker doing the aimed moment, the other takes over."""
    profile = dataclasses.replace(SHORT, workers=2)
    run = chaos(profile, seed=12, var=tmp_path_factory.mktemp("chaos2"))
    assert run.kills >= profile.kills and run.terms >= 1
    assert not run.violations, "\n".join(run.violations)


def test_kills_are_spaced_after_a_restart() -> None:
    """Kills whose time passed while an aimed kill waited for its moment no longer come in a
    burst that finds a freshly started worker idle."""
    assert spaced([5, 6, 7, 40, 41], earliest=20, gap=8) == [20, 28, 36, 44, 52]
    assert spaced([30, 50], earliest=20, gap=8) == [30, 50]
