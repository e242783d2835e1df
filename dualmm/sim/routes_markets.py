"""Market listings and reward configurations: /markets, /sampling-markets, /clob-markets,
/markets-by-token and /rewards/markets."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal

from py_clob_client_v2.config import ContractConfig

from dualmm.domain.types import MarketInfo, Token
from dualmm.exchange.base import RewardMarket
from dualmm.sim.auth import ApiError
from dualmm.sim.routes_market_data import MarketDataRoutes
from dualmm.sim.venue import SimVenue
from dualmm.sim.wire import JSON, Request, Routes, num, page, venue_errors


class Markets:
    """Market metadata and reward configurations over a venue."""

    def __init__(
        self,
        venue: SimVenue,
        market_data: MarketDataRoutes,
        contracts: ContractConfig,
        page_size: int,
    ) -> None:
        self.venue = venue
        self.market_data = market_data
        self._contracts = contracts
        self.page_size = page_size

    def routes(self) -> Routes:
        return Routes(
            exact={
                ("GET", "/sampling-markets"): self._markets_page,
                ("GET", "/markets"): self._markets_page,
                ("GET", "/rewards/markets/current"): self._rewards_page,
            },
            prefix=[
                ("GET", "/markets/", lambda _, cid: self._market_json(self.reward_market(cid))),
                ("GET", "/clob-markets/", lambda _, cid: self._clob_market(cid)),
                ("GET", "/markets-by-token/", self._market_by_token),
                ("GET", "/rewards/markets/", self._market_rewards_page),
            ],
            keyed={},
            keyed_prefix=[],
        )

    def reward_market(self, condition_id: str) -> RewardMarket:
        with venue_errors():
            info = self.venue.market(condition_id)
        for market in self.venue.reward_markets():
            if market.info.condition_id == condition_id:
                return market.model_copy(update={"info": info})
        raise ApiError(404, f"market {condition_id} not found")

    def _market_json(self, market: RewardMarket) -> JSON:
        info = market.info
        winner = self.venue.winner(info.condition_id)
        yes_mid = self.market_data.midpoint(info.yes_token_id)
        if winner is not None:  # a resolved market's tokens are worth what they pay
            yes_mid = Decimal(1 if winner is Token.YES else 0)
        return {
            "enable_order_book": winner is None,
            "active": market.active,
            "closed": winner is not None,
            "archived": False,
            "accepting_orders": market.accepting_orders,
            "minimum_order_size": num(info.min_order_size),
            "minimum_tick_size": num(info.tick_size),
            "condition_id": info.condition_id,
            "question_id": "0x" + hashlib.sha256(info.condition_id.encode()).hexdigest(),
            "question": info.question,
            "description": "",
            "market_slug": info.condition_id[:18],
            "end_date_iso": market.end_date.isoformat() if market.end_date else None,
            "game_start_time": None,
            "seconds_delay": 0,
            "maker_base_fee": 0,
            "taker_base_fee": 0,
            "neg_risk": info.neg_risk,
            "rewards": {
                "rates": [
                    {
                        "asset_address": self._contracts.collateral,
                        "rewards_daily_rate": num(info.rewards_daily_rate),
                    }
                ],
                "min_size": num(info.rewards_min_size),
                "max_spread": num(info.rewards_max_spread_cents),
            },
            "tokens": [
                {
                    "token_id": info.yes_token_id,
                    "outcome": "Yes",
                    "price": num(yes_mid),
                    "winner": winner is Token.YES,
                },
                {
                    "token_id": info.no_token_id,
                    "outcome": "No",
                    "price": num(1 - yes_mid),
                    "winner": winner is Token.NO,
                },
            ],
            "tags": [],
        }

    def _markets_page(self, request: Request) -> JSON:
        markets = [self._market_json(m) for m in self.venue.reward_markets()]
        return page(
            markets, request.query.get("next_cursor"), self.page_size, self.venue.rules.end_cursor
        )

    def _rewards_json(self, info: MarketInfo) -> JSON:
        start = self.venue.now().replace(hour=0, minute=0, second=0, microsecond=0)
        return {
            "condition_id": info.condition_id,
            "rewards_max_spread": num(info.rewards_max_spread_cents),
            "rewards_min_size": num(info.rewards_min_size),
            "rewards_config": [
                {
                    "id": 0,
                    "asset_address": self._contracts.collateral,
                    "start_date": start.date().isoformat(),
                    "end_date": (start + timedelta(days=365)).date().isoformat(),
                    "rate_per_day": num(info.rewards_daily_rate),
                    "total_rewards": num(info.rewards_daily_rate * 365),
                }
            ],
            "native_daily_rate": num(info.rewards_daily_rate),
            "sponsored_daily_rate": 0,
            "total_daily_rate": num(info.rewards_daily_rate),
        }

    def _rewards_page(self, request: Request) -> JSON:
        rewarded = [m.info for m in self.venue.reward_markets() if m.info.rewards_daily_rate > 0]
        data = [self._rewards_json(info) for info in rewarded]
        return page(
            data, request.query.get("next_cursor"), self.page_size, self.venue.rules.end_cursor
        )

    def _market_rewards_page(self, request: Request, condition_id: str) -> JSON:
        info = self.reward_market(condition_id).info
        return page(
            [self._rewards_json(info)],
            request.query.get("next_cursor"),
            self.page_size,
            self.venue.rules.end_cursor,
        )

    def _clob_market(self, condition_id: str) -> JSON:
        """The compact market info `create_order` and fee lookups read (`/clob-markets/{id}`)."""
        market = self.reward_market(condition_id)
        info = market.info
        return {
            "c": info.condition_id,
            "t": [{"t": info.yes_token_id, "o": "Yes"}, {"t": info.no_token_id, "o": "No"}],
            "mts": num(info.tick_size),
            "mos": num(info.min_order_size),
            "nr": info.neg_risk,
            "ao": market.accepting_orders,
            "fd": {"r": self.venue.rules.fee_rate, "e": self.venue.rules.fee_exponent},
        }

    def _market_by_token(self, _: Request, token_id: str) -> JSON:
        with venue_errors():
            info = self.venue.market_of_token(token_id)
        return {
            "condition_id": info.condition_id,
            "primary_token_id": info.yes_token_id,
            "secondary_token_id": info.no_token_id,
        }
