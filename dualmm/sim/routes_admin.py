"""Admin endpoints (`/_sim/*`, only with `--admin`): the ledger, faults, simulated time, tick
changes, failed trades and market resolutions."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from pydantic import ValidationError

from dualmm.domain.types import Token
from dualmm.sim.auth import ApiError
from dualmm.sim.faults import Faults
from dualmm.sim.wire import JSON, Request, Routes, dec, venue_errors

if TYPE_CHECKING:
    from dualmm.sim.server_view import AdminControls


MAX_ADVANCE_SECONDS = 10 * 365 * 24 * 3600.0


class Admin:
    """The simulator's own controls, over the server (faults) and its venue."""

    def __init__(self, server: AdminControls) -> None:
        self.server = server
        self.venue = server.venue

    def routes(self) -> Routes:
        return Routes(
            exact={
                ("GET", "/_sim/ledger"): lambda _: self.venue.ledger(),
                ("GET", "/_sim/faults"): lambda _: self.server.faults.model_dump(),
                ("POST", "/_sim/faults"): self._set_faults,
                ("POST", "/_sim/advance"): self._advance,
                ("POST", "/_sim/tick-size"): self._set_tick_size,
                ("POST", "/_sim/fail-trade"): self._fail_trade,
                ("POST", "/_sim/restart"): self._restart,
                ("POST", "/_sim/market-channel"): self._market_channel_fault,
                ("POST", "/_sim/resolve"): self._resolve,
            },
            prefix=[],
            keyed={},
            keyed_prefix=[],
        )

    def _set_faults(self, request: Request) -> JSON:
        payload = request.json() or {}
        if not isinstance(payload, dict):
            raise ApiError(400, "faults: expected a JSON object")
        try:
            faults = Faults.model_validate({**self.server.faults.model_dump(), **payload})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ApiError(
                400, f"faults: {'.'.join(map(str, first['loc']))}: {first['msg']}"
            ) from None
        self.server.set_faults(faults)
        return faults.model_dump()

    def _advance(self, request: Request) -> JSON:
        payload = request.json() or {}
        if not isinstance(payload, dict):
            raise ApiError(400, 'advance: expected {"seconds": n} or {"to": iso}')
        try:
            if "seconds" in payload:
                seconds = float(payload["seconds"])
                if not 0 <= seconds <= MAX_ADVANCE_SECONDS:  # NaN and inf fail this too
                    raise ValueError("seconds out of range")
                target = self.venue.now() + timedelta(seconds=seconds)
            else:
                target = datetime.fromisoformat(str(payload["to"])[:64])
        except (KeyError, ValueError, TypeError, OverflowError):
            raise ApiError(400, 'advance: expected {"seconds": n} or {"to": iso}') from None
        if target.tzinfo is None:
            raise ApiError(400, "advance: the time needs a timezone")
        self.venue.advance_to(target)
        return {"now": self.venue.now().isoformat()}

    def _set_tick_size(self, request: Request) -> JSON:
        payload = request.json() or {}
        try:
            condition_id, tick = str(payload["condition_id"]), Decimal(str(payload["tick_size"]))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            raise ApiError(
                400, 'tick-size: expected {"condition_id": id, "tick_size": t}'
            ) from None
        try:
            with venue_errors():
                self.venue.set_tick_size(condition_id, tick)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        return {"condition_id": condition_id, "tick_size": dec(tick)}

    def _fail_trade(self, request: Request) -> JSON:
        payload = request.json() or {}
        if not isinstance(payload, dict) or not isinstance(payload.get("trade_id"), str):
            raise ApiError(400, 'fail-trade: expected {"trade_id": id}')
        with venue_errors():
            trade = self.venue.fail_trade(payload["trade_id"])
        return trade.model_dump(mode="json")

    def _restart(self, request: Request) -> JSON:
        """Restart the matching engine: `{"down_seconds": 90, "post_only_seconds": 120}`."""
        payload = request.json() or {}
        try:
            down = float(payload.get("down_seconds", 90))
            post_only = float(payload.get("post_only_seconds", 120))
            if not (0 <= down <= 3600 and 0 <= post_only <= 3600):
                raise ValueError("out of range")
        except (AttributeError, TypeError, ValueError):
            raise ApiError(
                400, 'restart: expected {"down_seconds": s, "post_only_seconds": s} up to 3600'
            ) from None
        self.server.restart(down, post_only)
        return {"down_seconds": down, "post_only_seconds": post_only}

    def _market_channel_fault(self, request: Request) -> JSON:
        """A market-channel fault on every open connection now:
        `{"drop": true, "silence_seconds": s, "miss": n}` (miss: lose the next n price_changes)."""
        payload = request.json() or {}
        try:
            drop = payload.get("drop", False) is True
            silence = float(payload.get("silence_seconds", 0))
            miss = int(payload.get("miss", 0))
            if not (0 <= silence <= 3600 and 0 <= miss <= 10_000):
                raise ValueError("out of range")
        except (AttributeError, TypeError, ValueError, OverflowError):
            raise ApiError(
                400, 'market-channel: expected {"drop": bool, "silence_seconds": s, "miss": n}'
            ) from None
        hit = self.server.market_channel.fault(drop=drop, silence_seconds=silence, miss=miss)
        return {"connections": hit}

    def _resolve(self, request: Request) -> JSON:
        """Resolve a market now: `{"condition_id": id, "winner": "Yes" | "No"}`. Its resting
        orders are cancelled, REST shows it closed, and the market channel announces it."""
        payload = request.json() or {}
        usage = 'resolve: expected {"condition_id": id, "winner": "Yes" | "No"}'
        if not isinstance(payload, dict) or not isinstance(payload.get("condition_id"), str):
            raise ApiError(400, usage)
        winner = {"yes": Token.YES, "no": Token.NO}.get(str(payload.get("winner", "")).lower())
        if winner is None:
            raise ApiError(400, usage)
        condition_id = payload["condition_id"]
        try:
            with venue_errors():
                self.venue.resolve(condition_id, winner)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        reached = self.server.market_channel.announce_resolution(condition_id)
        return {"condition_id": condition_id, "winner": winner.value, "announced_to": reached}
