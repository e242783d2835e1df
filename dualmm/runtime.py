"""Temporal plumbing shared by the worker, the operator commands, the demo and the tests.

The commands live in `dualmm.cli` (one module per topic); `dualmm.worker` runs the worker,
`dualmm.status` renders the status view and `dualmm.localstack` runs the demo's processes.
Heavy imports (temporalio, the workflows, the exchange adapters) stay inside the functions, so
`dualmm --help` stays fast. Every command that uses a Temporal client ends with `hard_exit`
after flushing (sdk-python #300).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from dualmm.config import OrchestratorConfig, ProcessSettings
from dualmm.errors import UsageError
from dualmm.process import hard_exit, load_settings

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle
    from temporalio.common import TypedSearchAttributes
    from temporalio.runtime import Runtime
    from temporalio.service import TLSConfig


_T = TypeVar("_T")


def settings() -> ProcessSettings:
    return load_settings()


# -- Temporal plumbing (used by the CLI, worker.py, starter.py and the tests) -------------------


async def connect(config: ProcessSettings, runtime: Runtime | None = None) -> Client:
    """A client with the pydantic converter (encrypting with DUALMM_CODEC_KEY, if set) and
    tracing; TLS or API key from the settings; `runtime` exports metrics
    (dualmm.metrics.runtime_for). Workers built on it use the same converter."""
    from temporalio.client import Client

    from dualmm.codec import data_converter
    from dualmm.telemetry import tracing_interceptor

    api_key = config.temporal_api_key.get_secret_value() if config.temporal_api_key else None
    return await Client.connect(
        config.temporal_address,
        namespace=config.temporal_namespace,
        api_key=api_key,
        tls=temporal_tls(config),
        data_converter=data_converter(config),
        interceptors=[tracing_interceptor()],
        runtime=runtime,
    )


def temporal_tls(config: ProcessSettings) -> bool | TLSConfig:
    """TLS for the Temporal client: mTLS with the client certificate files when set; plain TLS
    with DUALMM_TEMPORAL_TLS or an API key; none otherwise."""
    from temporalio.service import TLSConfig

    if config.temporal_tls_cert is not None and config.temporal_tls_key is not None:
        try:
            cert = config.temporal_tls_cert.read_bytes()
            key = config.temporal_tls_key.read_bytes()
        except OSError as exc:
            raise UsageError(
                f"cannot read the Temporal client certificate: {exc.filename}: {exc.strerror}"
            ) from None
        return TLSConfig(client_cert=cert, client_private_key=key)
    return config.temporal_tls or config.temporal_api_key is not None


async def start_or_attach(
    client: Client, task_queue: str, config: OrchestratorConfig, mode: str = "sim"
) -> tuple[WorkflowHandle[Any, Any], bool]:
    """The bot's running workflow, or a new one; True when it was started here. The memo
    records the `mode` it was started in (the status shows it)."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.common import WorkflowIDConflictPolicy
    from temporalio.service import RPCError

    from workflows import ui_text
    from workflows.active_market import ActiveMarketInput, ActiveMarketWorkflow
    from workflows.contracts import WORKFLOW_TASK_TIMEOUT, active_market_workflow_id

    workflow_id = active_market_workflow_id(config.bot_id)
    handle = client.get_workflow_handle(workflow_id)
    try:
        running = (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
    except RPCError:
        running = False  # never started
    if running:
        return handle, False
    started = await client.start_workflow(
        ActiveMarketWorkflow.run,
        ActiveMarketInput(config=config),
        id=workflow_id,
        task_queue=task_queue,
        task_timeout=WORKFLOW_TASK_TIMEOUT,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        memo={"mode": mode, "bot_id": config.bot_id},
        search_attributes=await bot_search_attributes(client, config.bot_id, mode),
        static_summary=ui_text.bot_summary(config, mode),
        static_details=ui_text.bot_details(config, mode),
    )
    return started, True


async def bot_search_attributes(client: Client, bot_id: str, mode: str) -> TypedSearchAttributes:
    """The bot's custom search attributes, or none when the namespace has not registered them
    (a workflow carrying unregistered attributes would fail to start)."""
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.common import SearchAttributePair, TypedSearchAttributes
    from temporalio.service import RPCError

    from workflows import search_attributes

    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    except RPCError:
        return TypedSearchAttributes.empty  # no operator access (e.g. a cloud API key)
    if not {key.name for key in search_attributes.ALL} <= set(listed.custom_attributes):
        return TypedSearchAttributes.empty
    return TypedSearchAttributes(
        [
            SearchAttributePair(search_attributes.BOT_ID, bot_id),
            SearchAttributePair(search_attributes.MODE, mode),
            SearchAttributePair(search_attributes.STAGE, "QUOTING"),
        ]
    )


async def connect_or_fail(config: ProcessSettings) -> Client:
    try:
        return await connect(config)
    except RuntimeError as exc:  # the connection failed
        raise UsageError(f"cannot reach Temporal at {config.temporal_address}: {exc}") from None


def run_or_fail(main: Coroutine[Any, Any, _T]) -> _T:
    """Run; bad input or a missing server is one line and exit code 2, without interpreter
    teardown once a Temporal client may exist (sdk-python #300)."""
    try:
        return asyncio.run(main)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        hard_exit(2)


def run_client_command(body: Callable[[Client], Awaitable[_T]]) -> _T:
    """Connect, run `body`; Temporal's refusals are one line and exit code 2."""
    from temporalio.service import RPCError

    async def main() -> _T:
        client = await connect_or_fail(settings())
        try:
            return await body(client)
        except RPCError as exc:
            raise UsageError(f"temporal: {exc.message}") from None

    return run_or_fail(main())
