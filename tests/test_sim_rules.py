"""The simulator's switches: harsh by default for `dualmm sim-server` (and so `make demo`),
each one switchable, the kind venue on request."""

from __future__ import annotations

import pytest

from dualmm.cliutil import UsageError
from dualmm.sim.cli import venue_rules
from dualmm.sim.rules import VenueRules


def test_the_sim_server_venue_is_harsh_by_default() -> None:
    rules = venue_rules(kind=False, settings=[])
    assert rules == VenueRules.harsh()
    assert rules.own_orders_move_prices and rules.heartbeat_timeout_seconds == 10
    assert rules.settle_max_seconds > 0 and rules.status_spelling == "docs"


def test_each_switch_can_be_set_and_the_kind_venue_asked_for() -> None:
    rules = venue_rules(False, ["status_spelling=sdk", "heartbeat_timeout_seconds=off"])
    assert rules.status_spelling == "sdk" and rules.heartbeat_timeout_seconds is None
    assert rules.own_orders_move_prices  # the rest stays harsh
    assert venue_rules(True, []) == VenueRules()


@pytest.mark.parametrize(
    "setting", ["bogus=1", "failed_trade_rate=2", "no-equals", "settle_min_seconds=-1"]
)
def test_a_bad_switch_is_one_line_naming_it(setting: str) -> None:
    with pytest.raises(UsageError, match="--rule"):
        venue_rules(False, [setting])
