"""OpenTelemetry tracing for workers and CLI clients.

The Temporal TracingInterceptor makes spans for workflow starts, signals, queries, workflow
and activity runs, linked across processes through Temporal headers. Spans carry names and
ids (workflow id, run id, activity type), never arguments or results, so no secret and no
order detail reaches them. Spans go to a console exporter (stderr or a file); nothing is
sent over the network unless an OTLP exporter is configured by the operator's own SDK setup.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.contrib.opentelemetry import TracingInterceptor

SERVICE_NAME = "dualmm"


def setup_tracing(role: str, trace_file: Path | None = None, enabled: bool = True) -> None:
    """Install the global tracer provider once per process; `role` names the process."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(
        resource=Resource.create({"service.name": SERVICE_NAME, "service.instance.role": role})
    )
    if enabled:
        out: IO[str] = sys.stderr
        if trace_file is not None:
            trace_file.parent.mkdir(parents=True, exist_ok=True)
            out = trace_file.open("a", encoding="utf-8")
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=out)))
    trace.set_tracer_provider(provider)


def flush_tracing() -> None:
    """Export what is buffered (before a hard exit skips the interpreter's teardown)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()


def tracing_interceptor() -> TracingInterceptor:
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return TracingInterceptor()
