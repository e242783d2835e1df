"""`dualmm worker`: the command; the worker itself is dualmm.worker."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dualmm.cli.options import Live
from dualmm.process import hard_exit
from dualmm.runtime import run_or_fail
from dualmm.worker import run_worker


def register(app: typer.Typer) -> None:
    @app.command()
    def worker(
        live: Live = False,
        trace_file: Annotated[
            Path | None, typer.Option("--trace-file", help="Write spans here, not stderr.")
        ] = None,
        tracing: Annotated[
            bool, typer.Option("--tracing/--no-tracing", help="Export spans.")
        ] = True,
        start_timeout: Annotated[
            float | None,
            typer.Option(
                "--start-timeout",
                min=0.1,
                max=86_400,
                help="Give up (exit 2) if Temporal or the venue is still unreachable after "
                "this many seconds [default: keep retrying with backoff].",
            ),
        ] = None,
        ready_file: Annotated[
            Path | None,
            typer.Option(
                "--ready-file",
                help="Create this file while the worker polls its task queue, and delete it "
                "when it stops or drains (for a readiness probe).",
            ),
        ] = None,
    ) -> None:
        """Run a Temporal worker for both workflows and all activities (Ctrl-C or SIGTERM
        drains it: the quote loop moves to another worker at once)."""
        from dualmm.telemetry import flush_tracing

        run_or_fail(run_worker(live, trace_file, tracing, start_timeout, ready_file))
        flush_tracing()
        hard_exit(0)
