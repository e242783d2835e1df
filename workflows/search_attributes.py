"""The bot's custom search attributes: the Temporal UI's list filters and columns.

They must be registered on the namespace before a workflow may carry them: `dualmm demo` passes
them to the dev server (`--search-attribute NAME=Keyword`); on a cluster run
`temporal operator search-attribute create --name NAME --type Keyword` once per name (see
deploy/README.md). A bot started where they are not registered carries none (the orchestrator
checks), and its children follow their parent.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

BOT_ID = SearchAttributeKey.for_keyword("DualmmBotId")
MODE = SearchAttributeKey.for_keyword("DualmmMode")  # sim, paper, live
MARKET = SearchAttributeKey.for_keyword("DualmmMarket")  # condition id
STAGE = SearchAttributeKey.for_keyword("DualmmStage")  # PASSIVE ... MARKET; QUOTING for a bot
OUTCOME = SearchAttributeKey.for_keyword("DualmmOutcome")  # closed, dust, open

ALL = (BOT_ID, MODE, MARKET, STAGE, OUTCOME)


def dev_server_args() -> list[str]:
    """`temporal server start-dev` flags that register every attribute."""
    return [arg for key in ALL for arg in ("--search-attribute", f"{key.name}=Keyword")]
