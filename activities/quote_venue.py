"""The round's requests to the venue: read its fills into a checkpoint, cancel quotes, and
place them (one batch where the venue takes batches) under keys a retry re-uses."""

from __future__ import annotations

from temporalio import activity

from activities.market_making_types import Checkpoint
from dualmm.domain.types import MarketInfo, OrderIntent, Side
from dualmm.exchange.base import BatchOrders, Exchange, ExchangeError, Order, PlaceOrder, WouldCross
from dualmm.logs import log_fill


async def read_fills(exchange: Exchange, market: MarketInfo, checkpoint: Checkpoint) -> Checkpoint:
    """The checkpoint with the fills reported since its cursor folded into its position."""
    page = await exchange.fills(market, checkpoint.cursor or None)
    for fill in checkpoint.position.new_fills(page.fills):
        log_fill(activity.logger, fill)
    position = checkpoint.position.apply_fills(page.fills)
    return checkpoint.model_copy(update={"position": position, "cursor": page.cursor})


async def cancel_quotes(exchange: Exchange, condition_id: str, known: set[str]) -> None:
    """Cancel the `known` quotes and every other open BUY of ours on the market (only market
    making buys; a liquidation sells)."""
    live = set(known)
    for order in await exchange.open_orders(condition_id):
        if order.side is Side.BUY:
            live.add(order.order_id)
    await cancel_orders(exchange, sorted(live))


async def cancel_orders(exchange: Exchange, order_ids: list[str]) -> None:
    """Cancel orders, in one request where the venue takes batches."""
    if isinstance(exchange, BatchOrders) and len(order_ids) > 1:
        await exchange.cancel_orders(order_ids)
        return
    for order_id in order_ids:
        await exchange.cancel_order(order_id)


def placement_key(prefix: str, activity_id: str, sequence: int, intent: OrderIntent) -> str:
    return f"{prefix}:{activity_id}:{sequence}:{intent.token}:{intent.price}:{intent.size}"


async def place_quotes(
    exchange: Exchange, market: MarketInfo, keys: list[str], intents: list[OrderIntent]
) -> list[Order | ExchangeError]:
    """Place post-only BUY quotes under `keys`, in one request where the venue takes batches;
    each one's order or refusal (a quote that would cross is refused, never raised)."""
    requests = [
        PlaceOrder(
            key=key,
            market=market,
            token_id=market.token_id(intent.token),
            side=intent.side,
            price=intent.price,
            size=intent.size,
            # Quotes never mean to cross, and post-only ones are accepted during the
            # venue's post-restart window.
            post_only=True,
        )
        for key, intent in zip(keys, intents, strict=True)
    ]
    if isinstance(exchange, BatchOrders) and len(requests) > 1:
        return await exchange.place_orders(requests)
    results: list[Order | ExchangeError] = []
    for request in requests:
        try:
            results.append(await exchange.place_order(request))
        except WouldCross as exc:
            results.append(exc)
    return results
