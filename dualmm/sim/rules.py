"""Every way the simulated venue can be harsher than a kind test double, each with one switch.

`VenueRules()` is the kind venue the unit tests were written against; `VenueRules.harsh()` is
the venue as Polymarket documents it, the default of `dualmm demo`, `dualmm sim-server` and the
chaos runs. The venue (`dualmm.sim.venue`) and the HTTP server read their switches from here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class VenueRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The book: /midpoint, /price and /spread come from the whole book, our orders included,
    # so an order of ours at the touch moves them (off: the scripted path's midpoint).
    own_orders_move_prices: bool = False
    # A side whose price would fall outside [tick, 1 - tick] is empty, not clamped onto the
    # bound (off: a midpoint of 0.0015 on a 0.01 tick shows a phantom bid at 0.01).
    no_invented_touch: bool = False

    # The tick follows the price: 0.01 -> 0.001 once the midpoint passes 0.96 (or 0.04), and
    # back, for markets listed at 0.01; an order off the current tick is refused.
    dynamic_tick: bool = False

    # Settlement: a trade is MATCHED, then MINED, then CONFIRMED `settle_seconds` after the
    # match (drawn uniformly in [min, max]); balances move only at CONFIRMED. A share of
    # trades goes RETRYING, then FAILED instead (a ghost fill). 0/0: confirmed at once.
    settle_min_seconds: float = Field(0.0, ge=0, le=3600)
    settle_max_seconds: float = Field(0.0, ge=0, le=3600)
    failed_trade_rate: float = Field(0.0, ge=0, le=1)
    seed: int = 0

    # Heartbeats: once a wallet sends them, all its open orders are cancelled when none came
    # for this many seconds (real time). None: no dead-man switch.
    heartbeat_timeout_seconds: float | None = Field(None, gt=0, le=3600)

    # Taker fees on every market: `fee_rate * (p(1-p)) ** fee_exponent` USDC per share of a
    # fill that crossed (the market's `fd`); makers pay nothing. 0: fee-free markets.
    fee_rate: float = Field(0.0, ge=0, le=1)
    fee_exponent: float = Field(1.0, ge=0, le=4)

    # Liquidity rewards paid by the venue: sampled every minute, paid daily from 1 USDC; orders
    # younger than the minimum age do not score.
    venue_rewards: bool = False
    reward_min_order_age_seconds: float = Field(0.0, ge=0, le=86400)

    # Wire formats. Statuses as the SDK shows them (LIVE, CONFIRMED) or as the docs spell them
    # (ORDER_STATUS_LIVE, TRADE_STATUS_CONFIRMED); sizes as decimal shares or 6-decimal
    # fixed-math integers; paging ends on "LTE=" (production, and what the official SDKs loop
    # until: the default, harsh too) or on an empty cursor (the docs allow it; a rule the
    # adapter is tested against); GET /data/order of a fully matched order answers nothing.
    status_spelling: Literal["sdk", "docs"] = "sdk"
    fixed_math_sizes: bool = False
    end_cursor: Literal["LTE=", ""] = "LTE="
    matched_orders_vanish: bool = False

    # Polymarket's documented per-endpoint rate limits, answered with 429 (dualmm.sim.rate_limits).
    rate_limits: bool = False

    # The market channel (/ws/market): each connection is cut with no close frame about this
    # often, falls silent (no event, no PONG) about this often for `..._silence_seconds`, and
    # loses each price_change with this probability (its next hash then does not match).
    market_channel_drop_every_seconds: float | None = Field(None, gt=0, le=7 * 86400)
    market_channel_silence_every_seconds: float | None = Field(None, gt=0, le=7 * 86400)
    market_channel_silence_seconds: float = Field(30.0, ge=0, le=3600)
    market_channel_miss_rate: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _settle_range(self) -> VenueRules:
        if self.settle_max_seconds < self.settle_min_seconds:
            raise ValueError("settle_max_seconds must be at least settle_min_seconds")
        return self

    @classmethod
    def harsh(cls, **overrides: object) -> VenueRules:
        """The venue as documented (each switch can still be overridden)."""
        values: dict[str, object] = {
            "own_orders_move_prices": True,
            "no_invented_touch": True,
            "dynamic_tick": True,
            "heartbeat_timeout_seconds": 10.0,
            "venue_rewards": True,
            "fee_rate": 0.25,  # Polymarket's fee-enabled markets: 0.25 with exponent 2
            "fee_exponent": 2.0,
            "settle_min_seconds": 10.0,
            "settle_max_seconds": 60.0,
            "failed_trade_rate": 0.02,
            "status_spelling": "docs",
            "fixed_math_sizes": True,
            "matched_orders_vanish": True,
            "rate_limits": True,
            "market_channel_drop_every_seconds": 1800.0,
            "market_channel_silence_every_seconds": 3600.0,
            "market_channel_miss_rate": 0.001,
        }
        values.update(overrides)
        return cls.model_validate(values)
