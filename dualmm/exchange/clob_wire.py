"""Polymarket CLOB answers (JSON, as the docs and py-clob-client-v2 spell them) into the
domain's types: markets, orders, trades, books, pages. No I/O here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from py_clob_client_v2.constants import END_CURSOR, INITIAL_CURSOR

from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.types import Fill, MarketInfo, Side
from dualmm.exchange.base import (
    UNITS,
    Book,
    BookLevel,
    NonRetryableError,
    Order,
    OrderStatus,
    OrderType,
    RewardMarket,
    VenueUnavailable,
)


def dec(value: Any) -> Decimal:
    """A venue number (JSON string, int or float) as an exact Decimal."""
    return Decimal(str(value))


def parse_time(value: Any) -> datetime | None:
    """Venue times: unix seconds or milliseconds (number or digits), or ISO-8601."""
    if value in (None, ""):
        return None
    text = str(value)
    if text.replace(".", "", 1).isdigit():
        seconds = float(text)
        if seconds > 1e11:  # milliseconds
            seconds /= 1000
        return datetime.fromtimestamp(seconds, UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _yes_no(tokens: list[dict[str, Any]]) -> tuple[str, str]:
    by_outcome = {str(t.get("outcome", "")).lower(): str(t["token_id"]) for t in tokens}
    if "yes" in by_outcome and "no" in by_outcome:
        return by_outcome["yes"], by_outcome["no"]
    return str(tokens[0]["token_id"]), str(tokens[1]["token_id"])


def _daily_rate(current: dict[str, Any]) -> Decimal:
    if current.get("total_daily_rate") is not None:
        return dec(current["total_daily_rate"])
    configs = current.get("rewards_config") or []
    return sum((dec(c.get("rate_per_day", 0)) for c in configs), Decimal(0))


def market_info(raw: dict[str, Any], current: dict[str, Any] | None = None) -> MarketInfo:
    """A CLOB market (`/markets/{id}`, `/sampling-markets`), with `/rewards/markets/current`'s
    entry for it when there is one (it wins for the reward terms)."""
    yes, no = _yes_no(raw["tokens"])
    rewards = raw.get("rewards") or {}
    rates = rewards.get("rates") or []
    rate = sum((dec(r.get("rewards_daily_rate", 0)) for r in rates), Decimal(0))
    max_spread = dec(rewards.get("max_spread") or 0)
    min_size = dec(rewards.get("min_size") or 0)
    if current is not None:
        rate = _daily_rate(current)
        max_spread = dec(current.get("rewards_max_spread", max_spread))
        min_size = dec(current.get("rewards_min_size", min_size))
    return MarketInfo(
        condition_id=str(raw["condition_id"]),
        question=str(raw.get("question") or ""),
        yes_token_id=yes,
        no_token_id=no,
        tick_size=dec(raw["minimum_tick_size"]),
        min_order_size=dec(raw.get("minimum_order_size") or 0),
        neg_risk=bool(raw.get("neg_risk", False)),
        rewards_daily_rate=rate,
        rewards_max_spread_cents=max_spread,
        rewards_min_size=min_size,
    )


def listed_resolution(raw: dict[str, Any]) -> MarketResolution | None:
    """A closed market's winning token as `/markets/{id}` lists it (None: still open, or
    closed with no winner marked yet)."""
    if not raw.get("closed"):
        return None
    for token in raw.get("tokens") or []:
        if token.get("winner") is True:
            return MarketResolution(
                winning_asset_id=str(token["token_id"]),
                winning_outcome=str(token.get("outcome") or "")[:100],
            )
    return None


def reward_market(raw: dict[str, Any], current: dict[str, Any] | None) -> RewardMarket:
    return RewardMarket(
        info=market_info(raw, current),
        end_date=parse_time(raw.get("end_date_iso")),
        accepting_orders=bool(raw.get("accepting_orders", True)),
        active=bool(raw.get("active", True)) and not raw.get("closed", False),
    )


# Order statuses as the SDK shows them (LIVE) or the docs spell them (ORDER_STATUS_LIVE); the
# placement answer's lower-case ones (live, matched, delayed, unmatched) too.
_ORDER_STATUSES = {
    "LIVE": OrderStatus.LIVE,
    "DELAYED": OrderStatus.LIVE,  # accepted, matching delayed: may still rest
    "UNMATCHED": OrderStatus.LIVE,  # accepted after a delay, nothing matched: rests
    "MATCHED": OrderStatus.MATCHED,
    "CANCELED": OrderStatus.CANCELED,
    "CANCELLED": OrderStatus.CANCELED,
    "CANCELED_MARKET_RESOLVED": OrderStatus.CANCELED,
    "INVALID": OrderStatus.CANCELED,
}
TRADE_STATUSES = frozenset({"MATCHED", "MINED", "CONFIRMED", "RETRYING", "FAILED"})
# A share quantity without a decimal point at least this large is 6-decimal fixed math (one
# share or more); as plain shares it would be a million, beyond any order this bot places.
_FIXED_MATH_FLOOR = 10**6


class UnknownStatus(NonRetryableError):
    """The venue answered a status this adapter does not know: surfaced, never taken as LIVE."""


def _bare(status: Any, prefix: str) -> str:
    return str(status).strip().upper().removeprefix(prefix)


def order_status(raw: Any) -> OrderStatus:
    """An order status in any of the venue's spellings; an unknown one is an error."""
    status = _bare(raw if raw not in (None, "") else "LIVE", "ORDER_STATUS_")
    try:
        return _ORDER_STATUSES[status]
    except KeyError:
        raise UnknownStatus(f"unknown order status {str(raw)[:40]!r}") from None


def trade_status(raw: Any) -> str:
    """A trade status as a bare word (TRADE_STATUS_FAILED -> FAILED); unknown is an error."""
    status = _bare(raw if raw not in (None, "") else "MATCHED", "TRADE_STATUS_")
    if status not in TRADE_STATUSES:
        raise UnknownStatus(f"unknown trade status {str(raw)[:40]!r}")
    return status


def shares(value: Any, fixed: bool = False) -> Decimal:
    """A share quantity: decimal ("12.5") or 6-decimal fixed math ("12500000"). `fixed` says the
    answer is known to use fixed math (docs spelling); otherwise an integer string from
    _FIXED_MATH_FLOOR up is taken as fixed math."""
    text = str(value).strip()
    amount = dec(text)
    if "." not in text and "e" not in text.lower() and (fixed or amount >= _FIXED_MATH_FLOOR):
        return amount / UNITS
    return amount


def fill_fee(part: dict[str, Any], price: Any, size: Decimal) -> Decimal:
    """The USDC fee of our part of a trade, from its `fee_rate_bps` of the notional."""
    try:
        bps = dec(part.get("fee_rate_bps") or 0)
    except ArithmeticError:
        return Decimal(0)
    if not bps.is_finite() or bps <= 0:
        return Decimal(0)
    return (bps / 10000 * dec(price) * size).quantize(Decimal("0.000001"))


def _docs_spelling(raw: dict[str, Any]) -> bool:
    return str(raw.get("status", "")).upper().startswith(("ORDER_STATUS_", "TRADE_STATUS_"))


def parse_order(raw: dict[str, Any]) -> Order:
    kind = str(raw.get("order_type") or "GTC").upper()
    fixed = _docs_spelling(raw)
    return Order(
        order_id=str(raw["id"]),
        condition_id=str(raw.get("market") or ""),
        token_id=str(raw["asset_id"]),
        side=Side(str(raw["side"]).upper()),
        price=dec(raw["price"]),
        original_size=shares(raw["original_size"], fixed),
        size_matched=shares(raw.get("size_matched") or 0, fixed),
        status=order_status(raw.get("status")),
        created_at=parse_time(raw.get("created_at")) or utc_now(),
        order_type=OrderType.GTD if kind == OrderType.GTD else OrderType.GTC,
    )


def _maker_side(entry: dict[str, Any], trade: dict[str, Any]) -> Side:
    if entry.get("side"):
        return Side(str(entry["side"]).upper())
    taker = Side(str(trade["side"]).upper())
    # Same token: the maker took the other side; complement token: a BUY met a BUY (mint).
    same_token = str(entry.get("asset_id")) == str(trade.get("asset_id"))
    return (Side.SELL if taker is Side.BUY else Side.BUY) if same_token else taker


def trade_fills(
    trade: dict[str, Any], market: MarketInfo, api_key: str, address: str
) -> list[Fill]:
    """Our fills in one `/data/trades` entry. As taker the trade's top level is ours; as maker
    our part is our entries in `maker_orders` (the top level is the taker's)."""
    at = parse_time(trade.get("match_time")) or utc_now()
    status = trade_status(trade.get("status"))
    fixed = _docs_spelling(trade)
    trade_id = str(trade["id"])
    if str(trade.get("trader_side") or "TAKER").upper() == "TAKER":
        return [
            Fill(
                trade_id=trade_id,
                condition_id=market.condition_id,
                token=market.token_of(str(trade["asset_id"])),
                side=Side(str(trade["side"]).upper()),
                price=dec(trade["price"]),
                size=shares(trade["size"], fixed),
                fee=fill_fee(trade, trade["price"], shares(trade["size"], fixed)),
                at=at,
                order_id=str(trade.get("taker_order_id") or ""),
                status=status,
            )
        ]
    ours = [
        entry
        for entry in trade.get("maker_orders") or []
        if entry.get("owner") == api_key
        or str(entry.get("maker_address", "")).lower() == address.lower()
    ]
    return [
        Fill(
            # One trade can match several of our orders: keep their fills apart.
            trade_id=trade_id if len(ours) == 1 else f"{trade_id}:{entry['order_id']}",
            condition_id=market.condition_id,
            token=market.token_of(str(entry["asset_id"])),
            side=_maker_side(entry, trade),
            price=dec(entry["price"]),
            size=shares(entry["matched_amount"], fixed),
            fee=fill_fee(entry, entry["price"], shares(entry["matched_amount"], fixed)),
            at=at,
            order_id=str(entry.get("order_id") or ""),
            status=status,
        )
        for entry in ours
    ]


def book_of(raw: dict[str, Any], token_id: str) -> Book:
    """A `/book` answer, sorted best first (the venue lists both sides worst first)."""

    def levels(side: str, best_first_desc: bool) -> tuple[BookLevel, ...]:
        rows = raw.get(side) or []
        parsed = [BookLevel(price=dec(x["price"]), size=dec(x["size"])) for x in rows]
        return tuple(sorted(parsed, key=lambda level: level.price, reverse=best_first_desc))

    return Book(
        token_id=token_id,
        bids=levels("bids", True),
        asks=levels("asks", False),
        tick_size=dec(raw["tick_size"]),
        min_order_size=dec(raw.get("min_order_size") or 0),
        at=parse_time(raw.get("timestamp")) or utc_now(),
    )


def all_pages(fetch: Callable[[str], Any]) -> list[dict[str, Any]]:
    """Every item of a cursor-paged endpoint, until `next_cursor` is "LTE=" or empty (the docs
    allow both; the SDK's own loops stop only on "LTE=" and would never end on "")."""
    items: list[dict[str, Any]] = []
    cursor = INITIAL_CURSOR
    seen: set[str] = set()
    while cursor != END_CURSOR:
        page = fetch(page_cursor(cursor, seen))
        items.extend(page.get("data") or [])
        cursor = page.get("next_cursor") or END_CURSOR
    return items


def page_cursor(cursor: str, seen: set[str]) -> str:
    """`cursor`, remembered in `seen`; a venue that repeats one would page forever."""
    if cursor in seen:
        raise VenueUnavailable(f"paging repeated cursor {cursor!r}")
    seen.add(cursor)
    return cursor
