"""`dualmm demo` resumes: Ctrl-C (here: --duration) stops the processes and leaves the workflows
on the dev server's SQLite history; the next run picks them up; --reset starts clean; a busy
port is named. Runs on free ports and its own directory, never on 7233/8233."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from dualmm.devserver import free_port


def _demo(var: Path, *args: str, temporal: int, ui: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dualmm", "demo", "--var", str(var), *args,
         "--temporal-port", str(temporal), "--ui-port", str(ui)],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip


def test_the_demo_resumes_its_workflows_and_reset_starts_clean(tmp_path: Path) -> None:
    var = tmp_path / "var"
    temporal, ui = free_port(), free_port()
    first = _demo(var, "--duration", "20", temporal=temporal, ui=ui)
    assert first.returncode == 0, first.stderr + first.stdout
    assert "started workflow active-market-demo (mode sim)" in first.stdout
    assert "resuming" not in first.stdout
    assert (
        f"    DUALMM_TEMPORAL_ADDRESS=127.0.0.1:{temporal} " in first.stdout
        and " status --bot-id demo\n" in first.stdout
    )
    assert "] running | active: " in first.stdout  # the status lines
    assert (var / "temporal.db").exists() and (var / "venue.pickle").exists()
    assert oct((var / "demo.key").stat().st_mode & 0o777) == "0o600"

    second = _demo(var, "--duration", "10", temporal=temporal, ui=ui)
    assert second.returncode == 0, second.stderr + second.stdout
    assert "resuming bot 'demo' (running since " in second.stdout
    assert "attached to the running workflow active-market-demo" in second.stdout
    assert "dualmm sim-server" in (var / "simulator.log").read_text()
    assert "the venue saved in" in (var / "simulator.log").read_text()

    clean = _demo(var, "--reset", "--duration", "5", temporal=temporal, ui=ui)
    assert clean.returncode == 0, clean.stderr + clean.stdout
    assert "resuming" not in clean.stdout
    assert "started workflow active-market-demo (mode sim)" in clean.stdout


def test_a_busy_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _demo(tmp_path, temporal=port, ui=free_port())
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: port {port} (Temporal) is in use")
    assert "--temporal-port" in result.stderr
