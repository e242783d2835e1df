"""Liquidity rewards as the venue pays them: sampled every minute, paid once a day.

Each minute a market's daily pool (`rewards_daily_rate / 1440`) is shared among the makers in
proportion to their two-sided score `Q_min` (dualmm.domain.rewards: the same formula the bot
estimates with), the other makers' book included. A day's earnings are paid into the wallet's
collateral when the day is over, if they reach the minimum payout (1 USDC); smaller amounts are
not paid. An optional minimum order age leaves young orders out of the sample.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

from dualmm.domain.rewards import Level, book_side_scores, order_side_scores, q_min
from dualmm.domain.types import MarketInfo, OrderIntent
from dualmm.sim.ledger import OrderRecord

MIN_PAYOUT = Decimal(1)
SAMPLES_PER_DAY = 24 * 60
ZERO = Decimal(0)


class RewardLedger:
    def __init__(self, min_order_age: timedelta = timedelta(0)) -> None:
        self.min_order_age = min_order_age
        # (day, wallet, condition id) -> earned that day, paid or not yet (plain dicts: the
        # venue is pickled by dualmm.sim.snapshot)
        self.earned: dict[tuple[date, str, str], Decimal] = {}
        self.paid_days: dict[tuple[date, str], Decimal] = {}  # (day, wallet) -> paid out
        self._closed: set[date] = set()

    def sample(
        self,
        at: datetime,
        info: MarketInfo,
        yes_mid: Decimal,
        others: tuple[Iterable[Level], Iterable[Level]],
        orders: Iterable[OrderRecord],
    ) -> None:
        """One minute's share of the market's pool, by score, to the wallets quoting it."""
        pool = info.rewards_daily_rate / SAMPLES_PER_DAY
        band, min_size = info.rewards_max_spread_cents, info.rewards_min_size
        if pool <= 0 or band <= 0:
            return
        intents: defaultdict[str, list[OrderIntent]] = defaultdict(list)
        for order in orders:
            if at - order.created_at >= self.min_order_age:
                intents[order.address].append(
                    OrderIntent(
                        token=order.token, side=order.side, price=order.price, size=order.remaining
                    )
                )
        scores = {
            address: q_min(*order_side_scores(mine, yes_mid, band, min_size), yes_mid)
            for address, mine in intents.items()
        }
        competition = q_min(*book_side_scores(*others, yes_mid, band, min_size), yes_mid)
        total = sum(scores.values(), ZERO) + competition
        if total <= 0:
            return
        for address, score in scores.items():
            if score > 0:
                key = (at.date(), address, info.condition_id)
                self.earned[key] = self.earned.get(key, ZERO) + pool * score / total

    def close_days_before(self, day: date) -> dict[str, Decimal]:
        """Pay out every finished day not paid yet: wallet -> amount to credit."""
        payouts: defaultdict[str, Decimal] = defaultdict(lambda: ZERO)
        days = {d for d, _, _ in self.earned if d < day and d not in self._closed}
        for closing in sorted(days):
            totals: defaultdict[str, Decimal] = defaultdict(lambda: ZERO)
            for (d, address, _), amount in self.earned.items():
                if d == closing:
                    totals[address] += amount
            for address, amount in totals.items():
                if amount >= MIN_PAYOUT:
                    self.paid_days[(closing, address)] = amount
                    payouts[address] += amount
            self._closed.add(closing)
        return dict(payouts)

    def earnings(self, address: str, day: date) -> dict[str, Decimal]:
        """A wallet's earnings of one day per market: accrued so far for the running day; for a
        finished one, what was paid (nothing when below the minimum payout)."""
        found = {
            cid: amount for (d, a, cid), amount in self.earned.items() if d == day and a == address
        }
        if day in self._closed and (day, address) not in self.paid_days:
            return {}
        return found
