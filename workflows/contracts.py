"""What the workflows, their activities and their clients agree on: workflow types and ids, the
task queue, signal, query and update names, and the activities' timeouts and retry policies.

One place for each name, so a rename cannot leave a sender and a handler apart. The typed
inputs and results live next to them in workflows.liquidation_types (LiquidationInput, ...)
and workflows.active_market_types (ActiveMarketInput, ...). Light on purpose (no pydantic,
temporalio only when a policy is built): workflows import it inside the sandbox, the CLI at
start-up.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.common import RetryPolicy

TASK_QUEUE = "dualmm"  # the default; DUALMM_TASK_QUEUE overrides it (dualmm.config)

# -- workflows and their ids ----------------------------------------------------------------

ACTIVE_MARKET_WORKFLOW = "ActiveMarketWorkflow"
LIQUIDATION_WORKFLOW = "LiquidationWorkflow"
ACTIVE_MARKET_ID_PREFIX = "active-market-"
LIQUIDATION_ID_PREFIX = "liquidation-"


def active_market_workflow_id(bot_id: str) -> str:
    """One bot per id."""
    return f"{ACTIVE_MARKET_ID_PREFIX}{bot_id}"


def liquidation_workflow_id(condition_id: str) -> str:
    """One liquidation per market at a time: the id is the market's."""
    return f"{LIQUIDATION_ID_PREFIX}{condition_id}"


# Half the server's 10 s default: a task that started on a worker that died goes to another
# after this. A liquidation check's sync (a local activity) that outlives 80 % of it keeps its
# task alive with task heartbeats, which replay as the run went (workflows/liquidation.py, "the
# clock a replay reads"; tests/test_liquidation_slow_checks.py runs them at a 1 s timeout).
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=5)

# -- messages ---------------------------------------------------------------------------------

# To the bot (ActiveMarketWorkflow).
POSITION_LIMIT_SIGNAL = "position_limit"  # from make_market: a PositionLimit
PROGRESS_SIGNAL = "market_progress"  # from make_market: a MarketProgress
FINISHED_SIGNAL = "liquidation_finished"  # from a child: its LiquidationResult
STAGE_SIGNAL = "liquidation_stage"  # from a child: a LiquidationStageChange per escalation
EXIT_MARKET_SIGNAL = "exit_market"
LIQUIDATE_ALL_SIGNAL = "liquidate_all"
# To the bot and to a liquidation.
PAUSE_SIGNAL = "pause"
RESUME_SIGNAL = "resume"
STATUS_QUERY = "status"
# To a liquidation.
FORCE_EXIT_SIGNAL = "force_exit"
SET_CONFIG_UPDATE = "set_config"

# -- activities -------------------------------------------------------------------------------


# Every activity talks to the venue: transient failures retry with capped backoff; failures
# retrying cannot fix are raised non-retryable by the activity itself.
@cache
def venue_retry() -> RetryPolicy:
    from temporalio.common import RetryPolicy

    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
    )


# A liquidation's sync, placement, cancel and merge; the bot's pick, ranking and withdrawal.
LIQUIDATION_ACTIVITY_TIMEOUT = timedelta(seconds=60)
# A liquidation's wait for a move between checks heartbeats every few seconds: a dead worker's
# wait resumes on another within this (the check itself is a durable timer, never delayed).
MOVE_WAIT_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
PICK_TIMEOUT = timedelta(seconds=60)
# make_market lasts until the limit or a cancel (its heartbeat timeout and retry policy, which
# move it to another worker, are activities.attempt's).
ROUND_TIMEOUT = timedelta(days=365)
