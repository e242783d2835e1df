"""Shared Temporal fixtures.

One time-skipping server per test module (`temporal_env`) and one dev server
(`dev_env`), started lazily by the first test that asks for it; tests using `dev_env` get the
`devserver` marker automatically (deselect them with `-m "not devserver"`). Each test gets its
own task queue (`task_queue`) so workers never steal each other's tasks.

Time-skipping gotchas (seen here): an activity that completes after its workflow closed (the
workflow terminated, or cancelled without waiting for it), like an ABANDONed child that
completes after its parent closed, leaves the server's time skipping locked for the rest of
the module: later sleeps and results run in real time and time out. End workflows by
cancelling and awaiting them, and run such flows on `dev_env`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from hypothesis import settings
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from dualmm.temporal_bin import DEV_SERVER, TEST_SERVER, temporal_binary
from workflows.search_attributes import dev_server_args

# Property tests check behaviour, not speed: a shared 2-core machine under load (CI, parallel
# work) misses hypothesis's 200 ms per-example deadline on tests that pass alone.
settings.register_profile("dualmm", deadline=None)
settings.load_profile("dualmm")

# Low on purpose so dev-server tests see continue-as-new after a few dozen events.
DEV_SERVER_SUGGEST_CONTINUE_AS_NEW = 40


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (pydantic data converter), one per test module: some
    flows make its clock jump about ten years, and a session's worth of jumps pushes it past
    the year 2099 that scenarios refuse."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=temporal_binary(TEST_SERVER),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real `temporal server start-dev` (in memory, no UI), shared by the session.

    Timers have ~1 s granularity; history suggests continue-as-new after
    DEV_SERVER_SUGGEST_CONTINUE_AS_NEW events.
    """
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_binary(DEV_SERVER),
        dev_server_extra_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={DEV_SERVER_SUGGEST_CONTINUE_AS_NEW}",
            *dev_server_args(),  # the bot's custom search attributes, as `dualmm demo` does
        ],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "dev_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.devserver)
