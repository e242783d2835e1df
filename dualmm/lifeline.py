"""Processes that die with their parent (Linux's parent-death signal, prctl PR_SET_PDEATHSIG).

A supervisor's signal handlers cover the stops it is told about; this covers the rest (the
supervisor killed, or its own parent gone): the kernel signals the child when the parent dies.
Elsewhere than Linux both calls do nothing.
"""

from __future__ import annotations

import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals, parent: int | None = None) -> bool:
    """Have the kernel send `sig` to this process when its parent ends; True when armed.
    `parent`: the pid the parent had; if it is gone already, `sig` comes at once."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if parent is not None and os.getppid() != parent:  # it died before the call above
        os.kill(os.getpid(), sig)
    return True


def tied_to_this_process(argv: list[str], sig: signal.Signals = signal.SIGTERM) -> list[str]:
    """`argv` run so that it gets `sig` when this process ends, however it ends: a small
    launcher arms the signal, then execs `argv` (it survives exec; a preexec_fn would not be
    safe in a process with threads, as any with a Temporal client is)."""
    if not sys.platform.startswith("linux"):
        return argv
    launcher = (
        "import os, signal, sys; from dualmm.lifeline import die_with_parent; "
        "die_with_parent(signal.Signals(int(sys.argv[1])), int(sys.argv[2])); "
        "os.execvp(sys.argv[3], sys.argv[3:])"
    )
    return [sys.executable, "-c", launcher, str(int(sig)), str(os.getpid()), *argv]
