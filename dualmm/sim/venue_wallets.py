"""The simulated venue's wallets, balances and trades: funding, merges, what open orders and
unsettled trades lock, and each trade's settlement (balances move when it is CONFIRMED).

Balances are totals like Polymarket's balance endpoint (open orders do not reduce them);
`available` is what new orders can still lock: BUY locks price * remaining collateral, SELL
locks the remaining tokens.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from dualmm.domain.fees import taker_fee
from dualmm.domain.prices import round_size
from dualmm.domain.types import Side
from dualmm.exchange.base import Balances, InsufficientBalance, InvalidOrder, MergeReport, NotFound
from dualmm.sim.ledger import ZERO, Trade, TradeStatus, Wallet, iso, wallet_address
from dualmm.sim.venue_base import VenueBase, synchronized


class VenueWallets(VenueBase):
    """Wallets, balances, trades and their settlement (see the module docstring)."""

    @synchronized
    def ensure_wallet(self, address: str) -> None:
        """Create (and fund with `fund` USDC) a wallet seen for the first time."""
        self._wallets.setdefault(wallet_address(address), Wallet(collateral=self._fund))

    @synchronized
    def credit(self, address: str, token_id: str, qty: Decimal) -> None:
        """Give a wallet outcome tokens (a starting position); creates the wallet if new."""
        if qty <= 0:
            raise ValueError(f"credit: quantity must be positive, got {qty}")
        self._token(token_id)
        self.ensure_wallet(address)
        self._wallets[wallet_address(address)].add_tokens(token_id, qty)

    @synchronized
    def merge(self, address: str, condition_id: str, qty: Decimal, key: str) -> MergeReport:
        """`mergePositions`: burn `qty` YES and `qty` NO of the wallet's settled, unlocked
        tokens and credit `qty` USDC. A key already used returns its merge again."""
        address = wallet_address(address)
        done = self._merges.get((address, key))
        if done is not None:
            return done
        if qty <= 0 or round_size(qty) != qty:
            raise InvalidOrder(f"merge quantity {qty} is not a positive multiple of 0.01")
        info = self._market(condition_id).info
        free = self.available(address).tokens
        for token_id in (info.yes_token_id, info.no_token_id):
            if free.get(token_id, ZERO) < qty:
                raise InsufficientBalance(
                    f"merge of {qty} pairs: only {free.get(token_id, ZERO)} of {token_id} free"
                )
        wallet = self._wallets[address]
        wallet.add_tokens(info.yes_token_id, -qty)
        wallet.add_tokens(info.no_token_id, -qty)
        wallet.collateral += qty
        report = MergeReport(key=key, condition_id=condition_id, qty=qty, at=self.now())
        self._merges[(address, key)] = report
        return report

    @synchronized
    def balances(self, address: str) -> Balances:
        """Total collateral and tokens held (open orders do not reduce them)."""
        self._sync()
        wallet = self._wallets.get(wallet_address(address))
        if wallet is None:
            return Balances(collateral=ZERO, tokens={})
        return Balances(collateral=wallet.collateral, tokens=dict(wallet.tokens))

    @synchronized
    def available(self, address: str) -> Balances:
        """What is left for new orders once open orders' locks are taken out."""
        self._sync()
        total = self.balances(address)
        collateral, tokens = total.collateral, dict(total.tokens)
        address = wallet_address(address)
        for order in self._open(address):
            if order.side is Side.BUY:
                collateral -= order.price * order.remaining
            else:
                tokens[order.token_id] = tokens.get(order.token_id, ZERO) - order.remaining
        # A matched trade commits what it pays until it settles; what it buys is not there yet.
        for trade_id in self._trades_by_wallet.get(address, {}):
            trade = self._trades[trade_id]
            if self._settlement.pending(trade_id):
                collateral -= trade.fee
                if trade.side is Side.BUY:
                    collateral -= trade.price * trade.size
                else:
                    tokens[trade.token_id] = tokens.get(trade.token_id, ZERO) - trade.size
        return Balances(collateral=collateral, tokens=tokens)

    def _check_funds(
        self, address: str, token_id: str, side: Side, price: Decimal, size: Decimal
    ) -> None:
        if address not in self._wallets:
            raise InsufficientBalance(f"not enough balance / allowance: unknown wallet {address}")
        free = self.available(address)
        if side is Side.BUY:
            have, need = free.collateral, price * size
        else:
            have, need = free.tokens.get(token_id, ZERO), size
        if need > have:
            raise InsufficientBalance(
                f"not enough balance / allowance: the balance is not enough -> balance: {have}, "
                f"order amount: {need}"
            )

    def _add_trade(self, trade: Trade) -> None:
        self._trades_by_wallet.setdefault(trade.address, {})[trade.trade_id] = None
        key = (trade.address, trade.condition_id)
        self._trades_by_market.setdefault(key, {})[trade.trade_id] = None
        self._trades_by_order.setdefault(trade.order_id, []).append(trade.trade_id)

    def _taker_fee(self, price: Decimal, size: Decimal) -> Decimal:
        rate, exponent = Decimal(str(self.rules.fee_rate)), Decimal(str(self.rules.fee_exponent))
        return taker_fee(price, size, rate, exponent)

    def _settle_step(self, trade: Trade, status: TradeStatus, at: datetime) -> None:
        """Move a trade on; balances move when it is CONFIRMED (a FAILED one moves nothing)."""
        if status is TradeStatus.CONFIRMED:
            self._settle(trade.address, trade.token_id, trade.side, trade.price, trade.size)
            self._wallets[trade.address].collateral -= trade.fee
        self._seq += 1
        self._trades[trade.trade_id] = trade.model_copy(
            update={"status": status, "seq": self._seq, "updated_at": at}
        )
        self._trade_event(self._trades[trade.trade_id])

    def _settle(
        self, address: str, token_id: str, side: Side, price: Decimal, size: Decimal
    ) -> None:
        """Move collateral and tokens for a fill (a negative size reverses one)."""
        wallet = self._wallets[address]
        sign = 1 if side is Side.BUY else -1
        wallet.collateral -= sign * price * size
        wallet.add_tokens(token_id, sign * size)

    @synchronized
    def trades(self, address: str, after: int = 0, condition_id: str | None = None) -> list[Trade]:
        """The wallet's trades changed after sequence number `after`, oldest change first."""
        self._sync()
        address = wallet_address(address)
        if condition_id is None:
            ids = self._trades_by_wallet.get(address, {})
        else:
            ids = self._trades_by_market.get((address, condition_id), {})
        return sorted(
            (trade for trade in map(self._trades.__getitem__, ids) if trade.seq > after),
            key=lambda trade: trade.seq,
        )

    @synchronized
    def order_trades(self, order_id: str) -> list[Trade]:
        """One order's trades, oldest change first."""
        self._sync()
        trades = map(self._trades.__getitem__, self._trades_by_order.get(order_id, ()))
        return sorted(trades, key=lambda trade: trade.seq)

    @synchronized
    def fail_trade(self, trade_id: str) -> Trade:
        """Mark a trade FAILED now (settlement failed): a settled trade's balance changes are
        reversed, an unsettled one never settles; it is reported again with a new `seq`. The
        order keeps its matched size."""
        trade = self._trades.get(trade_id)
        if trade is None:
            raise NotFound(f"trade {trade_id} not found")
        if trade.status is TradeStatus.FAILED:
            return trade
        if not self._settlement.cancel(trade_id):  # settled: its balance changes go back
            self._settle(trade.address, trade.token_id, trade.side, trade.price, -trade.size)
            self._wallets[trade.address].collateral += trade.fee
        self._seq += 1
        failed = trade.model_copy(
            update={"status": TradeStatus.FAILED, "seq": self._seq, "updated_at": self._processed}
        )
        self._trades[trade_id] = failed
        self._trade_event(failed)
        return failed

    # --- admin ---

    @synchronized
    def ledger(self) -> dict[str, Any]:
        """Every order ever accepted, every fill and every wallet's holdings, JSON-ready."""
        self._sync()
        return {
            "now": iso(self._processed),
            "wallets": {
                address: {
                    "collateral": str(wallet.collateral),
                    "tokens": {token_id: str(qty) for token_id, qty in wallet.tokens.items()},
                }
                for address, wallet in self._wallets.items()
            },
            "orders": [order.ledger_entry() for order in self._orders.values()],
            "fills": [trade.model_dump(mode="json") for trade in self._trades.values()],
        }
