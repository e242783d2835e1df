"""`dualmm sim-server`: the simulated CLOB on loopback, for the bot and for py-clob-client-v2."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dualmm.cli.options import decimal_flag, model_from_flags, model_options
from dualmm.config import MAX_USDC, describe_validation_error
from dualmm.errors import UsageError

if TYPE_CHECKING:
    from dualmm.sim.chain_http import ChainServer
    from dualmm.sim.rules import VenueRules
    from dualmm.sim.venue import SimVenue


def _fund(text: str) -> Decimal:
    amount = decimal_flag("--fund", text)
    if amount is None or not 0 <= amount <= MAX_USDC:
        raise UsageError(
            f"--fund: {text} must be a non-negative amount of USDC (at most {MAX_USDC})"
        )
    return amount


def venue_rules(kind: bool, settings: list[str]) -> VenueRules:
    """The harsh venue (or the kind one with --kind), with each `NAME=VALUE` switch applied."""
    from pydantic import ValidationError

    from dualmm.sim.rules import VenueRules

    values: dict[str, object] = {}
    for setting in settings:
        name, sep, value = setting.partition("=")
        if not sep or name not in VenueRules.model_fields:
            known = ", ".join(VenueRules.model_fields)
            raise UsageError(
                f"--rule: expected NAME=VALUE with NAME one of {known}; got {setting!r}"
            )
        values[name] = (
            None if value.lower() in ("none", "off") and name.endswith("seconds") else value
        )
    try:
        return VenueRules.model_validate(values) if kind else VenueRules.harsh(**values)
    except ValidationError as exc:
        message = describe_validation_error(exc)  # "field: why", or "why" across fields
        named = exc.errors()[0]["loc"]
        raise UsageError(f"--rule {message}" if named else f"--rule: {message}") from None


def _polygon_node(
    venue: SimVenue, host: str, port: int | None, block_time: float, seed: int
) -> ChainServer | None:
    """The simulated Polygon node over the venue's ledger, if asked for (--polygon-port).
    Its nonces and mempool live in memory only: --state keeps the venue, not the chain."""
    if port is None:
        return None
    from dualmm.sim.chain import SimChain
    from dualmm.sim.chain_http import ChainServer
    from dualmm.sim.chain_venue import VenueContracts

    chain = SimChain(VenueContracts(venue), block_time=(block_time, block_time), seed=seed)
    try:
        return ChainServer(chain, host=host, port=port).start()
    except OSError as exc:
        raise UsageError(f"--polygon-port: cannot listen on {host}:{port}: {exc.strerror}") from exc


def register(app: typer.Typer) -> None:
    from dualmm.sim.faults import Faults  # its fields declare the fault options

    @app.command("sim-server")
    @model_options(Faults, "faults_flags")
    def sim_server(
        *,
        port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port.")] = 8765,
        host: Annotated[
            str, typer.Option(help="Address to bind (0.0.0.0 in a container; a dry run only).")
        ] = "127.0.0.1",
        scenario: Annotated[
            Path | None, typer.Option(help="Scenario JSON (default: synthetic markets).")
        ] = None,
        seed: Annotated[int, typer.Option(help="Seed of the synthetic markets and faults.")] = 0,
        markets: Annotated[
            int, typer.Option(min=1, max=1000, help="Synthetic markets to simulate.")
        ] = 5,
        admin: Annotated[
            bool, typer.Option(help="Serve /_sim/* (ledger, advance, faults).")
        ] = False,
        fund: Annotated[str, typer.Option(help="USDC each new wallet starts with.")] = "10000",
        faults_flags: dict[str, object],
        speed: Annotated[
            float, typer.Option(min=0.001, max=100_000.0, help="Simulated seconds per second.")
        ] = 1.0,
        page_size: Annotated[
            int, typer.Option(min=1, max=1000, help="Items per page of paged endpoints.")
        ] = 100,
        kind: Annotated[
            bool,
            typer.Option(
                "--kind",
                help="A kind venue: instant settlement, SDK wire format, no heartbeat switch, "
                "prices that ignore our orders (default: as harsh as Polymarket documents).",
            ),
        ] = False,
        rule: Annotated[
            list[str] | None,
            typer.Option(
                "--rule",
                help="Set one venue switch, NAME=VALUE (see dualmm.sim.rules), e.g. "
                "--rule failed_trade_rate=0.05 --rule status_spelling=sdk.",
            ),
        ] = None,
        state: Annotated[
            Path | None,
            typer.Option(
                "--state",
                help="Resume the venue saved in this file (if any) and save it here on stop.",
            ),
        ] = None,
        polygon_port: Annotated[
            int | None,
            typer.Option(
                min=0,
                max=65535,
                help="Also serve a simulated Polygon JSON-RPC node on this port (0: a free "
                "one) for on-chain merges with an EOA wallet: balanceOf reads this venue's "
                "wallets, a mined mergePositions burns their pairs. Off by default.",
            ),
        ] = None,
        block_time: Annotated[
            float,
            typer.Option(
                min=0.0, max=600.0, help="Seconds a transaction waits for its block (node)."
            ),
        ] = 2.0,
        access_log: Annotated[
            bool, typer.Option("--access-log", help="Log every request (one line each).")
        ] = False,
    ) -> None:
        """Run the simulated CLOB until Ctrl-C; prints its URL and a throwaway test key."""
        import logging
        import signal
        import threading
        from datetime import UTC, datetime

        from eth_account import Account

        from dualmm.logs import configure

        configure("sim")
        if access_log:
            logging.getLogger("dualmm.sim.http").setLevel(logging.DEBUG)

        from dualmm.scenario import ScenarioError, load_scenario
        from dualmm.sim.server import SimServer
        from dualmm.sim.synthetic import SYNTHETIC_HISTORY
        from dualmm.sim.venue import SimVenue, WallClock

        amount = _fund(fund)
        rules = venue_rules(kind, rule or [])
        resumed = state is not None and state.exists()
        if state is not None and resumed:
            from dualmm.sim.snapshot import load_venue

            try:
                venue = load_venue(state, speed)
            except Exception as exc:  # a foreign or damaged file: say which
                raise UsageError(f"--state {state}: cannot load: {exc}") from None
            source = f"the venue saved in {state}, at {venue.now().isoformat()}"
        elif scenario is not None:
            try:
                loaded = load_scenario(scenario)
            except ScenarioError as exc:
                raise UsageError(str(exc)) from None
            venue = SimVenue.from_scenario(
                loaded, WallClock(start=loaded.start, speed=speed), fund=amount, rules=rules
            )
            source = f"scenario {loaded.name!r} from {loaded.start.isoformat()}"
        else:
            now = datetime.now(UTC)
            clock = WallClock(now, speed=speed)
            venue = SimVenue.synthetic(
                markets, seed, clock, start=now - SYNTHETIC_HISTORY, fund=amount, rules=rules
            )
            source = f"{markets} synthetic markets, seed {seed}"
        faults = model_from_flags(Faults, {**faults_flags, "seed": seed})
        try:
            server = SimServer(
                venue,
                host=host,
                port=port,
                admin=admin,
                faults=faults,
                page_size=page_size,
                auth_secret=f"dualmm-sim:{seed}".encode(),
            )
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None

        account = Account.create()
        venue.ensure_wallet(account.address)
        if scenario is not None and not resumed:
            for market in loaded.markets:  # the test wallet starts with the scenario's positions
                if market.position is not None:
                    token_id = market.info().token_id(market.position.held)
                    venue.credit(account.address, token_id, market.position.qty)

        node = _polygon_node(venue, host, polygon_port, block_time, seed)
        server.start()
        print(f"dualmm sim-server: {server.url} ({source}, speed x{speed:g})")
        print(f"  admin paths /_sim/*: {'on' if admin else 'off'}; faults: {faults.model_dump()}")
        print(f"  venue: {'kind' if kind else 'harsh'}; rules: {rules.model_dump()}")
        print("  THROWAWAY TEST KEY, generated now for this simulator only (never fund it):")
        print(f"    address:     {account.address}")
        print(f"    private key: 0x{account.key.hex().removeprefix('0x')}")
        rpc = f" DUALMM_POLYGON_RPC_URL={node.url}" if node is not None else ""
        print(f"  export DUALMM_EXCHANGE=sim DUALMM_CLOB_URL={server.url}{rpc}")
        print("  Ctrl-C stops it.", flush=True)
        stopped = threading.Event()
        # Ctrl-C and a service stop end it alike, even when started with them ignored or
        # blocked (inherited from a parent that set them so for itself).
        stops = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
        for sig in stops:
            signal.signal(sig, lambda *_: stopped.set())
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
        finally:
            if node is not None:
                node.stop()
            server.stop()
            if state is not None:
                from dualmm.sim.snapshot import save_venue

                save_venue(venue, state)
                print(f"dualmm sim-server: venue saved in {state}", flush=True)
        print("dualmm sim-server: stopped", flush=True)
