"""Run many `dualmm` command lines fast: import the CLI once, fork a child per case.

Input (argv[1]): a JSON list of cases `{"args": [...], "env": {...}}`. Output (stdout): a JSON
list of `{"code": int, "signal": int | null, "stdout": str, "stderr": str}` in the same order.
Each child gets its own environment, a 30 s alarm (a command that starts something and waits
is killed and reported by its signal) and an empty stdin; each child's process group is
killed after it, so a case that started a server leaves nothing behind. Two children run at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
from typing import Any

from dualmm.cli import _register_all, main

_TIMEOUT_SECONDS = 30
_PARALLEL = 2


def _child(case: dict[str, Any], out_path: str, err_path: str) -> None:
    import signal

    os.setpgrp()  # its own group: whatever it started dies with it (see `run`)
    os.environ.clear()
    os.environ.update(case["env"])
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    for fd, path in ((1, out_path), (2, err_path)):
        target = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.dup2(target, fd)
    signal.alarm(_TIMEOUT_SECONDS)
    sys.argv = ["dualmm", *case["args"]]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    _register_all()  # the commands' modules once, in the parent
    results: list[dict[str, Any] | None] = [None] * len(cases)
    running: dict[int, tuple[int, str, str]] = {}
    pending = list(enumerate(cases))
    with tempfile.TemporaryDirectory() as tmp:
        while pending or running:
            while pending and len(running) < _PARALLEL:
                index, case = pending.pop(0)
                out_path, err_path = f"{tmp}/{index}.out", f"{tmp}/{index}.err"
                for path in (out_path, err_path):
                    open(path, "w").close()
                sys.stdout.flush()
                pid = os.fork()
                if pid == 0:
                    _child(case, out_path, err_path)
                running[pid] = (index, out_path, err_path)
            pid, status = os.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # a server a failed case may have started
            index, out_path, err_path = running.pop(pid)
            with open(out_path, errors="replace") as out, open(err_path, errors="replace") as err:
                results[index] = {
                    "code": os.waitstatus_to_exitcode(status),
                    "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                    "stdout": out.read(),
                    "stderr": err.read(),
                }
    return [r for r in results if r is not None]


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        outcome = run(json.load(handle))
    sys.stdout.write(json.dumps(outcome))
