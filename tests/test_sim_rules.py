"""The simulator's switches: harsh by default for `dualmm sim-server` (and so `make demo`),
each one switchable, the kind venue on request."""

from __future__ import annotations

import pytest

from dualmm.cli.sim import venue_rules
from dualmm.errors import UsageError
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


def test_a_harsh_venue_saves_and_resumes_mid_settlement(tmp_path: object) -> None:
    from datetime import UTC, datetime
    from decimal import Decimal
    from pathlib import Path

    from dualmm.domain.types import Side
    from dualmm.sim.clock import WallClock
    from dualmm.sim.snapshot import load_venue, save_venue
    from dualmm.sim.venue import SimVenue

    now = datetime.now(UTC)
    venue = SimVenue.synthetic(2, 0, WallClock(now), rules=VenueRules.harsh())
    market = venue.markets()[0]
    venue.ensure_wallet("0xab")
    venue.place("0xab", "cross", market.yes_token_id, Side.BUY, Decimal("0.99"), Decimal(10))
    path = Path(str(tmp_path)) / "venue.pickle"
    save_venue(venue, path)
    again = load_venue(path, speed=1.0)
    assert again.rules == VenueRules.harsh()
    assert [t.status.value for t in again.trades("0xab")] == ["MATCHED"]  # still settling


def test_switches_that_contradict_each_other_are_one_plain_line() -> None:
    with pytest.raises(UsageError) as refused:
        venue_rules(False, ["settle_min_seconds=100", "settle_max_seconds=5"])
    assert str(refused.value) == "--rule: settle_max_seconds must be at least settle_min_seconds"
