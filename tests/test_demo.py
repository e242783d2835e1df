"""`dualmm demo` resumes: Ctrl-C (here: --duration) stops the processes and leaves the workflows
on the dev server's SQLite history; the next run picks them up; --reset starts clean; a busy
port is named; however it is stopped (Ctrl-C, a closed terminal, SIGTERM to `make`, a closed
output pipe, even SIGKILL) no process it started is left running. Runs on free ports and its
own directory, never on 7233/8233."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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


# -- the demo never leaks a process ---------------------------------------------------------------
# Each test starts a demo, reads the pids it prints, stops it as an operator's machine would,
# and checks that every process it started is gone and its ports are free.

_STARTED = "\nOpen http://localhost:"
_REPO = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (its new parent may not reap it at once)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class _Running:
    """A demo started in a session of its own (as a terminal's job), its output piped here."""

    def __init__(self, var: Path, argv: list[str] | None = None, **env: str) -> None:
        self.temporal, self.ui = free_port(), free_port()
        args = ["--var", str(var), "--temporal-port", str(self.temporal), "--ui-port", str(self.ui)]
        self.proc = subprocess.Popen(
            argv or [sys.executable, "-m", "dualmm", "demo", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=_REPO,
            env={**os.environ, "DEMO_ARGS": " ".join(args), **env},
        )
        self.output = ""
        self.pids: dict[str, int] = {}

    def read_until(self, marker: str | None, seconds: float = 240) -> None:
        """Read the demo's output until `marker` appears (None: until it ends)."""
        import re
        import selectors
        import time

        assert self.proc.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + seconds
        while marker is None or marker not in self.output:
            assert time.monotonic() < deadline, f"no {marker!r} in:\n{self.output}"
            if selector.select(timeout=1):
                chunk = os.read(self.proc.stdout.fileno(), 65536).decode()
                if not chunk and marker is None:
                    break
                assert chunk, f"the demo ended before {marker!r}:\n{self.output}"
                self.output += chunk
        for name, pid in re.findall(r"^  (\w+) +pid (\d+),", self.output, re.MULTILINE):
            self.pids[name] = int(pid)

    def close_output(self) -> None:
        """What `| head -1` does once it has its line, or `| tee` when Ctrl-C kills it."""
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def assert_all_stopped(self, seconds: float = 120) -> None:
        import time

        assert self.proc.stdout is not None
        if not self.proc.stdout.closed:
            self.read_until(None, seconds)
        self.proc.wait(timeout=seconds)
        deadline = time.monotonic() + seconds
        while any(_alive(pid) for pid in self.pids.values()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert {name for name, pid in self.pids.items() if _alive(pid)} == set(), self.output
        from dualmm.devserver import port_open

        assert not port_open(self.temporal) and not port_open(self.ui)

    def kill_leftovers(self) -> None:
        for pid in [self.proc.pid, *self.pids.values()]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def demos() -> Iterator[list[_Running]]:
    started: list[_Running] = []
    yield started
    for demo in started:  # a failed test must not leave its processes either
        demo.kill_leftovers()


def test_closing_the_terminal_stops_every_process_and_the_next_demo_resumes(
    tmp_path: Path, demos: list[_Running]
) -> None:
    demo = _Running(tmp_path / "var")
    demos.append(demo)
    demo.read_until(_STARTED)
    assert set(demo.pids) == {"temporal", "simulator", "worker"}
    demo.close_output()  # the terminal is gone: writes fail (EIO; here EPIPE) ...
    os.kill(demo.proc.pid, signal.SIGHUP)  # ... and the shell hangs up its jobs
    demo.assert_all_stopped()

    again = _demo(tmp_path / "var", "--duration", "5", temporal=demo.temporal, ui=demo.ui)
    assert again.returncode == 0, again.stderr + again.stdout
    assert "resuming bot 'demo' (running since " in again.stdout


def test_sigterm_to_make_while_the_demo_starts_stops_every_process(
    tmp_path: Path, demos: list[_Running]
) -> None:
    venv_bin = Path(sys.executable).parent
    demo = _Running(
        tmp_path / "var",
        # -o: the venv is there already (this test's interpreter's); make must not rebuild it.
        ["make", "--no-print-directory", f"VENV={venv_bin.parent}", "-o", f"{venv_bin}/dualmm",
         "demo"],
    )  # fmt: skip
    demos.append(demo)
    demo.read_until("  simulator pid ")  # still starting: the worker and the bot come next
    os.kill(demo.proc.pid, signal.SIGTERM)  # `make`'s pid, not the demo's
    demo.assert_all_stopped()
    assert "dualmm demo: stopping" in demo.output


@pytest.mark.parametrize("ctrl_c", [False, True], ids=["head", "tee-then-ctrl-c"])
def test_a_closed_output_pipe_stops_every_process(
    tmp_path: Path, demos: list[_Running], ctrl_c: bool
) -> None:
    demo = _Running(tmp_path / "var")
    demos.append(demo)
    demo.read_until(_STARTED)
    demo.close_output()
    if ctrl_c:  # the terminal's Ctrl-C reaches the whole job: tee (gone already) and the demo
        os.killpg(demo.proc.pid, signal.SIGINT)
    demo.assert_all_stopped()


def test_ctrl_c_stops_every_process(tmp_path: Path, demos: list[_Running]) -> None:
    demo = _Running(tmp_path / "var")
    demos.append(demo)
    demo.read_until(_STARTED)
    os.killpg(demo.proc.pid, signal.SIGINT)
    demo.assert_all_stopped()
    assert "dualmm demo: stopping" in demo.output and "  stopped temporal" in demo.output
    assert demo.proc.returncode == 0


def test_a_killed_demo_takes_its_processes_with_it(tmp_path: Path, demos: list[_Running]) -> None:
    demo = _Running(tmp_path / "var")
    demos.append(demo)
    demo.read_until(_STARTED)
    os.kill(demo.proc.pid, signal.SIGKILL)  # no handler runs: the children's own lifeline
    demo.assert_all_stopped()
