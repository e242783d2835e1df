"""The Exchange protocol: everything the bot asks of a venue, in the project's own types.

No SDK type crosses this boundary. Errors are split into retryable (the caller may try again,
after reconciling for placements) and non-retryable (trying again cannot help).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Protocol, runtime_checkable

from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.prices import is_on_tick, round_size
from dualmm.domain.types import Fill, Frozen, MarketInfo, Side

# On chain and in the CLOB's fixed-point amounts, USDC.e and the CTF outcome tokens have 6
# decimals: one token or dollar is UNITS base units.
UNITS = Decimal(10**6)


class OrderType(StrEnum):
    GTC = "GTC"  # good till cancelled
    GTD = "GTD"  # good till `expiration`
    FOK = "FOK"  # fill or kill: all of it at once, or nothing
    FAK = "FAK"  # fill and kill: what the book has at once, the rest cancelled


class Wake(StrEnum):
    """Why a wait for news of a market ended (MarketFeed.wait_for_market)."""

    FILL = "FILL"  # a fill notice (user channel): read the fills
    MARKET = "MARKET"  # the market's book, tick size or trades changed (market channel)
    TIMEOUT = "TIMEOUT"  # nothing came: the poll is due


class OrderStatus(StrEnum):
    LIVE = "LIVE"
    MATCHED = "MATCHED"  # fully filled
    CANCELED = "CANCELED"


class PlaceOrder(Frozen):
    """A placement request. `key` is the idempotency key: the same key never makes two orders."""

    key: str
    market: MarketInfo
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    order_type: OrderType = OrderType.GTC
    expiration: datetime | None = None  # required for GTD
    post_only: bool = False
    # When the intent was made (e.g. workflow.now()). Venues without client order ids sign it
    # into the order, so a retry even after a crash signs the identical order (same order id).
    signed_at: datetime | None = None

    def price_fits(self, tick: Decimal) -> bool:
        """On `tick` and inside the venue's bounds [tick, 1 - tick]."""
        return tick <= self.price <= 1 - tick and is_on_tick(self.price, tick)

    def check_price_and_size(self, tick: Decimal) -> None:
        """Raise InvalidOrder for what no venue accepts: a price off `tick` or out of bounds,
        a size that is not a positive multiple of 0.01, a GTD order without an expiration."""
        if not self.price_fits(tick):
            raise InvalidOrder(f"price {self.price} is not on tick {tick} inside (0, 1)")
        if self.size <= 0 or round_size(self.size) != self.size:
            raise InvalidOrder(f"size {self.size} is not a positive multiple of 0.01")
        if self.order_type is OrderType.GTD and self.expiration is None:
            raise InvalidOrder("a GTD order needs an expiration")

    def new_order(self, order_id: str, created_at: datetime) -> Order:
        """The order this request makes, live and unfilled."""
        return Order(
            order_id=order_id,
            condition_id=self.market.condition_id,
            token_id=self.token_id,
            side=self.side,
            price=self.price,
            original_size=self.size,
            size_matched=Decimal(0),
            status=OrderStatus.LIVE,
            created_at=created_at,
            order_type=self.order_type,
        )


class Order(Frozen):
    order_id: str
    condition_id: str
    token_id: str
    side: Side
    price: Decimal
    original_size: Decimal
    size_matched: Decimal
    status: OrderStatus
    created_at: datetime
    order_type: OrderType = OrderType.GTC

    @property
    def remaining(self) -> Decimal:
        return self.original_size - self.size_matched


class BookLevel(Frozen):
    price: Decimal
    size: Decimal


class Book(Frozen):
    """One token's order book: bids best (highest) first, asks best (lowest) first."""

    token_id: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    tick_size: Decimal
    min_order_size: Decimal
    at: datetime

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None


class RewardMarket(Frozen):
    """A market in the liquidity-rewards program, as discovery sees it."""

    info: MarketInfo
    end_date: datetime | None = None
    accepting_orders: bool = True
    active: bool = True


class FillPage(Frozen):
    """Fills after a cursor; pass `cursor` back to get only newer ones."""

    fills: tuple[Fill, ...]
    cursor: str


class PricePoint(Frozen):
    at: datetime
    price: Decimal


class Balances(Frozen):
    collateral: Decimal
    tokens: dict[str, Decimal]


class MergeReport(Frozen):
    """A merge of YES+NO pairs into collateral (Conditional Tokens `mergePositions`)."""

    key: str
    condition_id: str
    qty: Decimal
    at: datetime


class SignedMerge(Frozen):
    """A merge transaction as signed, kept where a retry finds it (the activity's heartbeat).

    Nothing secret: the raw transaction carries a signature, not the key, and all it can do,
    broadcast by anyone, is this one merge of our pairs into our wallet, once (its nonce).
    """

    key: str  # the merge's idempotency key
    condition_id: str
    qty: Decimal
    chain_id: int
    nonce: int
    tx_hash: str
    raw_tx: str  # 0x-hex
    yes_before: int  # on-chain balances before signing, in token units (6 decimals)
    no_before: int


class MergeJournal:
    """What an adapter that merges on-chain keeps between attempts: the transaction an earlier
    attempt signed (None at first), and where to record one before it is broadcast."""

    def __init__(
        self,
        signed: SignedMerge | None = None,
        record: Callable[[SignedMerge], None] | None = None,
    ) -> None:
        self.signed = signed
        self._record = record

    def record(self, signed: SignedMerge) -> None:
        self.signed = signed
        if self._record is not None:
            self._record(signed)


class ExchangeError(Exception):
    """Base of every venue error. `retryable` says whether trying again can help."""

    retryable: ClassVar[bool] = False


class RetryableError(ExchangeError):
    """Trying again can help; `retry_after` (seconds) is how long the venue asked us to wait
    (429 Retry-After, 503 post_only_mode's retry_after_seconds), None when it did not say."""

    retryable = True

    def __init__(self, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class VenueTimeout(RetryableError):
    """No answer in time. For a placement the order may have been accepted: reconcile first."""


class RateLimited(RetryableError):
    pass


class VenueUnavailable(RetryableError):
    """5xx or 'service not ready'."""


class NonRetryableError(ExchangeError):
    retryable = False


class InvalidOrder(NonRetryableError):
    pass


class WouldCross(NonRetryableError):
    """A post-only order that would cross the book."""


class InsufficientBalance(NonRetryableError):
    """Not enough collateral, tokens or allowance."""


class AuthError(NonRetryableError):
    pass


class NotFound(NonRetryableError):
    pass


class NotSupported(NonRetryableError):
    """The adapter cannot do this at all (e.g. merges on an adapter without an on-chain path)."""


@runtime_checkable
class PublicMarketData(Protocol):
    """The read-only half of a venue: public market data, no account. Every method is safe to
    call again after a failure."""

    async def reward_markets(self) -> list[RewardMarket]: ...

    async def market(self, condition_id: str) -> MarketInfo:
        """Current facts, tick size and neg-risk refreshed (they change while live)."""
        ...

    async def book(self, token_id: str) -> Book: ...

    async def midpoint(self, token_id: str) -> Decimal: ...

    async def tick_size(self, token_id: str) -> Decimal: ...

    async def neg_risk(self, token_id: str) -> bool: ...

    async def listed_resolution(self, condition_id: str) -> MarketResolution | None:
        """The market's resolution as REST lists it (closed, a token marked winner); None
        while it is open."""
        ...

    async def price_history(
        self, token_id: str, start: datetime, end: datetime, fidelity_minutes: int
    ) -> list[PricePoint]:
        """The token's midpoint in [start, end], one point per `fidelity_minutes`, oldest first."""
        ...


@runtime_checkable
class Exchange(PublicMarketData, Protocol):
    """One venue account: market data plus our orders, fills and balances."""

    async def place_order(self, request: PlaceOrder) -> Order:
        """Place, or return the order an earlier attempt with the same key already placed."""
        ...

    async def cancel_order(self, order_id: str) -> None:
        """Cancel one order; an order already gone (filled, cancelled, unknown) is success."""
        ...

    async def cancel_market(self, condition_id: str) -> None: ...

    async def cancel_all(self) -> None: ...

    async def reward_earnings(self, day: date) -> Decimal:
        """The liquidity rewards the venue reports we earned on `day` (UTC), in USDC."""
        ...

    async def heartbeat(self) -> None:
        """Tell the venue we are alive: on Polymarket, once heartbeats start, all our open
        orders are cancelled when none comes for about 10 s (a dead-man switch)."""
        ...

    async def fill_mark(self, condition_id: str) -> int:
        """The count of fill notices the market has had, for `wait_for_fill`."""
        ...

    async def wait_for_fill(self, condition_id: str, mark: int, timeout: float) -> bool:
        """Wait until a fill notice newer than `mark` arrives for the market (True) or for
        `timeout` seconds (False). A notice only wakes the caller, who reads its fills with
        `fills` (dualmm.exchange.wake); without a push channel this is a plain wait."""
        ...

    async def open_orders(self, condition_id: str | None = None) -> list[Order]: ...

    async def get_order(self, order_id: str) -> Order | None: ...

    async def fills(self, market: MarketInfo, cursor: str | None = None) -> FillPage: ...

    async def balances(self, token_ids: list[str]) -> Balances: ...

    async def merge(
        self, market: MarketInfo, qty: Decimal, key: str, journal: MergeJournal | None = None
    ) -> MergeReport:
        """Merge `qty` YES+NO pairs of `market` into `qty` USDC. Idempotent by `key`: a merge
        asked again with the same key returns the first one's report and merges nothing more.
        InsufficientBalance when the settled pairs are not there. An adapter that merges
        on-chain keeps the transaction it signed in `journal` (the caller carries it to a
        retry); the others keep their merges by key themselves and ignore it."""
        ...


@runtime_checkable
class MarketFeed(Protocol):
    """An exchange that pushes its books (Polymarket's market channel), optionally. While a
    market waited on is `market_live`, `book` answers from the pushed book (no request) and
    `wait_for_market` wakes on every change of it; otherwise the caller polls."""

    async def market_live(self, condition_id: str) -> bool: ...

    async def market_mark(self, condition_id: str) -> int:
        """The count of the market's book notices, for `wait_for_market`."""
        ...

    async def trades_seen(self, token_id: str) -> tuple[int, Decimal | None]:
        """How many trades the channel reported in the token, and the latest one's price."""
        ...

    async def market_resolution(self, condition_id: str) -> MarketResolution | None:
        """The market's resolution, once the channel announced it (None: not seen)."""
        ...

    async def wait_for_market(
        self, market: MarketInfo, fill_mark: int, market_mark: int, timeout: float
    ) -> Wake:
        """Until a fill notice newer than `fill_mark` (FILL), a book notice newer than
        `market_mark` (MARKET), or `timeout` seconds (TIMEOUT). Waiting watches the market
        (its books are pushed from then on) until nobody has waited on it for a while."""
        ...


@runtime_checkable
class BatchOrders(Protocol):
    """An exchange that places and cancels several orders in one request, optionally."""

    async def place_orders(self, requests: list[PlaceOrder]) -> list[Order | ExchangeError]:
        """`place_order` for each request in one round trip: each its order or its refusal,
        in order. A failure of the whole request (no answer) raises."""
        ...

    async def cancel_orders(self, order_ids: list[str]) -> None:
        """`cancel_order` for each id in one round trip."""
        ...
