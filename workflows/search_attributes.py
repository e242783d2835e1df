"""The bot's custom search attributes: the Temporal UI's list filters and columns.

They must be registered on the namespace before a workflow may carry them: `dualmm demo` passes
them to the dev server (`--search-attribute NAME=Keyword`); on a cluster run
`temporal operator search-attribute create --name NAME --type Keyword` once per name (see
deploy/README.md). The starter looks them up (`registered`) and starts the bot with them only
when they exist; a workflow upserts (stage, outcome) only when it was started carrying BOT_ID,
so a cluster without them never fails a workflow task. Liquidation children inherit the
parent's choice.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

BOT_ID = SearchAttributeKey.for_keyword("DualmmBotId")
MODE = SearchAttributeKey.for_keyword("DualmmMode")  # sim, paper, live
MARKET = SearchAttributeKey.for_keyword("DualmmMarket")  # condition id
STAGE = SearchAttributeKey.for_keyword("DualmmStage")  # PASSIVE ... MARKET; QUOTING for a bot
OUTCOME = SearchAttributeKey.for_keyword("DualmmOutcome")  # closed, dust, open

ALL = (BOT_ID, MODE, MARKET, STAGE, OUTCOME)


def dev_server_args() -> list[str]:
    """`temporal server start-dev` flags that register every attribute."""
    return [arg for key in ALL for arg in ("--search-attribute", f"{key.name}=Keyword")]


def carried() -> bool:
    """Inside a workflow: was it started with the bot's attributes (so they are registered)?"""
    return workflow.info().typed_search_attributes.get(BOT_ID) is not None


def upsert(*updates: SearchAttributeUpdate[Any]) -> None:
    """Inside a workflow: set attributes, if this run carries them (so they are registered)."""
    if carried():
        workflow.upsert_search_attributes(list(updates))
