"""PositionTracker: P&L through fills, sells, merges and FAILED reversals, to the cent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from dualmm.domain.position import (
    SETTLE_WAIT,
    PositionTracker,
    record_fills,
    unsettled_trades,
)
from dualmm.domain.types import Fill, Side, Token

D = Decimal
YES, NO = Token.YES, Token.NO
BUY, SELL = Side.BUY, Side.SELL
AT = datetime(2026, 1, 1, tzinfo=UTC)
CENT = D("0.01")


def fill(
    trade_id: str, token: Token, side: Side, price: str, size: str, status: str = "MATCHED"
) -> Fill:
    return Fill(
        trade_id=trade_id,
        condition_id="0xc",
        token=token,
        side=side,
        price=D(price),
        size=D(size),
        at=AT,
        status=status,
    )


def failed(f: Fill) -> Fill:
    return f.model_copy(update={"status": "FAILED"})


@dataclass(frozen=True)
class Case:
    name: str
    start: PositionTracker
    steps: tuple[Fill | str, ...]  # a str is a merge quantity
    yes_qty: str
    yes_cost: str
    no_qty: str
    no_cost: str
    realized: str


B1 = fill("t1", YES, BUY, "0.40", "10")
B2 = fill("t2", YES, BUY, "0.60", "10")
S3 = fill("t3", YES, SELL, "0.70", "10")
EMPTY = PositionTracker()

CASES = [
    Case("two buys average", EMPTY, (B1, B2), "20", "10.00", "0", "0", "0"),
    Case(
        "sell realizes against average cost",
        EMPTY,
        (B1, B2, fill("t3", YES, SELL, "0.70", "5")),
        "15",
        "7.50",
        "0",
        "0",
        "1.00",
    ),
    Case(
        "repeated trade id counts once (MATCHED, MATCHED, CONFIRMED)",
        EMPTY,
        (B1, B1, B1.model_copy(update={"status": "CONFIRMED"})),
        "10",
        "4.00",
        "0",
        "0",
        "0",
    ),
    Case(
        # Without t2 the sell realizes against 0.40 instead of 0.50: 3.00, not 2.00.
        "FAILED buy that a later sell depended on is re-folded",
        EMPTY,
        (B1, B2, S3, failed(B2)),
        "0",
        "0",
        "0",
        "0",
        "3.00",
    ),
    Case(
        "FAILED sell restores the shares and drops its P&L",
        EMPTY,
        (B1, B2, S3, failed(S3)),
        "20",
        "10.00",
        "0",
        "0",
        "0",
    ),
    Case(
        "FAILED never seen blocks its later MATCHED copy",
        EMPTY,
        (failed(B1), B1, B2),
        "10",
        "6.00",
        "0",
        "0",
        "0",
    ),
    Case(
        "FAILED reported twice reverses once",
        EMPTY,
        (B1, B2, failed(B1), failed(B1)),
        "10",
        "6.00",
        "0",
        "0",
        "0",
    ),
    Case(
        "merge of all pairs realizes 1 - avg_yes - avg_no",
        EMPTY,
        (B1, fill("n1", NO, BUY, "0.55", "10"), "10"),
        "0",
        "0",
        "0",
        "0",
        "0.50",
    ),
    Case(
        "partial merge reduces both costs pro rata",
        PositionTracker.opening(YES, D(20), D("0.45")),
        (fill("n1", NO, BUY, "0.50", "10"), "4"),
        "16",
        "7.20",
        "6",
        "3.00",
        "0.20",
    ),
    Case(
        "merge at a loss",
        EMPTY,
        (fill("y", YES, BUY, "0.62", "5"), fill("n", NO, BUY, "0.45", "5"), "5"),
        "0",
        "0",
        "0",
        "0",
        "-0.35",
    ),
    Case(
        "opening position sold at a loss",
        PositionTracker.opening(YES, D(20), D("0.55")),
        (fill("s", YES, SELL, "0.50", "20"),),
        "0",
        "0",
        "0",
        "0",
        "-1.00",
    ),
    Case(
        "NO sell",
        PositionTracker.opening(NO, D(30), D("0.30")),
        (fill("s", NO, SELL, "0.35", "10"),),
        "0",
        "0",
        "20",
        "6.00",
        "0.50",
    ),
    Case(
        "thirds: partial sells conserve cost exactly once flat",
        EMPTY,
        (
            fill("a", YES, BUY, "0.20", "1"),
            fill("b", YES, BUY, "0.30", "1"),
            fill("c", YES, BUY, "0.50", "1"),
            fill("d", YES, SELL, "0.50", "1"),
            fill("e", YES, SELL, "0.50", "2"),
        ),
        "0",
        "0",
        "0",
        "0",
        "0.50",
    ),
]


def run(start: PositionTracker, steps: tuple[Fill | str, ...]) -> PositionTracker:
    tracker = start
    for step in steps:
        tracker = tracker.merge(D(step)) if isinstance(step, str) else tracker.apply_fill(step)
    return tracker


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_pnl_table(case: Case) -> None:
    t = run(case.start, case.steps)
    assert (t.yes_qty, t.no_qty) == (D(case.yes_qty), D(case.no_qty))
    assert t.yes_cost.quantize(CENT) == D(case.yes_cost)
    assert t.no_cost.quantize(CENT) == D(case.no_cost)
    assert t.realized_pnl.quantize(CENT) == D(case.realized)


def test_thirds_realize_exactly_when_flat() -> None:
    t = run(EMPTY, CASES[-1].steps)
    assert t.realized_pnl == D("0.5")
    assert t.yes_cost == 0


def test_partial_sell_of_thirds_is_to_the_cent() -> None:
    t = run(EMPTY, CASES[-1].steps[:4])
    assert t.realized_pnl.quantize(CENT) == D("0.17")
    assert t.avg_cost(YES).quantize(CENT) == D("0.33")


def test_unrealized_and_total_at_a_mid() -> None:
    t = PositionTracker.opening(YES, D(20), D("0.55")).apply_fills(
        [fill("n", NO, BUY, "0.40", "5"), fill("s", YES, SELL, "0.65", "4")]
    )
    # realized 4 * (0.65 - 0.55) = 0.40; left 16 YES @ 0.55 and 5 NO @ 0.40
    assert t.realized_pnl == D("0.40")
    # at mid 0.60: 16 * 0.05 + 5 * (0.40 - 0.40) = 0.80
    assert t.unrealized_pnl(D("0.60")) == D("0.80")
    assert t.total_pnl(D("0.60")) == D("1.20")
    # at mid 0.50: 16 * -0.05 + 5 * 0.10 = -0.30
    assert t.unrealized_pnl(D("0.50")) == D("-0.30")


def test_exposure_properties() -> None:
    t = PositionTracker.opening(YES, D(20), D("0.55")).apply_fill(fill("n", NO, BUY, "0.40", "5"))
    assert t.net == D(15)
    assert t.held_token is YES
    assert t.held_qty == D(15)
    assert not t.is_flat
    assert (t.qty(YES), t.qty(NO)) == (D(20), D(5))
    assert (t.cost(YES), t.cost(NO)) == (D("11.00"), D("2.00"))
    assert (t.avg_cost(YES), t.avg_cost(NO)) == (D("0.55"), D("0.40"))

    short = PositionTracker.opening(NO, D(7), D("0.30"))
    assert (short.net, short.held_token, short.held_qty) == (D(-7), NO, D(7))

    assert EMPTY.held_token is None
    assert EMPTY.is_flat
    assert EMPTY.avg_cost(YES) == 0
    paired = t.apply_fill(fill("n2", NO, BUY, "0.40", "15"))
    assert paired.held_token is None
    assert paired.is_flat


def test_sell_reported_before_its_buy_waits_for_it() -> None:
    # Same-second trades can come sorted by id rather than by match: a report is a fact.
    early_sell = fill("s", YES, SELL, "0.50", "4")
    t = EMPTY.apply_fill(early_sell)
    assert (t.yes_qty, t.realized_pnl, t.uncovered_sells) == (0, 0, ("s",))
    t = t.apply_fill(B1)
    assert (t.yes_qty, t.yes_cost, t.realized_pnl) == (D(6), D("2.40"), D("0.40"))
    assert t.uncovered_sells == ()
    assert t == EMPTY.apply_fills([early_sell, B1])


def test_merging_more_than_the_pairs_is_rejected() -> None:
    t = EMPTY.apply_fills([B1, fill("n", NO, BUY, "0.50", "4")])
    with pytest.raises(ValueError, match="cannot merge"):
        t.merge(D("4.01"))
    with pytest.raises(ValueError, match="positive"):
        t.merge(D(0))


def test_bad_fills_and_openings_are_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        EMPTY.apply_fill(fill("x", YES, BUY, "0.5", "0"))
    with pytest.raises(ValueError, match="outside"):
        EMPTY.apply_fill(fill("x", YES, BUY, "1.5", "1"))
    with pytest.raises(ValueError, match="negative"):
        PositionTracker.opening(YES, D(-1), D("0.5"))
    with pytest.raises(ValueError, match="outside"):
        PositionTracker.opening(YES, D(1), D("1.2"))


def test_mutators_leave_the_original_untouched() -> None:
    t = EMPTY.apply_fill(B1)
    t.apply_fills([B2, S3, failed(B1)])
    t.apply_fill(fill("n", NO, BUY, "0.50", "10")).merge(D(10))
    assert (t.yes_qty, t.yes_cost) == (D(10), D("4.00"))
    with pytest.raises(ValidationError):
        t.yes_qty = D(0)  # type: ignore[misc]


def test_snapshot_round_trip_through_json() -> None:
    t = (
        PositionTracker.opening(YES, D(20), D("0.55"))
        .apply_fills([B1, fill("n", NO, BUY, "0.40", "5"), failed(fill("z", NO, BUY, "0.1", "1"))])
        .merge(D(3))
        .apply_fill(fill("s", YES, SELL, "0.61", "2.5"))
    )
    restored = PositionTracker.model_validate(json.loads(json.dumps(t.model_dump(mode="json"))))
    assert restored == t
    # The restored log still dedupes and reverses.
    assert restored.apply_fill(B1) == restored
    assert restored.apply_fill(fill("z", NO, BUY, "0.1", "1")) == restored
    assert restored.apply_fill(failed(B1)).yes_qty == t.yes_qty - 10


def test_totals_without_a_log_become_the_start() -> None:
    direct = PositionTracker(yes_qty=D(20), yes_cost=D(11))
    assert direct.yes_qty == D(20)
    assert direct.avg_cost(YES) == D("0.55")
    # Re-folding after a reversal keeps the starting position.
    t = direct.apply_fills([B1, failed(B1)])
    assert (t.yes_qty, t.yes_cost) == (D(20), D(11))


def test_snapshot_whose_totals_disagree_with_its_log_is_refused() -> None:
    data = EMPTY.apply_fill(B1).model_dump(mode="json")
    data["yes_qty"] = "11"
    with pytest.raises(ValidationError, match="do not match"):
        PositionTracker.model_validate(data)


# --- FAILED reports that cannot be applied yet -------------------------------------------

SELL_ALL = fill("s", YES, SELL, "0.70", "10")


@dataclass(frozen=True)
class Reports:
    name: str
    calls: tuple[tuple[Fill, ...], ...]  # one apply_fills call each
    yes_qty: str
    yes_cost: str
    realized: str
    pending: tuple[str, ...] = ()


REPORT_CASES = [
    Reports(
        "sold-out buy FAILED alone: pending, position unchanged",
        ((B1, SELL_ALL), (failed(B1),)),
        "0",
        "0",
        "3.00",
        ("t1",),
    ),
    Reports(
        "buy FAILED, then its sell FAILED",
        ((B1, SELL_ALL), (failed(B1),), (failed(SELL_ALL),)),
        "0",
        "0",
        "0",
    ),
    Reports(
        "sell FAILED, then its buy FAILED",
        ((B1, SELL_ALL), (failed(SELL_ALL),), (failed(B1),)),
        "0",
        "0",
        "0",
    ),
    Reports(
        "both legs FAILED in one call",
        ((B1, SELL_ALL), (failed(B1), failed(SELL_ALL))),
        "0",
        "0",
        "0",
    ),
    Reports(
        "pending reversal ignores later buys, then goes through",
        ((B1, SELL_ALL), (failed(B1),), (B2,), (failed(SELL_ALL),)),
        "10",
        "6.00",
        "0",
    ),
    Reports(
        # Either buy alone covers the 8 sold, not neither: t1 (reported first) goes.
        "partly dependent sell: the reversal that fits goes, the other waits",
        ((B1, B2, fill("s", YES, SELL, "0.70", "8")), (failed(B1), failed(B2))),
        "2",
        "1.20",
        "0.80",
        ("t2",),
    ),
    Reports(
        "a sell that leans on a reversed buy undoes that reversal until its own FAILED comes",
        (
            (B1, B2, SELL_ALL),
            (failed(B2),),  # s sold t1's shares so far: t2 goes
            (fill("s2", YES, SELL, "0.90", "10"),),  # s2 needs t2's shares back: t2 pending
        ),
        # t2 counted again: s and s2 realize against 0.50.
        "0",
        "0",
        "6.00",
        ("t2",),
    ),
    Reports(
        # Once s is FAILED the log is t1, s2, t3 in report order: s2 sold t1's shares.
        "... and the end state is the fold of the surviving trades",
        (
            (B1, B2, SELL_ALL),
            (failed(B2),),
            (fill("s2", YES, SELL, "0.90", "10"),),
            (fill("t3", YES, BUY, "0.80", "10"),),
            (failed(SELL_ALL),),
        ),
        "10",
        "8.00",
        "5.00",
    ),
]


@pytest.mark.parametrize("case", REPORT_CASES, ids=[c.name for c in REPORT_CASES])
def test_failed_reports_in_any_order(case: Reports) -> None:
    t = EMPTY
    for call in case.calls:
        t = t.apply_fills(call)
    assert (t.yes_qty, t.yes_cost.quantize(CENT), t.realized_pnl.quantize(CENT)) == (
        D(case.yes_qty),
        D(case.yes_cost),
        D(case.realized),
    )
    assert t.pending_reversals == case.pending
    # The same reports in one call give the same tracker.
    assert EMPTY.apply_fills([f for call in case.calls for f in call]) == t


def test_pending_reversal_survives_a_json_round_trip() -> None:
    t = EMPTY.apply_fills([B1, SELL_ALL, failed(B1)])
    restored = PositionTracker.model_validate(json.loads(json.dumps(t.model_dump(mode="json"))))
    assert restored == t
    assert restored.pending_reversals == ("t1",)
    # Still blocked against a late MATCHED copy, and released by the dependent FAILED.
    assert restored.apply_fill(B1) == restored
    done = restored.apply_fill(failed(SELL_ALL))
    assert (done.yes_qty, done.realized_pnl, done.pending_reversals) == (0, 0, ())


def test_waiting_sell_survives_a_json_round_trip() -> None:
    t = EMPTY.apply_fill(fill("s", YES, SELL, "0.50", "4"))
    restored = PositionTracker.model_validate_json(t.model_dump_json())
    assert restored.uncovered_sells == ("s",)
    assert restored.apply_fill(B1).realized_pnl == D("0.40")


def test_snapshot_with_a_forged_pending_list_is_refused() -> None:
    data = EMPTY.apply_fills([B1, SELL_ALL]).model_dump(mode="json")
    data["pending_reversals"] = ["t1"]
    with pytest.raises(ValidationError, match="do not match"):
        PositionTracker.model_validate(data)


# --- properties ---------------------------------------------------------------------------

prices = st.integers(1, 99).map(lambda c: D(c) / 100)
sizes = st.integers(1, 10_000).map(lambda c: D(c) / 100)
RawFill = tuple[Token, Side, Decimal, Decimal]
raw_fills = st.tuples(st.sampled_from([YES, NO]), st.sampled_from([BUY, SELL]), prices, sizes)


def position(t: PositionTracker) -> tuple[Decimal, ...]:
    return (t.yes_qty, t.yes_cost, t.no_qty, t.no_cost, t.realized_pnl)


def trades(raw: list[RawFill]) -> list[Fill]:
    return [
        Fill(
            trade_id=f"t{i}",
            condition_id="0xc",
            token=token,
            side=side,
            price=price,
            size=size,
            at=AT,
        )
        for i, (token, side, price, size) in enumerate(raw)
    ]


def covered(fills: list[Fill]) -> list[Fill]:
    """The fills the venue would have matched, in order: sells only of shares held."""
    held = {YES: D(0), NO: D(0)}
    matched = []
    for f in fills:
        if f.side is SELL and f.size > held[f.token]:
            continue
        held[f.token] += f.size if f.side is BUY else -f.size
        matched.append(f)
    return matched


def build(raw: list[RawFill]) -> tuple[PositionTracker, list[Fill]]:
    applied = covered(trades(raw))
    return EMPTY.apply_fills(applied), applied


@given(st.lists(raw_fills, max_size=25), raw_fills)
def test_fill_then_its_failed_copy_restores_the_state(raw: list[RawFill], last: RawFill) -> None:
    before, _ = build(raw)
    token, side, price, size = last
    f = Fill(
        trade_id="last", condition_id="0xc", token=token, side=side, price=price, size=size, at=AT
    )
    undone = before.apply_fills([f, failed(f)])
    assert position(undone) == position(before)
    assert undone.failed_trade_ids == ("last",)
    assert (undone.pending_reversals, undone.uncovered_sells) == ((), ())
    assert undone.apply_fill(f) == undone


@given(st.lists(raw_fills, max_size=30), st.data())
def test_costs_and_quantities_never_negative_and_cash_is_conserved(
    raw: list[RawFill],
    data: st.DataObject,
) -> None:
    tracker, applied = build(raw)
    pairs = min(tracker.yes_qty, tracker.no_qty)
    if pairs > 0:
        half = (pairs / 2).quantize(CENT)
        tracker = tracker.merge(data.draw(st.sampled_from([pairs, half] if half else [pairs])))
    for value in (tracker.yes_qty, tracker.no_qty, tracker.yes_cost, tracker.no_cost):
        assert value >= 0
    if tracker.yes_qty == 0:
        assert tracker.yes_cost == 0
    # Every dollar spent is either still carried as cost or already realized against proceeds.
    spent = sum((f.price * f.size for f in applied if f.side is BUY), D(0))
    received = sum((f.price * f.size for f in applied if f.side is SELL), D(0))
    merged = sum((e.qty for e in tracker.events if e.kind == "merge"), D(0))
    books = tracker.realized_pnl - tracker.yes_cost - tracker.no_cost
    assert abs(books - (received + merged - spent)) < D("1e-20")


@given(st.lists(raw_fills, min_size=1, max_size=20), st.data())
def test_reversal_equals_never_having_applied_the_trade(
    raw: list[RawFill], data: st.DataObject
) -> None:
    tracker, applied = build(raw)
    if not applied:
        return
    victim = data.draw(st.sampled_from(applied))
    reversed_ = tracker.apply_fill(failed(victim))
    if reversed_.pending_reversals:
        # A later sell needed the victim's shares: nothing moves until that sell fails too.
        assert reversed_.pending_reversals == (victim.trade_id,)
        assert position(reversed_) == position(tracker)
        return
    without = EMPTY.apply_fills([f for f in applied if f is not victim])
    assert position(reversed_) == position(without)


# A venue report: a new trade (token, side, price, size), or the FAILED copy of the k-th
# earlier new trade (k taken modulo how many there were).
reports = st.one_of(raw_fills, st.integers(0, 1_000))


@given(st.lists(reports, max_size=40))
def test_no_order_of_venue_reports_raises(script: list[RawFill | int]) -> None:
    """Arbitrary buys, sells (held or not) and FAILED copies, one call each: never raises,
    never goes negative, and batching or a snapshot changes nothing."""
    tracker, sent = EMPTY, []
    for i, step in enumerate(script):
        if isinstance(step, int):
            if not sent:
                continue
            report = failed(sent[step % len(sent)])
        else:
            token, side, price, size = step
            report = Fill(
                trade_id=f"t{i}",
                condition_id="0xc",
                token=token,
                side=side,
                price=price,
                size=size,
                at=AT,
            )
        sent.append(report)
        tracker = tracker.apply_fill(report)
        assert min(tracker.yes_qty, tracker.no_qty, tracker.yes_cost, tracker.no_cost) >= 0
        assert set(tracker.pending_reversals) <= set(tracker.failed_trade_ids)
    # Batching may fold a different part of the log (a fold needs the later trades' times):
    # the position and what still waits are the same.
    batched = EMPTY.apply_fills(sent)
    assert position(batched) == position(tracker)
    assert batched.pending_reversals == tracker.pending_reversals
    assert batched.uncovered_sells == tracker.uncovered_sells
    assert PositionTracker.model_validate_json(tracker.model_dump_json()) == tracker


@given(st.lists(raw_fills, max_size=25), st.data())
def test_failed_reports_in_any_interleaving_end_at_the_surviving_fold(
    raw: list[RawFill], data: st.DataObject
) -> None:
    """A matched history, some trades of it FAILED on-chain (and with them every sell that
    needed their shares), their FAILED copies arriving at random points after the originals:
    once all have arrived the tracker is exactly the fold of the surviving trades."""
    history = covered(trades(raw))
    chosen = (
        data.draw(st.sets(st.sampled_from([f.trade_id for f in history]))) if history else set()
    )
    # Sells that needed the failed trades' shares fail too.
    survivors = covered([f for f in history if f.trade_id not in chosen])
    failing = {f.trade_id for f in history} - {f.trade_id for f in survivors}
    sequence: list[Fill] = []
    owed: list[Fill] = []
    for trade in history:
        sequence.append(trade)
        if trade.trade_id in failing:
            owed.append(failed(trade))
        # Any FAILED copies owed so far may come now, in any order.
        while owed and data.draw(st.booleans()):
            sequence.append(owed.pop(data.draw(st.integers(0, len(owed) - 1))))
    sequence.extend(owed)
    tracker = EMPTY
    for report in sequence:
        tracker = tracker.apply_fill(report)
    expected = EMPTY.apply_fills(survivors)
    assert position(tracker) == position(expected)
    assert (tracker.pending_reversals, tracker.uncovered_sells) == ((), ())


@given(st.lists(raw_fills, max_size=20))
def test_snapshot_round_trip_property(raw: list[RawFill]) -> None:
    tracker, _ = build(raw)
    assert PositionTracker.model_validate_json(tracker.model_dump_json()) == tracker


def test_record_fills_keeps_each_standing_trade_once() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def report(trade_id: str, status: str = "MATCHED") -> Fill:
        return Fill(
            trade_id=trade_id, condition_id="c", token=Token.YES, side=Side.SELL,
            price=Decimal("0.5"), size=Decimal(1), at=at, status=status,
        )  # fmt: skip

    first = record_fills((), [report("a"), report("b")])
    again = record_fills(first, [report("a"), report("b", "FAILED"), report("b"), report("c")])
    assert [f.trade_id for f in again] == ["a", "c"]
    # the venue's status spelling does not matter, for the report as for the position
    assert [f.trade_id for f in record_fills(again, [report("a", "failed")])] == ["c"]
    held = PositionTracker.opening(Token.YES, Decimal(5), Decimal("0.4"))
    sold = held.apply_fills([report("a")])
    assert sold.apply_fills([report("a", "failed")]) == sold.apply_fills([report("a", "FAILED")])
    assert sold.apply_fills([report("a", "failed")]).yes_qty == 5


def _settling(trade_id: str, second: int, status: str = "MATCHED") -> Fill:
    return Fill(
        trade_id=trade_id,
        condition_id="0xc",
        token=Token.YES,
        side=Side.BUY,
        price=Decimal("0.40"),
        size=Decimal(10),
        at=AT + timedelta(seconds=second),
        status=status,
    )


def test_the_confirmed_prefix_folds_and_its_re_reports_change_nothing() -> None:
    matched = EMPTY.apply_fills([_settling("a", 1), _settling("b", 2)])
    assert len(matched.events) == 2
    folded = matched.apply_fills([_settling("a", 1, "CONFIRMED")])
    assert position(folded) == position(matched)
    assert [e.kind for e in folded.events] == ["start", "fill"]  # b is not final yet
    assert folded.since is not None and folded.since.trade_ids == ("a",)
    # The venue reports `a` again (its cursor re-reads an hour): not counted twice.
    assert folded.apply_fills([_settling("a", 1), _settling("a", 1, "CONFIRMED")]) == folded
    # `b` fails: still logged, so it is reversed exactly.
    failed_b = folded.apply_fills([_settling("b", 2, "FAILED")])
    assert (failed_b.yes_qty, failed_b.yes_cost) == (Decimal(10), Decimal(4))
    # A trade matched before a folded one cannot be folded past: nothing folds.
    late = EMPTY.apply_fills([_settling("c", 5), _settling("d", 3)])
    assert len(late.apply_fills([_settling("c", 5, "CONFIRMED")]).events) == 2
    assert PositionTracker.model_validate_json(folded.model_dump_json()) == folded


def test_recorded_fills_follow_the_trade_status_until_it_settles() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from dualmm.domain.position import record_fills, unsettled
    from dualmm.domain.types import Fill, Side, Token

    def report(status: str) -> Fill:
        return Fill(
            trade_id="t1",
            condition_id="c",
            token=Token.YES,
            side=Side.SELL,
            price=Decimal("0.5"),
            size=Decimal(20),
            at=datetime(2026, 12, 1, tzinfo=UTC),
            order_id="o1",
            status=status,
        )

    matched = record_fills((), [report("MATCHED")])
    assert unsettled(matched) == 1
    mined = record_fills(matched, [report("MINED")])
    assert [f.status for f in mined] == ["MINED"] and unsettled(mined) == 1
    confirmed = record_fills(mined, [report("CONFIRMED")])
    assert unsettled(confirmed) == 0
    assert [f.status for f in record_fills(confirmed, [report("MATCHED")])] == ["CONFIRMED"]
    assert record_fills(mined, [report("FAILED")]) == ()


def test_new_fills_are_the_trades_apply_fills_would_count_once() -> None:
    """What a log line calls a fill: a trade not counted yet, once, and never its re-report
    (logged or folded past the boundary) nor a FAILED report."""
    a, b = _settling("a", 1), _settling("b", 2)
    assert EMPTY.new_fills([a, a, b]) == [a, b]
    matched = EMPTY.apply_fills([a, b])
    assert matched.new_fills([a, b, _settling("b", 2, "CONFIRMED")]) == []
    folded = matched.apply_fills([_settling("a", 1, "CONFIRMED")])
    assert folded.new_fills([a, _settling("c", 3)]) == [_settling("c", 3)]
    assert folded.new_fills([_settling("d", 4, "FAILED")]) == []


def test_unsettled_trades_counts_the_handed_over_log_and_own_fills_once_each() -> None:
    """A liquidation's position carries the round's trades: those not yet CONFIRMED or FAILED
    may still change it, as may its own unsettled fills (the same trade counts once)."""
    round_yes = fill("r1", YES, BUY, "0.50", "20", "CONFIRMED")
    round_no = fill("r2", NO, BUY, "0.45", "20", "MINED")
    round_gone = fill("r3", NO, BUY, "0.45", "5")
    handed = PositionTracker().apply_fills([round_yes, round_no, round_gone, failed(round_gone)])
    assert unsettled_trades(handed) == 1  # r2: r1 is final, r3 failed
    own = fill("o1", YES, SELL, "0.55", "10")
    position = handed.apply_fills([own])
    assert unsettled_trades(position, [own]) == 2
    confirmed = [own.model_copy(update={"status": "CONFIRMED"})]
    confirmed.append(round_no.model_copy(update={"status": "CONFIRMED"}))
    assert unsettled_trades(position.apply_fills(confirmed), confirmed) == 0


def test_a_trade_unsettled_past_the_wait_limit_is_no_longer_waited_for() -> None:
    """A venue that never reports a trade's settlement must not hold a liquidation forever."""
    buy = fill("b1", YES, BUY, "0.50", "20")  # matched at AT, never reported again
    position = PositionTracker().apply_fills([buy])
    assert unsettled_trades(position, [buy], now=AT + SETTLE_WAIT) == 1
    assert unsettled_trades(position, [buy], now=AT + SETTLE_WAIT + timedelta(seconds=1)) == 0
