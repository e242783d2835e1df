"""A backtest market: its YES midpoint, touch and the others' book at every change, and fills.

Times are whole seconds from the backtest's start. `times[i]` is when state `i` begins; it holds
until `times[i + 1]`. Every price here excludes our own orders (the recorded book never held
them; a path is the other makers' midpoint), so decisions read it as the reference midpoint.

Our quotes fill as the venue fills them (`quote_fills`, `dualmm.domain.queue`): an order joins
behind the others' size at its price; trades reach it after the better levels and the queue
ahead of it; the others' book moving strictly through its price fills it (the only fill where
the input has no trades: the conservative bound). Trades come from the market's `TradeTape`:
recorded (`trades.parquet`) or the synthetic taker flow (`dualmm.backtest.flow`).

- `PathMarket` (scenario and synthetic paths): the touch is the touch fill model's around
  the path's midpoint (`dualmm.domain.fillmodel`), holding `touch_size` shares; the competition
  is `[[distance_cents, size]...]` on each side of the reference midpoint (on the book at the
  tick outward, never better than the touch). The bot reads the reference midpoint of the touch.
- `BookMarket` (recorded L2 books): the recorded book is the touch, the depth and the
  competition. Our orders never move the recorded book (optimistic for sizes large against it).

Crossing orders walk the depth (`crossing_fills`); what the depth cannot fill rests.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from dualmm.domain.book import reference_midpoint
from dualmm.domain.fillmodel import resting_fills, touch
from dualmm.domain.prices import ONE, Rounding, round_size, round_to_tick
from dualmm.domain.queue import FillModel, QueueSpot, join, on_level, on_trade_at_price
from dualmm.domain.quoting import CENTS_PER_UNIT
from dualmm.domain.rewards import Level
from dualmm.domain.types import MarketInfo, OrderIntent, Side, Token

ZERO = Decimal(0)
# A path's competition unless given one (a scenario market that states none meets the
# calibrated competition, `dualmm.synthetic.competition.calibrated_levels`): 100 shares 1 cent
# from the midpoint and 200 shares 2 cents out, on each side.
DEFAULT_COMPETITION: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal(1), Decimal(100)),
    (Decimal(2), Decimal(200)),
)
# The others' size at a path's touch (makers outside the reward band count here too).
DEFAULT_TOUCH_SIZE = Decimal(100)
THROUGH = Decimal("Infinity")  # a path moved through a price: every share there traded


def yes_view(order: OrderIntent) -> tuple[bool, Decimal]:
    """(is a YES bid, YES price): a NO bid is a YES ask at 1 - p, a NO ask a YES bid."""
    is_yes_bid = (order.side is Side.BUY) == (order.token is Token.YES)
    return is_yes_bid, order.price if order.token is Token.YES else ONE - order.price


def token_price(token: Token, yes_price: Decimal) -> Decimal:
    return yes_price if token is Token.YES else ONE - yes_price


@dataclass
class TradeTape:
    """Taker trades in time order: who took (sold or bought YES), at what YES price (None: a
    market order that walks the book), how many shares, and how far a market order walks (its
    limit: the worst YES price it trades at; none given: as far as its size takes it)."""

    times: list[int] = field(default_factory=list)
    sells: list[bool] = field(default_factory=list)  # the taker sold YES: it hits YES bids
    prices: list[Decimal | None] = field(default_factory=list)
    sizes: list[Decimal] = field(default_factory=list)
    limits: list[Decimal | None] = field(default_factory=list)  # [] or one per trade

    def limit(self, k: int) -> Decimal | None:
        return self.limits[k] if self.limits else None

    @classmethod
    def recorded(cls, rows: Iterable[tuple[int, str, Decimal | None, Decimal]]) -> TradeTape:
        """From (seconds, taker side "BUY"/"SELL" of YES, YES price or None, size) rows."""
        tape = cls()
        for at, side, price, size in sorted(rows, key=lambda r: r[0]):
            tape.times.append(at)
            tape.sells.append(side == "SELL")
            tape.prices.append(price)
            tape.sizes.append(size)
        return tape

    def between(self, after: float, until: float) -> range:
        """Trades in (after, until]."""
        return range(bisect_right(self.times, after), bisect_right(self.times, until))


NO_TRADES = TradeTape()


@dataclass
class MarketData:
    """What every kind of market shares: facts, change times, midpoints, when it closes."""

    info: MarketInfo
    times: list[int]
    mids: list[Decimal]
    # The last moment the market trades (None: it runs past the end of the backtest).
    closes: int | None = None
    # What a YES share paid at resolution, when known (recorded settled markets).
    payout_yes: Decimal | None = None
    position: tuple[Token, Decimal, Decimal] | None = None  # starts in liquidation: held, qty, cost
    score_cache: dict[int, Decimal] = field(default_factory=dict, repr=False)  # others' Q_min
    category: str = ""  # the fee schedule's category ("": the general rate)
    tape: TradeTape | None = field(default=None, repr=False)  # None: `flow` makes it, if set
    flow: Callable[[], TradeTape] | None = field(default=None, repr=False)

    def trades(self) -> TradeTape:
        if self.tape is None:
            self.tape = self.flow() if self.flow is not None else NO_TRADES
        return self.tape

    midpoint_cache: dict[object, Decimal] = field(default_factory=dict, repr=False)  # scoring

    @property
    def condition_id(self) -> str:
        return self.info.condition_id

    @property
    def opens(self) -> int:
        return self.times[0]

    def index_at(self, t: float) -> int:
        """The state in force at `t`, or -1 before the market opens."""
        return bisect_right(self.times, t) - 1

    def live(self, t: float) -> bool:
        return self.times[0] <= t and (self.closes is None or t < self.closes)

    def change_indices(self, after: float, until: float) -> range:
        """States that begin in (after, until]."""
        return range(bisect_right(self.times, after), bisect_right(self.times, until))

    def mid(self, i: int) -> Decimal:
        return self.mids[i]

    def final_mark(self, i: int, t: float) -> Decimal:
        """The YES value of a share held at `t`: the payout once a settled market has closed."""
        if self.payout_yes is not None and self.closes is not None and t >= self.closes:
            return self.payout_yes
        return self.mid(i)

    # -- fills of our resting quotes ------------------------------------------------------

    def join(self, i: int, order: OrderIntent) -> QueueSpot:
        """The queue of an order placed in state `i`: behind the others' size at its price."""
        is_yes_bid, yes_price = yes_view(order)
        return join(self._level(i, is_yes_bid, yes_price))

    def quote_fills(
        self, order: OrderIntent, spot: QueueSpot, after: float, until: float, model: FillModel
    ) -> tuple[list[tuple[int, Decimal]], QueueSpot]:
        """(time, size) fills of a resting order (at its own price) in (after, until], and its
        queue after them: the states that begin and the trades that print in that time."""
        is_yes_bid, yes_price = yes_view(order)
        tape = self.trades()
        states = self.change_indices(after, until)
        trades = tape.between(after, until)
        fills: list[tuple[int, Decimal]] = []
        left = order.size
        s, k = states.start, trades.start
        while left > 0 and (s < states.stop or k < trades.stop):
            if k >= trades.stop or (s < states.stop and self.times[s] <= tape.times[k]):
                at = self.times[s]
                through = self._through(s, is_yes_bid, yes_price)
                if through > 0:
                    size = min(left, through)
                else:
                    size = ZERO
                    level = self._level(s, is_yes_bid, yes_price)
                    if level != spot.level:
                        spot = on_level(spot, level, model)
                s += 1
            else:
                at, size = tape.times[k], ZERO
                if tape.sells[k] == is_yes_bid:  # a taker on the other side of ours
                    size, spot = self._trade(k, tape, spot, left, is_yes_bid, yes_price)
                k += 1
            size = round_size(size)
            if size > 0:
                fills.append((at, size))
                left -= size
        return fills, spot

    def _trade(
        self,
        k: int,
        tape: TradeTape,
        spot: QueueSpot,
        left: Decimal,
        is_yes_bid: bool,
        yes_price: Decimal,
    ) -> tuple[Decimal, QueueSpot]:
        price, size = tape.prices[k], tape.sizes[k]
        if price is None:  # a market order: the better levels first, down to its limit
            limit = tape.limit(k)
            if limit is not None and _better(limit, yes_price, is_yes_bid):
                return ZERO, spot
            depth = self._depth(self.index_at(tape.times[k]), is_yes_bid)
            better = sum((v for p, v in depth.items() if _better(p, yes_price, is_yes_bid)), ZERO)
            return on_trade_at_price(spot, size - better, left) if size > better else (ZERO, spot)
        if price == yes_price:
            return on_trade_at_price(spot, size, left)
        if not _better(price, yes_price, is_yes_bid):  # printed through our price
            return left, QueueSpot(ZERO, ZERO)
        return ZERO, spot

    def crosses(self, i: int, order: OrderIntent) -> bool:
        """Whether an order placed in state `i` would trade at once (post-only refuses it)."""
        is_yes_bid, yes_price = yes_view(order)
        bid, ask = self.yes_touch(i)
        if is_yes_bid:
            return ask is not None and ask <= yes_price
        return bid is not None and bid >= yes_price

    def crossing_fills(self, i: int, order: OrderIntent) -> list[tuple[Decimal, Decimal]]:
        """(price, size) fills of an order placed in state `i` that crosses: it walks the
        others' opposite levels at or through its price, best first; [] if it rests."""
        is_yes_bid, yes_price = yes_view(order)
        fills, left = [], order.size
        for level_price, level_size in sorted(
            self._depth(i, not is_yes_bid).items(), reverse=not is_yes_bid
        ):
            if (level_price > yes_price) if is_yes_bid else (level_price < yes_price):
                break
            size = round_size(min(left, level_size))
            if size <= 0:
                break
            fills.append((token_price(order.token, level_price), size))
            left -= size
        return fills

    # -- to be provided by each kind ---------------------------------------------------------

    def yes_touch(self, i: int) -> tuple[Decimal | None, Decimal | None]:
        raise NotImplementedError

    def competition(self, i: int) -> tuple[Sequence[Level], Sequence[Level]]:
        raise NotImplementedError

    def competing_makers(self, i: int) -> Sequence[tuple[Sequence[Level], Sequence[Level]]]:
        """Each other reward maker's YES bids and asks in state `i`, as the reward scorer sees
        them. A book does not say who holds what, so by default one maker holds it all."""
        return (self.competition(i),)

    def resting_fill(self, i: int, order: OrderIntent) -> Decimal:
        """How much of a resting order fills (at its own price) when state `i` begins, by the
        touch fill model of docs/design.md (the liquidation loop's, as the replay's simulator
        fills)."""
        raise NotImplementedError

    def _depth(self, i: int, bids: bool) -> dict[Decimal, Decimal]:
        """The others' YES bids (or asks) in state `i`: size by price."""
        raise NotImplementedError

    def _level(self, i: int, bids: bool, yes_price: Decimal) -> Decimal:
        """The others' size at `yes_price` on one side in state `i` (our queue's level)."""
        return self._depth(i, bids).get(yes_price, ZERO)

    def _through(self, i: int, is_yes_bid: bool, yes_price: Decimal) -> Decimal:
        """Shares of the others' opposite side strictly through `yes_price` in state `i`."""
        raise NotImplementedError


def _better(price: Decimal, than: Decimal, bids: bool) -> bool:
    """Whether `price` stands ahead of `than` in the bids' (or asks') price priority."""
    return price > than if bids else price < than


@dataclass
class PathMarket(MarketData):
    """A midpoint path with the touch fill model's touch and a fixed competition around it."""

    levels: tuple[tuple[Decimal, Decimal], ...] = DEFAULT_COMPETITION
    touch_size: Decimal = DEFAULT_TOUCH_SIZE
    # The level at a price is its size times a factor in [1 - churn, 1 + churn), drawn anew at
    # each state: the others cancelling and replacing (0: a book that never changes).
    churn: float = 0.0
    _books: dict[Decimal, tuple[tuple[Level, ...], tuple[Level, ...]]] = field(
        default_factory=dict, repr=False
    )
    _references: dict[int, Decimal] = field(default_factory=dict, repr=False)
    _touches: dict[int, tuple[Decimal, Decimal]] = field(default_factory=dict, repr=False)
    _depths: dict[tuple[Decimal, Decimal, bool], dict[Decimal, Decimal]] = field(
        default_factory=dict, repr=False
    )

    def mid(self, i: int) -> Decimal:
        """The reference midpoint, as the replay's simulator shows it to the bot: the middle
        of the other makers' touch (the fill model's, around the path's midpoint)."""
        reference = self._references.get(i)
        if reference is None:
            reference = self._references[i] = two_sided_mid(*self._touch(i))
        return reference

    def yes_touch(self, i: int) -> tuple[Decimal | None, Decimal | None]:
        return self._touch(i)

    def _touch(self, i: int) -> tuple[Decimal, Decimal]:
        found = self._touches.get(i)
        if found is None:
            found = self._touches[i] = touch(self.mids[i], self.info.tick_size)
        return found

    def _token_touch(self, i: int, token: Token) -> tuple[Decimal, Decimal]:
        bid, ask = self._touch(i)
        return (bid, ask) if token is Token.YES else (ONE - ask, ONE - bid)

    def competition(self, i: int) -> tuple[Sequence[Level], Sequence[Level]]:
        mid = self.mid(i)
        book = self._books.get(mid)
        if book is None:
            bids = tuple((mid - d / CENTS_PER_UNIT, s) for d, s in self.levels)
            asks = tuple((mid + d / CENTS_PER_UNIT, s) for d, s in self.levels)
            book = self._books[mid] = (bids, asks)
        return book

    def resting_fill(self, i: int, order: OrderIntent) -> Decimal:
        bid, ask = self._token_touch(i, order.token)
        return order.size if resting_fills(order.side, order.price, bid, ask) else ZERO

    def _depth(self, i: int, bids: bool) -> dict[Decimal, Decimal]:
        """The touch's `touch_size`, and each competition level on the tick outward (never
        better than the touch)."""
        bid, ask = self._touch(i)
        edge = bid if bids else ask
        depth = self._depths.get((bid, ask, bids))
        if depth is None:
            tick, mid = self.info.tick_size, two_sided_mid(bid, ask)
            depth = {edge: self.touch_size} if self.touch_size > 0 else {}
            for distance, size in self.levels:
                offset = distance / CENTS_PER_UNIT
                if bids:
                    price = min(round_to_tick(mid - offset, tick, Rounding.DOWN), edge)
                else:
                    price = max(round_to_tick(mid + offset, tick, Rounding.UP), edge)
                if ZERO < price < ONE:
                    depth[price] = depth.get(price, ZERO) + size
            self._depths[(bid, ask, bids)] = depth
        return depth

    def _level(self, i: int, bids: bool, yes_price: Decimal) -> Decimal:
        size = self._depth(i, bids).get(yes_price, ZERO)
        if not self.churn or not size:
            return size
        # a hash of (state, price, side) in [0, 1): the same in every run and mode
        u = ((i * 2_654_435_761 + int(yes_price * 10_000) * 40_503 + bids) % 1_000_003) / 1_000_003
        return round_size(size * Decimal(1 - self.churn + 2 * self.churn * u))

    def _through(self, i: int, is_yes_bid: bool, yes_price: Decimal) -> Decimal:
        """A path that moves through our price has traded through it: all of ours fills."""
        bid, ask = self._touch(i)
        return THROUGH if (ask < yes_price if is_yes_bid else bid > yes_price) else ZERO


RawSide = tuple[Sequence[float], Sequence[float]]  # prices, sizes as recorded, best first


@dataclass
class BookMarket(MarketData):
    """Recorded YES books (best level first); levels are read into Decimal when first needed."""

    raw_bids: list[RawSide] = field(default_factory=list, repr=False)
    raw_asks: list[RawSide] = field(default_factory=list, repr=False)
    _levels: dict[int, tuple[tuple[Level, ...], tuple[Level, ...]]] = field(
        default_factory=dict, repr=False
    )
    _depths: dict[tuple[int, bool], dict[Decimal, Decimal]] = field(
        default_factory=dict, repr=False
    )

    def competition(self, i: int) -> tuple[Sequence[Level], Sequence[Level]]:
        book = self._levels.get(i)
        if book is None:
            book = self._levels[i] = (_levels(self.raw_bids[i]), _levels(self.raw_asks[i]))
        return book

    def yes_touch(self, i: int) -> tuple[Decimal | None, Decimal | None]:
        bids, asks = self.competition(i)
        return (bids[0][0] if bids else None), (asks[0][0] if asks else None)

    def _opposite(self, i: int, is_yes_bid: bool, yes_price: Decimal) -> list[Level]:
        """The recorded levels an order at `yes_price` trades with, best first."""
        bids, asks = self.competition(i)
        if is_yes_bid:
            return [(p, s) for p, s in asks if p <= yes_price]
        return [(p, s) for p, s in bids if p >= yes_price]

    def resting_fill(self, i: int, order: OrderIntent) -> Decimal:
        is_yes_bid, yes_price = yes_view(order)
        available = sum((s for _, s in self._opposite(i, is_yes_bid, yes_price)), ZERO)
        return round_size(min(available, order.size))

    def _depth(self, i: int, bids: bool) -> dict[Decimal, Decimal]:
        depth = self._depths.get((i, bids))
        if depth is None:
            depth = self._depths[(i, bids)] = dict(self.competition(i)[0 if bids else 1])
        return depth

    def _through(self, i: int, is_yes_bid: bool, yes_price: Decimal) -> Decimal:
        """What the recorded opposite side holds strictly through our price."""
        return sum((s for p, s in self._opposite(i, is_yes_bid, yes_price) if p != yes_price), ZERO)


def two_sided_mid(bid: Decimal, ask: Decimal) -> Decimal:
    """`dualmm.domain.book.reference_midpoint` of a book with both sides (never None then)."""
    mid = reference_midpoint(((bid, ZERO),), ((ask, ZERO),), ONE)
    assert mid is not None
    return mid


def _levels(raw: RawSide) -> tuple[Level, ...]:
    prices, sizes = raw
    return tuple((Decimal(str(p)), Decimal(str(s))) for p, s in zip(prices, sizes, strict=False))
