"""dualmm.devserver: a dev server of its own that answers when started and is gone when stopped,
and the worker's environment on the simulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from temporalio.client import Client

from dualmm.devserver import free_port, port_open, start_dev_server, stop_process, worker_env


async def test_a_started_dev_server_answers_and_stop_ends_it() -> None:
    with start_dev_server() as server:
        assert server.address == f"127.0.0.1:{server.port}"
        assert port_open(server.port)
        client = await Client.connect(server.address)
        assert await client.service_client.check_health()
    assert server.process.poll() is not None
    assert not port_open(server.port)


def test_free_port_is_closed() -> None:
    assert not port_open(free_port())


def test_stop_process_kills_what_ignores_sigterm() -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print(1, flush=True); time.sleep(600)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline()  # the handler is in place
    stop_process(proc, timeout=1)
    assert proc.returncode == -signal.SIGKILL


def test_worker_env_points_a_worker_at_the_simulator() -> None:
    env = worker_env("http://sim", "0xkey", "127.0.0.1:1", "q", DUALMM_USER_CHANNEL="false")
    assert {k: env[k] for k in env if k.startswith("DUALMM_")} == {
        **{k: v for k, v in os.environ.items() if k.startswith("DUALMM_")},
        "DUALMM_EXCHANGE": "sim",
        "DUALMM_CLOB_URL": "http://sim",
        "DUALMM_PRIVATE_KEY": "0xkey",
        "DUALMM_TEMPORAL_ADDRESS": "127.0.0.1:1",
        "DUALMM_TASK_QUEUE": "q",
        "DUALMM_USER_CHANNEL": "false",
    }
    assert env["PATH"] == os.environ["PATH"]
