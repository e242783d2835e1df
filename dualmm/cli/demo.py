"""`dualmm demo`: the command; the local stack it runs is dualmm.localstack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dualmm.localstack import DEMO_MAX_SECONDS, DemoPlan, run_demo
from dualmm.process import hard_exit


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        duration: Annotated[
            int | None,
            typer.Option(
                "--duration", help="Stop after this many seconds.", min=1, max=DEMO_MAX_SECONDS
            ),
        ] = None,
        reset: Annotated[
            bool,
            typer.Option(
                "--reset", help="Start clean: forget the previous demo's history and venue."
            ),
        ] = False,
        temporal_port: Annotated[
            int, typer.Option("--temporal-port", help="The dev server's port.", min=1, max=65535)
        ] = 7233,
        ui_port: Annotated[
            int, typer.Option("--ui-port", help="The Temporal UI's port.", min=1, max=65535)
        ] = 8233,
        var: Annotated[
            Path, typer.Option("--var", help="Where the history, venue, key and logs live.")
        ] = Path("var"),
    ) -> None:
        """Dev server + simulator + worker + the bot, with a status line every few seconds.

        Ctrl-C stops the processes and leaves the workflows on the dev server's SQLite history
        (and the simulator's venue saved beside it): the next `dualmm demo` resumes them.
        `--reset` (`make demo-reset`) starts clean.
        """
        hard_exit(run_demo(DemoPlan(duration, reset, temporal_port, ui_port, var)))
