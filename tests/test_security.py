"""Keys from the environment or a secret file (never world-readable with --live); servers on
loopback; the simulator's admin routes only with --admin. (The scan of exported histories,
captured logs and spans for the key and the API secret is part of the chaos audit:
tests/chaos/chaos.py `check_histories`.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from test_exchange_contract import contract_venue

from dualmm.errors import UsageError
from dualmm.process import check_secret_files_private, load_settings
from dualmm.sim.server import SimServer

KEY = "ab" * 32


def _secrets(tmp_path: Path, mode: int) -> Path:
    directory = tmp_path / "secrets"
    directory.mkdir()
    (directory / "private_key").write_text(f"0x{KEY}\n")
    (directory / "api_secret").write_text("c2VjcmV0\n")
    for path in directory.iterdir():
        path.chmod(mode)
    return directory


def test_secrets_come_from_files_when_the_environment_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DUALMM_PRIVATE_KEY", raising=False)
    monkeypatch.setenv("DUALMM_SECRETS_DIR", str(_secrets(tmp_path, 0o600)))
    settings = load_settings()
    assert settings.private_key is not None
    assert settings.private_key.get_secret_value() == f"0x{KEY}"
    assert settings.api_secret is not None and settings.api_secret.get_secret_value() == "c2VjcmV0"
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())
    monkeypatch.setenv("DUALMM_PRIVATE_KEY", "0x" + "cd" * 32)  # the environment wins
    assert load_settings().private_key.get_secret_value() == "0x" + "cd" * 32  # type: ignore[union-attr]


def test_live_refuses_a_world_readable_secret_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUALMM_SECRETS_DIR", str(_secrets(tmp_path, 0o644)))
    with pytest.raises(UsageError, match="readable by every user"):
        check_secret_files_private()
    for path in (tmp_path / "secrets").iterdir():
        path.chmod(0o600)
    check_secret_files_private()


def test_worker_live_with_a_world_readable_key_exits_2_without_showing_it(
    tmp_path: Path,
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DUALMM_")},
        "DUALMM_SECRETS_DIR": str(_secrets(tmp_path, 0o644)),
        "DUALMM_EXCHANGE": "polymarket",
        "DUALMM_TEMPORAL_ADDRESS": "127.0.0.1:9",
    }
    done = subprocess.run(
        [sys.executable, "-m", "dualmm", "worker", "--live", "--no-tracing"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "readable by every user" in done.stderr
    assert KEY not in done.stderr + done.stdout


def test_simulator_binds_loopback_and_hides_admin_routes_without_admin() -> None:
    with SimServer(contract_venue()) as sim:
        assert sim.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{sim.url}/_sim/ledger", timeout=5).status_code == 404
        assert httpx.post(f"{sim.url}/_sim/faults", json={}, timeout=5).status_code == 404
    with SimServer(contract_venue(), admin=True) as sim:
        assert httpx.get(f"{sim.url}/_sim/ledger", timeout=5).status_code == 200
