"""`dualmm record`: the command; the recorder is dualmm.record, its files dualmm.record_store."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from dualmm.errors import UsageError
from dualmm.record import DEFAULT_MARKETS, MAX_MARKETS, POLYMARKET_CLOB, SIM_CLOB, Exchange, record


def register(app: typer.Typer) -> None:
    @app.command("record")
    def record_command(
        out: Annotated[Path, typer.Option("--out", help="Folder of the recording.")],
        markets: Annotated[
            int | None,
            typer.Option(
                "--markets",
                min=1,
                max=MAX_MARKETS,
                help=f"Record the first N reward markets (default {DEFAULT_MARKETS}).",
            ),
        ] = None,
        condition_id: Annotated[
            list[str] | None,
            typer.Option("--condition-id", help="Record this market (repeatable)."),
        ] = None,
        exchange: Annotated[
            str, typer.Option("--exchange", help="polymarket (public data) or sim.")
        ] = "polymarket",
        clob_url: Annotated[
            str | None,
            typer.Option(
                "--clob-url",
                help=f"The CLOB's REST address (default {POLYMARKET_CLOB}; sim: {SIM_CLOB}).",
            ),
        ] = None,
        duration: Annotated[
            float | None,
            typer.Option("--duration", min=1.0, help="Stop after this many seconds."),
        ] = None,
    ) -> None:
        """Record the market channel's books and trades into DIR, one file set per UTC day,
        for `dualmm backtest DIR/<day>`. Read-only: no key, no order."""
        if exchange not in ("polymarket", "sim"):
            raise UsageError(f"--exchange: expected polymarket or sim, got {exchange!r}")
        if markets is not None and condition_id:
            raise UsageError("--markets and --condition-id: give one or the other")
        if condition_id and len(condition_id) > MAX_MARKETS:
            raise UsageError(f"--condition-id: at most {MAX_MARKETS} markets")
        url = clob_url or (POLYMARKET_CLOB if exchange == "polymarket" else SIM_CLOB)
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise UsageError(f"--clob-url: not an http(s) address: {url!r}")
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out}: not a folder")
        tty = sys.stderr.isatty()
        printed = [0.0]

        def say(line: str, last: bool) -> None:
            """One line rewritten in place on a terminal; else a line every 30 s."""
            if tty:
                print(f"\r{line}\033[K", end="\n" if last else "", file=sys.stderr, flush=True)
            elif last or time.monotonic() - printed[0] >= 30:
                printed[0] = time.monotonic()
                print(line, file=sys.stderr, flush=True)

        async def main() -> None:
            task = asyncio.current_task()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                if task is not None:
                    loop.add_signal_handler(signum, task.cancel)
            kind: Exchange = "sim" if exchange == "sim" else "polymarket"
            await record(out, kind, url, markets, condition_id or [], duration, say)

        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(main())
        print(f"dualmm record: written to {out}", file=sys.stderr)
