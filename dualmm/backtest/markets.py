"""A backtest market: its YES midpoint, touch and the others' book at every change, and fills.

Times are whole seconds from the backtest's start. `times[i]` is when state `i` begins; it holds
until `times[i + 1]`. Every price here excludes our own orders (the recorded book never held
them; a path is the other makers' midpoint), so decisions read it as the reference midpoint.

- `PathMarket` (scenario and synthetic paths): the DESIGN.md fill model, the one the replay's
  simulator uses (`dualmm.domain.fillmodel`): the touch follows the path's midpoint and an
  order the touch reaches fills whole, at its own price. The bot reads the reference midpoint
  of that touch, as from the simulator's book. The competition is `[[distance_cents, size]...]`
  on each side of the reference midpoint.
- `BookMarket` (recorded L2 books): the recorded book is the touch and the competition. A
  resting order fills, at its own price, when the recorded opposite side reaches it, for as much
  as the recorded levels at or through its price hold; a crossing order walks the levels. Our
  orders never move the recorded book (optimistic for sizes large against the depth).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from dualmm.domain.book import reference_midpoint
from dualmm.domain.fillmodel import price_on_placement, resting_fills, touch
from dualmm.domain.prices import ONE, round_size
from dualmm.domain.quoting import CENTS_PER_UNIT
from dualmm.domain.rewards import Level
from dualmm.domain.types import MarketInfo, OrderIntent, Side, Token

ZERO = Decimal(0)
# A path's competition unless given one (a scenario market that states none meets the
# calibrated competition, `dualmm.backtest.competition.calibrated_levels`): 100 shares 1 cent
# from the midpoint and 200 shares 2 cents out, on each side.
DEFAULT_COMPETITION: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal(1), Decimal(100)),
    (Decimal(2), Decimal(200)),
)


def yes_view(order: OrderIntent) -> tuple[bool, Decimal]:
    """(is a YES bid, YES price): a NO bid is a YES ask at 1 - p, a NO ask a YES bid."""
    is_yes_bid = (order.side is Side.BUY) == (order.token is Token.YES)
    return is_yes_bid, order.price if order.token is Token.YES else ONE - order.price


def token_price(token: Token, yes_price: Decimal) -> Decimal:
    return yes_price if token is Token.YES else ONE - yes_price


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
        """How much of a resting order fills (at its own price) when state `i` begins."""
        raise NotImplementedError

    def crossing_fills(self, i: int, order: OrderIntent) -> list[tuple[Decimal, Decimal]]:
        """(price, size) fills of an order placed in state `i` that crosses; [] if it rests."""
        raise NotImplementedError


@dataclass
class PathMarket(MarketData):
    """A midpoint path with the DESIGN.md fill model and a fixed competition around the mid."""

    levels: tuple[tuple[Decimal, Decimal], ...] = DEFAULT_COMPETITION
    _books: dict[Decimal, tuple[tuple[Level, ...], tuple[Level, ...]]] = field(
        default_factory=dict, repr=False
    )
    _references: dict[int, Decimal] = field(default_factory=dict, repr=False)

    def mid(self, i: int) -> Decimal:
        """The reference midpoint, as the replay's simulator shows it to the bot: the middle
        of the other makers' touch (the fill model's, around the path's midpoint)."""
        reference = self._references.get(i)
        if reference is None:
            reference = self._references[i] = two_sided_mid(
                *touch(self.mids[i], self.info.tick_size)
            )
        return reference

    def yes_touch(self, i: int) -> tuple[Decimal | None, Decimal | None]:
        return touch(self.mids[i], self.info.tick_size)

    def _token_touch(self, i: int, token: Token) -> tuple[Decimal, Decimal]:
        bid, ask = touch(self.mids[i], self.info.tick_size)
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

    def crossing_fills(self, i: int, order: OrderIntent) -> list[tuple[Decimal, Decimal]]:
        price = price_on_placement(order.side, order.price, *self._token_touch(i, order.token))
        return [] if price is None else [(price, order.size)]


RawSide = tuple[Sequence[float], Sequence[float]]  # prices, sizes as recorded, best first


@dataclass
class BookMarket(MarketData):
    """Recorded YES books (best level first); levels are read into Decimal when first needed."""

    raw_bids: list[RawSide] = field(default_factory=list, repr=False)
    raw_asks: list[RawSide] = field(default_factory=list, repr=False)
    _levels: dict[int, tuple[tuple[Level, ...], tuple[Level, ...]]] = field(
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

    def crossing_fills(self, i: int, order: OrderIntent) -> list[tuple[Decimal, Decimal]]:
        is_yes_bid, yes_price = yes_view(order)
        fills, left = [], order.size
        for level_price, level_size in self._opposite(i, is_yes_bid, yes_price):
            size = round_size(min(left, level_size))
            if size <= 0:
                break
            fills.append((token_price(order.token, level_price), size))
            left -= size
        return fills


def two_sided_mid(bid: Decimal, ask: Decimal) -> Decimal:
    """`dualmm.domain.book.reference_midpoint` of a book with both sides (never None then)."""
    mid = reference_midpoint(((bid, ZERO),), ((ask, ZERO),), ONE)
    assert mid is not None
    return mid


def _levels(raw: RawSide) -> tuple[Level, ...]:
    prices, sizes = raw
    return tuple((Decimal(str(p)), Decimal(str(s))) for p, s in zip(prices, sizes, strict=False))
