"""Per-market position: quantities, average costs and P&L, exact in Decimal.

`PositionTracker` is an immutable value object and its own snapshot: every mutator returns a
new tracker, and `model_dump(mode="json")` / `model_validate` carry it through Temporal
histories. It keeps the log of every trade reported (and any starting position and merges), in
the order the reports came, so that a trade reported FAILED later is reversed exactly, by
re-folding the log without it: sells that came after a reversed buy then realize against the
average cost they really had.

A fill reported by the venue is a fact, so `apply_fills` never refuses a well-formed one (an
exception there would fail a workflow task, which Temporal retries forever, wedging the
liquidation); what cannot be applied yet waits, visibly, in the tracker's state:
  - A FAILED trade stays counted, its id in `pending_reversals`, while reversing it would
    make a later sell or merge of the log wait (the sell of its shares failed too and that
    FAILED report has not come yet); a sell reported after a reversal can bring it back the
    same way. It is reversed as soon as that stops being true.
  - A sell the log cannot cover even so (its buy is reported later: same-second trades come
    sorted by id) waits, its id in `uncovered_sells`, until the holdings cover it.
Only `merge`, our own decision, is refused when the pairs are not there.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import Field, model_validator

from dualmm.domain.types import Fill, Frozen, Side, Token

ZERO = Decimal(0)
ONE = Decimal(1)
FAILED = "FAILED"
CONFIRMED = "CONFIRMED"
# FAILED trade ids no longer in the log kept to ignore a late copy (older ones are also
# before the fill boundary, which ignores them anyway).
_FAILED_KEPT = 100


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
    at: datetime | None = None  # the venue's match time (None in logs recorded before it)
    confirmed: bool = False  # reported CONFIRMED: final, it can never be reversed
    fee: Decimal = ZERO  # a taker fee: part of a buy's cost, taken from a sell's proceeds


class MergeEvent(Frozen):
    kind: Literal["merge"] = "merge"
    qty: Decimal


LogEvent = StartEvent | FillEvent | MergeEvent
PositionEvent = Annotated[LogEvent, Field(discriminator="kind")]


class _Totals(NamedTuple):
    yes_qty: Decimal = ZERO
    yes_cost: Decimal = ZERO
    no_qty: Decimal = ZERO
    no_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO


class _Fold(NamedTuple):
    totals: _Totals
    # Log indices of the sells/merges the holdings do not cover yet, in log order.
    waiting: tuple[int, ...] = ()
    # Every index that had to wait at some point (it may have been applied later).
    deferred: frozenset[int] = frozenset()


def _share_of_cost(cost: Decimal, qty: Decimal, part: Decimal) -> Decimal:
    """Cost attributed to `part` of `qty` shares; all of it when the whole holding goes."""
    return cost if part == qty else cost * part / qty


def _covered(t: _Totals, event: LogEvent) -> bool:
    if isinstance(event, MergeEvent):
        return event.qty <= min(t.yes_qty, t.no_qty)
    if isinstance(event, FillEvent) and event.side is Side.SELL:
        return event.size <= (t.yes_qty if event.token is Token.YES else t.no_qty)
    return True


def _step(t: _Totals, event: LogEvent) -> _Totals:
    """Apply one covered event."""
    if isinstance(event, StartEvent):
        return _Totals(
            event.yes_qty, event.yes_cost, event.no_qty, event.no_cost, event.realized_pnl
        )
    if isinstance(event, MergeEvent):
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
        qty, cost = qty + event.size, cost + event.price * event.size + event.fee
    else:
        cost_out = _share_of_cost(cost, qty, event.size)
        realized += event.price * event.size - event.fee - cost_out
        qty, cost = qty - event.size, cost - cost_out
    if is_yes:
        return _Totals(qty, cost, t.no_qty, t.no_cost, realized)
    return _Totals(t.yes_qty, t.yes_cost, qty, cost, realized)


def _fold(
    events: Sequence[LogEvent],
    reversed_ids: frozenset[str],
    begin: _Fold = _Fold(_Totals()),
    start: int = 0,
) -> _Fold:
    """Fold `events[start:]` onto `begin`, skipping reversed trades; what the holdings cannot
    cover waits and is retried, in log order, after every event applied."""
    totals, waiting, deferred = begin.totals, list(begin.waiting), set(begin.deferred)
    for index in range(start, len(events)):
        event = events[index]
        if isinstance(event, FillEvent) and event.trade_id in reversed_ids:
            continue
        if not _covered(totals, event):
            waiting.append(index)
            deferred.add(index)
            continue
        totals = _step(totals, event)
        still: list[int] = []
        for held_back in waiting:
            if _covered(totals, events[held_back]):
                totals = _step(totals, events[held_back])
            else:
                still.append(held_back)
        waiting = still
    return _Fold(totals, tuple(waiting), frozenset(deferred))


def _resolve(events: Sequence[LogEvent], failed: Iterable[str]) -> tuple[_Fold, tuple[str, ...]]:
    """The fold of the log without the FAILED trades that can be reversed, and those that
    cannot yet (in the order their FAILED reports came).

    A reversal is applied unless it makes some sell or merge wait that did not wait with every
    reported trade counted. Reversals go all at once when they can (the usual case, one
    re-fold), else one by one in report order, repeating while one goes through: reversing a
    sell can give back the shares another reversal needs.
    """
    logged = {e.trade_id for e in events if isinstance(e, FillEvent)}
    pending = [trade_id for trade_id in failed if trade_id in logged]
    base = _fold(events, frozenset())
    if not pending:
        return base, ()
    every = _fold(events, frozenset(pending))
    if every.deferred <= base.deferred:
        return every, ()
    current, reversed_ids = base, frozenset[str]()
    progress = True
    while progress:
        progress = False
        for trade_id in tuple(pending):
            candidate = _fold(events, reversed_ids | {trade_id})
            if candidate.deferred <= base.deferred:
                current, reversed_ids = candidate, reversed_ids | {trade_id}
                pending.remove(trade_id)
                progress = True
    return current, tuple(pending)


def _is_failed(fill: Fill) -> bool:
    return fill.status.upper() == FAILED


def _is_confirmed(fill: Fill) -> bool:
    # The docs' TRADE_STATUS_CONFIRMED and the SDK's CONFIRMED.
    return fill.status.upper().removeprefix("TRADE_STATUS_") == CONFIRMED


def _check_fill(fill: Fill) -> None:
    """A malformed report is not a fact about our position: refuse it."""
    if fill.size <= 0:
        raise ValueError(f"trade {fill.trade_id}: size {fill.size} must be positive")
    if not ZERO <= fill.price <= ONE:
        raise ValueError(f"trade {fill.trade_id}: price {fill.price} is outside [0, 1]")


class FillBoundary(Frozen):
    """Where an owner's fills begin: the trades the venue had already reported when a round or
    a liquidation started belong to earlier owners of the market.

    A fill is after the boundary when it matched after `at`, or at `at` itself and is not one
    of `trade_ids` (venues report match times in whole seconds, so the trades of the boundary's
    second are told apart by id). Every adapter's fills carry the venue's match time and trade
    id, so this one rule holds for all of them, whatever their cursors look like (a cursor may
    report a trade again, or earlier ones: that is how late status changes arrive).
    """

    at: datetime
    trade_ids: tuple[str, ...] = ()

    @classmethod
    def after(cls, reported: Iterable[Fill]) -> FillBoundary | None:
        """The boundary just after every fill in `reported`; None when there is none."""
        fills = list(reported)
        if not fills:
            return None
        newest = max(fill.at for fill in fills)
        ids = sorted({fill.trade_id for fill in fills if fill.at == newest})
        return cls(at=newest, trade_ids=tuple(ids))

    def owns(self, fill: Fill) -> bool:
        return fill.at > self.at or (fill.at == self.at and fill.trade_id not in self.trade_ids)


class PositionTracker(Frozen):
    """One market's YES/NO holdings, their costs and realized P&L, plus the log behind them.

    `since` is the owner's fill boundary: a report of a trade from before it (a fill of an
    earlier round or liquidation on the same market, or a later status change of one) is not
    ours and is ignored; None counts every report.
    """

    yes_qty: Decimal = ZERO
    yes_cost: Decimal = ZERO
    no_qty: Decimal = ZERO
    no_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    # Every reported trade stays in the log, reversed ones too: a sell reported later may need
    # a reversal undone until its own dependency's FAILED report comes.
    events: tuple[PositionEvent, ...] = ()
    # Trades reported FAILED, in report order: a later MATCHED/CONFIRMED copy is ignored.
    failed_trade_ids: tuple[str, ...] = ()
    # FAILED trades still counted in the position, because reversing them would make a later
    # sell wait (see the module docstring).
    pending_reversals: tuple[str, ...] = ()
    # Log indices of sells (or merges) waiting for the holdings to cover them.
    waiting: tuple[int, ...] = ()
    since: FillBoundary | None = None

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
        fold, pending = _resolve(self.events, self.failed_trade_ids)
        if (fold.totals, fold.waiting, pending) != (
            self._totals(),
            self.waiting,
            self.pending_reversals,
        ):
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

    def starting_after(self, boundary: FillBoundary | None) -> PositionTracker:
        """This tracker counting only fills after `boundary`."""
        return self.model_copy(update={"since": boundary})

    def apply_fill(self, fill: Fill) -> PositionTracker:
        return self.apply_fills((fill,))

    def apply_fills(self, fills: Iterable[Fill]) -> PositionTracker:
        """Apply venue reports in order: duplicates count once, FAILED ones reverse their trade.

        Never raises for a well-formed report, in any order (see the module docstring); the
        result does not depend on how the reports are split into calls. Reports of trades
        before the tracker's boundary (`since`) are not ours and change nothing.
        """
        events = list(self.events)
        if self.since is not None:
            since = self.since
            in_log = {e.trade_id for e in events if isinstance(e, FillEvent)}
            fills = [fill for fill in fills if since.owns(fill) or fill.trade_id in in_log]
        failed = list(self.failed_trade_ids)
        failed_set = set(failed)
        logged = {e.trade_id for e in events if isinstance(e, FillEvent)}
        any_failed_logged = any(t in logged for t in failed)
        fold, pending = _Fold(self._totals(), self.waiting), self.pending_reversals
        confirmed: set[str] = set()
        for fill in fills:
            _check_fill(fill)
            trade_id = fill.trade_id
            if trade_id in failed_set:
                continue
            if _is_confirmed(fill):
                confirmed.add(trade_id)
            if _is_failed(fill):
                failed.append(trade_id)
                failed_set.add(trade_id)
                if trade_id in logged:
                    any_failed_logged = True
                    fold, pending = _resolve(events, failed)
            elif trade_id not in logged:
                logged.add(trade_id)
                events.append(
                    FillEvent(
                        trade_id=trade_id,
                        token=fill.token,
                        side=fill.side,
                        price=fill.price,
                        size=fill.size,
                        at=fill.at,
                        fee=fill.fee,
                    )
                )
                fold, pending = _appended(events, failed, any_failed_logged, fold, pending)
        if confirmed:
            events = [
                e.model_copy(update={"confirmed": True})
                if isinstance(e, FillEvent) and e.trade_id in confirmed and not e.confirmed
                else e
                for e in events
            ]
        return self._with(events, failed, fold, pending).compacted()

    def compacted(self) -> PositionTracker:
        """The same position with the final prefix of its log folded into the starting event.

        A CONFIRMED trade can never change the position again, so while no sell waits and no
        reversal is pending, the longest prefix of such trades (with the reversed trades and
        merges among them, up to a confirmed trade) whose match times all precede every later
        trade's becomes a StartEvent, and the
        fill boundary moves past it: a re-report of a folded trade is before the boundary and
        ignored, as deduplication by id did while it was logged. The log then holds only what
        is not final yet, so the tracker stays small however many fills it has seen.
        """
        events = self.events
        if self.waiting or self.pending_reversals or not events:
            return self
        failed = set(self.failed_trade_ids)
        final = 0
        for event in events:
            if isinstance(event, FillEvent) and (
                event.at is None or not (event.confirmed or event.trade_id in failed)
            ):
                break
            final += 1
        if any(isinstance(e, FillEvent) and e.at is None for e in events[final:]):
            return self
        # Cut where every folded trade matched before every trade left in the log, so the
        # moved boundary leaves every logged trade's later reports in.
        earliest_after: list[datetime | None] = [None] * (len(events) + 1)
        for index in range(len(events) - 1, -1, -1):
            at, after = _at(events[index]), earliest_after[index + 1]
            earliest_after[index] = (
                at if after is None or (at is not None and at < after) else after
            )
        cut, newest, cut_at = 0, None, None
        for index in range(final):
            event = events[index]
            at = _at(event)
            if at is not None:
                newest = at if newest is None else max(newest, at)
            after = earliest_after[index + 1]
            # A cut ends on a CONFIRMED trade: a reversed one folds only with the confirmed
            # ones after it (until then a later sell may still need it back, see _resolve).
            ends_confirmed = isinstance(event, FillEvent) and event.confirmed
            if ends_confirmed and newest is not None and (after is None or newest < after):
                cut, cut_at = index + 1, newest
        if cut == 0 or cut_at is None:
            return self
        folded = events[:cut]
        if len(folded) == 1 and isinstance(folded[0], StartEvent):
            return self
        totals = _fold(folded, frozenset(failed)).totals
        start = StartEvent(**totals._asdict())
        kept = events[cut:]
        ids = {e.trade_id for e in folded if isinstance(e, FillEvent) and e.at == cut_at}
        if self.since is not None and self.since.at == cut_at:
            ids |= set(self.since.trade_ids)
        in_log = {e.trade_id for e in kept if isinstance(e, FillEvent)}
        others = [t for t in self.failed_trade_ids if t not in in_log]
        recent = set(others[-_FAILED_KEPT:])
        failed_kept = [t for t in self.failed_trade_ids if t in in_log or t in recent]
        return self.model_copy(
            update={
                "events": ((start,) if start != StartEvent() else ()) + tuple(kept),
                "since": FillBoundary(at=cut_at, trade_ids=tuple(sorted(ids))),
                "failed_trade_ids": tuple(failed_kept),
            }
        )

    def merge(self, qty: Decimal) -> PositionTracker:
        """Merge `qty` YES+NO pairs into `qty` USDC, realizing `qty * (1 - avg_yes - avg_no)`."""
        if qty <= 0:
            raise ValueError(f"merge quantity {qty} must be positive")
        if qty > min(self.yes_qty, self.no_qty):
            raise ValueError(
                f"cannot merge {qty} pairs: holding {self.yes_qty} YES and {self.no_qty} NO"
            )
        events = [*self.events, MergeEvent(qty=qty)]
        logged = {e.trade_id for e in self.events if isinstance(e, FillEvent)}
        fold, pending = _appended(
            events,
            self.failed_trade_ids,
            any(t in logged for t in self.failed_trade_ids),
            _Fold(self._totals(), self.waiting),
            self.pending_reversals,
        )
        return self._with(events, self.failed_trade_ids, fold, pending)

    def _with(
        self,
        events: Sequence[LogEvent],
        failed: Sequence[str],
        fold: _Fold,
        pending: tuple[str, ...],
    ) -> PositionTracker:
        return self.model_copy(
            update={
                **fold.totals._asdict(),
                "events": tuple(events),
                "failed_trade_ids": tuple(failed),
                "pending_reversals": pending,
                "waiting": fold.waiting,
            }
        )

    def _totals(self) -> _Totals:
        return _Totals(self.yes_qty, self.yes_cost, self.no_qty, self.no_cost, self.realized_pnl)

    @property
    def uncovered_sells(self) -> tuple[str, ...]:
        """Trade ids of reported sells still waiting for the holdings to cover them."""
        return tuple(
            event.trade_id
            for event in (self.events[i] for i in self.waiting)
            if isinstance(event, FillEvent)
        )

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

    def new_fills(self, fills: Iterable[Fill]) -> list[Fill]:
        """The reports among `fills` of trades this tracker has not counted yet (each once):
        what a log line calls a fill. Re-reports of logged or folded trades are not new."""
        known = {e.trade_id for e in self.events if isinstance(e, FillEvent)}
        known |= set(self.failed_trade_ids)
        new: list[Fill] = []
        for fill in fills:
            mine = self.since is None or self.since.owns(fill)
            if mine and fill.trade_id not in known and not _is_failed(fill):
                known.add(fill.trade_id)
                new.append(fill)
        return new

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


def _at(event: LogEvent) -> datetime | None:
    return event.at if isinstance(event, FillEvent) else None


def _appended(
    events: Sequence[LogEvent],
    failed: Sequence[str],
    any_failed_logged: bool,
    fold: _Fold,
    pending: tuple[str, ...],
) -> tuple[_Fold, tuple[str, ...]]:
    """The state once `events[-1]` is appended to a log whose state is `fold`, `pending`.

    With no reversal in play, or a buy (which changes no reversal's outcome), the fold just
    goes on; a sell or merge can change which reversals go through, so it re-resolves.
    """
    last = events[-1]
    if any_failed_logged and not (isinstance(last, FillEvent) and last.side is Side.BUY):
        return _resolve(events, failed)
    reversed_ids = frozenset(failed) - set(pending)
    return _fold(events, reversed_ids, fold, len(events) - 1), pending


def record_fills(
    recorded: Sequence[Fill], reports: Iterable[Fill], order_ids: Container[str] | None = None
) -> tuple[Fill, ...]:
    """The trades that stand, for reports: a re-reported trade counts once, a FAILED one goes.
    With `order_ids`, only fills of those orders are recorded (an owner's own fills)."""
    by_id = {fill.trade_id: fill for fill in recorded}
    failed: set[str] = set()
    for report in reports:
        if order_ids is not None and report.order_id not in order_ids:
            continue
        if _is_failed(report):
            failed.add(report.trade_id)
            by_id.pop(report.trade_id, None)
        elif report.trade_id not in failed:
            known = by_id.get(report.trade_id)
            # The latest status stands (MATCHED -> MINED -> CONFIRMED), never back from settled.
            if known is None or not is_settled(known):
                by_id[report.trade_id] = report
    return tuple(by_id.values())


def is_settled(fill: Fill) -> bool:
    """CONFIRMED or FAILED: the venue will not change this trade any more."""
    return fill.status.upper() in (CONFIRMED, FAILED)


def unsettled(fills: Iterable[Fill]) -> int:
    """How many of these trades may still change (FAIL) at the venue."""
    return sum(1 for fill in fills if not is_settled(fill))


# How long after its match a trade is waited for to settle. Polymarket settles in minutes; an
# owner must not wait forever on a trade whose settlement it may never read (the CLOB adapter
# reads fills back an hour before its cursor).
SETTLE_WAIT = timedelta(hours=1)


def unsettled_trades(
    position: PositionTracker, fills: Iterable[Fill] = (), now: datetime | None = None
) -> int:
    """How many trades behind an owner's position may still change (FAIL) at the venue: its
    own recorded `fills` not yet settled, and the trades in the position's log not yet reported
    CONFIRMED or FAILED, which include those of a round that handed the position over. With
    `now`, trades matched more than SETTLE_WAIT before it (or at an unknown time) are not
    waited for any more."""

    def waited_for(at: datetime | None) -> bool:
        return now is None or (at is not None and now - at <= SETTLE_WAIT)

    failed = set(position.failed_trade_ids)
    ids = {
        event.trade_id
        for event in position.events
        if isinstance(event, FillEvent)
        and not event.confirmed
        and event.trade_id not in failed
        and waited_for(event.at)
    }
    ids |= {fill.trade_id for fill in fills if not is_settled(fill) and waited_for(fill.at)}
    return len(ids)


# The latest fills an owner keeps for reports (its tracker has the totals).
RECENT_FILLS_KEPT = 100


def absorb_fills(
    position: PositionTracker,
    recorded: Sequence[Fill],
    reports: Sequence[Fill],
    order_ids: Container[str],
    start: FillBoundary | None = None,
) -> tuple[PositionTracker, tuple[Fill, ...]]:
    """One sync's reports into an owner's position and its bounded list of its own fills
    (the liquidation workflow and the replay do the same through this).

    `start` is the owner's start boundary, given by its first sync when it began without a
    cursor: its position is as of then, so only later fills count.
    """
    if start is not None:
        position = position.starting_after(start)
    position = position.apply_fills(reports)
    return position, record_fills(recorded, reports, order_ids)[-RECENT_FILLS_KEPT:]
