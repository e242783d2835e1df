"""Per-market position: quantities, average costs and P&L, exact in Decimal.

`PositionTracker` is an immutable value object and its own snapshot: every mutator returns a
new tracker, and `model_dump(mode="json")` / `model_validate` carry it through Temporal
histories. It keeps the log of what it applied (a starting position, fills, merges) so that a
trade reported FAILED later is reversed exactly, by re-folding the log without it: sells that
came after a reversed buy then realize against the average cost they really had.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import Field, model_validator

from dualmm.domain.types import Fill, Frozen, Side, Token

ZERO = Decimal(0)
ONE = Decimal(1)
FAILED = "FAILED"


class StartEvent(Frozen):
    """A starting position (from a scenario file or an earlier run): the fold begins here."""

    kind: Literal["start"] = "start"
    yes_qty: Decimal = ZERO
    yes_cost: Decimal = ZERO
    no_qty: Decimal = ZERO
    no_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO


class FillEvent(Frozen):
    kind: Literal["fill"] = "fill"
    trade_id: str
    token: Token
    side: Side
    price: Decimal
    size: Decimal


class MergeEvent(Frozen):
    kind: Literal["merge"] = "merge"
    qty: Decimal


PositionEvent = Annotated[StartEvent | FillEvent | MergeEvent, Field(discriminator="kind")]


class _Totals(NamedTuple):
    yes_qty: Decimal = ZERO
    yes_cost: Decimal = ZERO
    no_qty: Decimal = ZERO
    no_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO


def _share_of_cost(cost: Decimal, qty: Decimal, part: Decimal) -> Decimal:
    """Cost attributed to `part` of `qty` shares; all of it when the whole holding goes."""
    return cost if part == qty else cost * part / qty


def _step(t: _Totals, event: StartEvent | FillEvent | MergeEvent) -> _Totals:
    if isinstance(event, StartEvent):
        return _Totals(
            event.yes_qty, event.yes_cost, event.no_qty, event.no_cost, event.realized_pnl
        )
    if isinstance(event, MergeEvent):
        if event.qty > min(t.yes_qty, t.no_qty):
            raise ValueError(
                f"cannot merge {event.qty} pairs: holding {t.yes_qty} YES and {t.no_qty} NO"
            )
        yes_out = _share_of_cost(t.yes_cost, t.yes_qty, event.qty)
        no_out = _share_of_cost(t.no_cost, t.no_qty, event.qty)
        return _Totals(
            t.yes_qty - event.qty,
            t.yes_cost - yes_out,
            t.no_qty - event.qty,
            t.no_cost - no_out,
            t.realized_pnl + event.qty - yes_out - no_out,
        )
    is_yes = event.token is Token.YES
    qty, cost = (t.yes_qty, t.yes_cost) if is_yes else (t.no_qty, t.no_cost)
    realized = t.realized_pnl
    if event.side is Side.BUY:
        qty, cost = qty + event.size, cost + event.price * event.size
    else:
        if event.size > qty:
            raise ValueError(
                f"trade {event.trade_id} sells {event.size} {event.token} but only {qty} is held"
            )
        cost_out = _share_of_cost(cost, qty, event.size)
        realized += event.price * event.size - cost_out
        qty, cost = qty - event.size, cost - cost_out
    if is_yes:
        return _Totals(qty, cost, t.no_qty, t.no_cost, realized)
    return _Totals(t.yes_qty, t.yes_cost, qty, cost, realized)


def _fold(events: tuple[StartEvent | FillEvent | MergeEvent, ...], start: _Totals) -> _Totals:
    totals = start
    for event in events:
        totals = _step(totals, event)
    return totals


def _check_fill(fill: Fill) -> None:
    if fill.size <= 0:
        raise ValueError(f"trade {fill.trade_id}: size {fill.size} must be positive")
    if not ZERO <= fill.price <= ONE:
        raise ValueError(f"trade {fill.trade_id}: price {fill.price} is outside [0, 1]")


class PositionTracker(Frozen):
    """One market's YES/NO holdings, their costs and realized P&L, plus the log behind them."""

    yes_qty: Decimal = ZERO
    yes_cost: Decimal = ZERO
    no_qty: Decimal = ZERO
    no_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    events: tuple[PositionEvent, ...] = ()
    # Trades reported FAILED: a later MATCHED/CONFIRMED copy of one of them is ignored.
    failed_trade_ids: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _log_from_totals(cls, data: Any) -> Any:
        """Totals given without a log become the starting event, so a re-fold keeps them."""
        if isinstance(data, dict) and not data.get("events"):
            start = StartEvent(**{k: v for k, v in data.items() if k in _Totals._fields})
            if start != StartEvent():
                return {**data, "events": (start,)}
        return data

    @model_validator(mode="after")
    def _totals_match_log(self) -> PositionTracker:
        if any(isinstance(e, StartEvent) for e in self.events[1:]):
            raise ValueError("events: a starting position can only be the first event")
        if _fold(self.events, _Totals()) != self._totals():
            raise ValueError("position totals do not match the event log")
        return self

    @classmethod
    def opening(cls, token: Token, qty: Decimal, avg_cost: Decimal) -> PositionTracker:
        """A starting position of `qty` shares of `token` bought at `avg_cost` on average."""
        if qty < 0:
            raise ValueError(f"opening quantity {qty} is negative")
        if not ZERO <= avg_cost <= ONE:
            raise ValueError(f"opening average cost {avg_cost} is outside [0, 1]")
        cost = qty * avg_cost
        if token is Token.YES:
            return cls(yes_qty=qty, yes_cost=cost)
        return cls(no_qty=qty, no_cost=cost)

    def apply_fill(self, fill: Fill) -> PositionTracker:
        return self.apply_fills((fill,))

    def apply_fills(self, fills: tuple[Fill, ...] | list[Fill]) -> PositionTracker:
        """Apply fills in order: duplicates count once, FAILED ones reverse their trade.

        Reversals in one batch are re-folded together, so a buy and the sell that depended on
        it may both be reported FAILED in the same batch. Raises ValueError (leaving this
        tracker as it was) when a sell exceeds the holding, including after a reversal.
        """
        events = list(self.events)
        failed = list(self.failed_trade_ids)
        failed_set = set(failed)
        applied = {e.trade_id for e in events if isinstance(e, FillEvent)}
        refold = False
        for fill in fills:
            _check_fill(fill)
            trade_id = fill.trade_id
            if trade_id in failed_set:
                continue
            if fill.status.upper() == FAILED:
                failed.append(trade_id)
                failed_set.add(trade_id)
                if trade_id in applied:
                    events = [
                        e
                        for e in events
                        if not (isinstance(e, FillEvent) and e.trade_id == trade_id)
                    ]
                    applied.discard(trade_id)
                    refold = True
            elif trade_id not in applied:
                applied.add(trade_id)
                events.append(
                    FillEvent(
                        trade_id=trade_id,
                        token=fill.token,
                        side=fill.side,
                        price=fill.price,
                        size=fill.size,
                    )
                )
        return self._with_log(tuple(events), tuple(failed), refold)

    def merge(self, qty: Decimal) -> PositionTracker:
        """Merge `qty` YES+NO pairs into `qty` USDC, realizing `qty * (1 - avg_yes - avg_no)`."""
        if qty <= 0:
            raise ValueError(f"merge quantity {qty} must be positive")
        return self._with_log((*self.events, MergeEvent(qty=qty)), self.failed_trade_ids, False)

    def _with_log(
        self,
        events: tuple[StartEvent | FillEvent | MergeEvent, ...],
        failed: tuple[str, ...],
        refold: bool,
    ) -> PositionTracker:
        if refold:
            totals = _fold(events, _Totals())
        else:  # only appended: continue from the current totals
            totals = _fold(events[len(self.events) :], self._totals())
        return self.model_copy(
            update={**totals._asdict(), "events": events, "failed_trade_ids": failed}
        )

    def _totals(self) -> _Totals:
        return _Totals(self.yes_qty, self.yes_cost, self.no_qty, self.no_cost, self.realized_pnl)

    @property
    def net(self) -> Decimal:
        """Exposure: YES+NO pairs are worth exactly 1, so only the difference is at risk."""
        return self.yes_qty - self.no_qty

    def qty(self, token: Token) -> Decimal:
        return self.yes_qty if token is Token.YES else self.no_qty

    def cost(self, token: Token) -> Decimal:
        return self.yes_cost if token is Token.YES else self.no_cost

    def avg_cost(self, token: Token) -> Decimal:
        qty = self.qty(token)
        return self.cost(token) / qty if qty else ZERO

    @property
    def held_token(self) -> Token | None:
        """The token with the larger quantity; None when YES and NO are equal."""
        if self.yes_qty == self.no_qty:
            return None
        return Token.YES if self.yes_qty > self.no_qty else Token.NO

    @property
    def held_qty(self) -> Decimal:
        return abs(self.net)

    @property
    def is_flat(self) -> bool:
        """No exposure (any YES+NO pairs left are worth exactly 1 together)."""
        return self.net == 0

    def unrealized_pnl(self, yes_mid: Decimal) -> Decimal:
        """`yes*(m - avg_yes) + no*((1 - m) - avg_no)`, computed without dividing."""
        return self.yes_qty * yes_mid - self.yes_cost + self.no_qty * (ONE - yes_mid) - self.no_cost

    def total_pnl(self, yes_mid: Decimal) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl(yes_mid)
