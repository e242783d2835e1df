"""What `dualmm markets` prints: the ranked reward markets as a table or JSON objects."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dualmm.domain.rewards import MarketEstimate

_CENT = Decimal("0.01")
_MICRO = Decimal("0.000001")


def estimate_json(estimate: MarketEstimate) -> dict[str, Any]:
    info = estimate.market
    return {
        "condition_id": info.condition_id,
        "question": info.question,
        "yes_mid": str(estimate.yes_mid),
        "rewards_daily_rate": str(info.rewards_daily_rate),
        "rewards_max_spread_cents": str(info.rewards_max_spread_cents),
        "rewards_min_size": str(info.rewards_min_size),
        "neg_risk": info.neg_risk,
        "quotes": [
            {
                "token": q.token.value,
                "side": q.side.value,
                "price": str(q.price),
                "size": str(q.size),
            }
            for q in estimate.quotes
        ],
        "q_ours": str(estimate.q_ours.quantize(_MICRO)),
        "q_competitors": str(estimate.q_competitors.quantize(_MICRO)),
        "daily_earnings": str(estimate.daily_earnings.quantize(_MICRO)),
        "capital": str(estimate.capital),
        "earnings_per_usdc": str(estimate.earnings_per_usdc.quantize(_MICRO)),
    }


def print_table(estimates: list[MarketEstimate], venue: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Reward markets on {venue}, best estimated earnings per USDC first")
    for name in ("#", "market", "question", "mid", "rate/day", "spread¢", "min size"):
        table.add_column(name, justify="left" if name in ("market", "question") else "right")
    for name in ("est. $/day", "capital", "% per day"):
        table.add_column(name, justify="right")
    for i, e in enumerate(estimates, 1):
        info = e.market
        table.add_row(
            str(i),
            info.condition_id[:14],
            info.question[:48],
            str(e.yes_mid),
            str(info.rewards_daily_rate),
            str(info.rewards_max_spread_cents),
            str(info.rewards_min_size),
            str(e.daily_earnings.quantize(_CENT)),
            str(e.capital.quantize(_CENT)),
            str((e.earnings_per_usdc * 100).quantize(Decimal("0.001"))),
        )
    Console(width=160).print(table)
