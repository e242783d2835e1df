"""Settlement lag and ghost fills: when each matched trade settles, and whether it fails.

On Polymarket a match is only the start: the trade is MATCHED, then MINED, then CONFIRMED
tens of seconds later, or RETRYING and then FAILED; tokens and collateral move only at
settlement. `Settlement` keeps each unsettled trade's schedule (drawn per trade from the rules'
seed, so a seed and a trade id fix the outcome); the venue asks it for the steps that fall due.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from dualmm.sim.ledger import TradeStatus
from dualmm.sim.rules import VenueRules


@dataclass
class _Schedule:
    halfway: datetime  # MINED (or RETRYING for a trade that will fail)
    final: datetime  # CONFIRMED (or FAILED)
    fails: bool
    step: int = 0  # steps taken: 0 matched, 1 halfway, 2 final


class Settlement:
    def __init__(self, rules: VenueRules) -> None:
        self._rules = rules
        self._pending: dict[str, _Schedule] = {}

    @property
    def instant(self) -> bool:
        """No lag and no failures: trades are CONFIRMED when they match."""
        rules = self._rules
        return rules.settle_max_seconds == 0 and rules.failed_trade_rate == 0

    def schedule(self, trade_id: str, matched_at: datetime) -> None:
        rules = self._rules
        draw = random.Random(f"{rules.seed}:{trade_id}")
        seconds = draw.uniform(rules.settle_min_seconds, rules.settle_max_seconds)
        fails = draw.random() < rules.failed_trade_rate
        final = matched_at + timedelta(seconds=seconds)
        self._pending[trade_id] = _Schedule(matched_at + (final - matched_at) / 2, final, fails)

    def cancel(self, trade_id: str) -> bool:
        """Forget an unsettled trade (it failed by other means); False if it had settled."""
        return self._pending.pop(trade_id, None) is not None

    def pending(self, trade_id: str) -> bool:
        return trade_id in self._pending

    def due(self, until: datetime) -> list[tuple[datetime, str, TradeStatus]]:
        """The settlement steps up to `until` not taken yet, in time order."""
        steps: list[tuple[datetime, str, TradeStatus]] = []
        for trade_id, schedule in list(self._pending.items()):
            if schedule.step == 0 and schedule.halfway <= until:
                schedule.step = 1
                status = TradeStatus.RETRYING if schedule.fails else TradeStatus.MINED
                steps.append((schedule.halfway, trade_id, status))
            if schedule.step == 1 and schedule.final <= until:
                schedule.step = 2
                status = TradeStatus.FAILED if schedule.fails else TradeStatus.CONFIRMED
                steps.append((schedule.final, trade_id, status))
                del self._pending[trade_id]
        steps.sort()
        return steps
