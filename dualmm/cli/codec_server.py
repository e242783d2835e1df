"""`dualmm codec-server`: the command; the server is dualmm.codec_server."""

from __future__ import annotations

from typing import Annotated

import typer

from dualmm.codec_server import CodecServer, check_cors_origin, is_loopback
from dualmm.errors import UsageError


def register(app: typer.Typer) -> None:
    @app.command("codec-server")
    def codec_server(
        host: Annotated[
            str, typer.Option(help="Address to listen on (loopback unless a token is set).")
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port.")] = 8888,
        cors_origin: Annotated[
            str, typer.Option("--cors-origin", help="The Temporal UI's origin (browser calls).")
        ] = "http://localhost:8233",
    ) -> None:
        """Decrypt payloads for the Temporal UI (its Data Encoder setting) until Ctrl-C."""
        import signal
        import threading

        from dualmm.codec import codec
        from dualmm.runtime import settings

        origin = check_cors_origin(cors_origin)
        config = settings()
        encrypting = codec(config)
        if encrypting is None:
            raise UsageError("DUALMM_CODEC_KEY is not set: give the key the workers encrypt with")
        token = config.codec_token.get_secret_value() if config.codec_token else None
        if token is None and not is_loopback(host):
            raise UsageError(
                f"--host: {host} is not a loopback address; set DUALMM_CODEC_TOKEN so only "
                "holders of the token can decrypt"
            )
        try:
            server = CodecServer((host.strip("[]"), port), encrypting, origin, token)
        except (OSError, OverflowError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise UsageError(f"--host/--port: cannot listen on {host}:{port}: {reason}") from None
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        print(
            f"codec server: {server.url} (CORS origin {origin}, key id {encrypting.key_id}"
            f"{', bearer token required' if token else ''}); Ctrl-C stops it",
            flush=True,
        )
        stop.wait()
        server.shutdown()
        server.server_close()
        print("codec server: stopped", flush=True)
