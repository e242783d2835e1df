"""Save and load a simulated venue (ledger, books, clock), so a demo stopped with Ctrl-C
resumes on the same venue: the workflows' orders, fills and positions are still there.

The file is a pickle written by this process for itself (mode 0600): load only your own.
Simulated time stands still while the simulator is down and goes on from where it stopped.
"""

from __future__ import annotations

import os
import pickle
import threading
from pathlib import Path

from dualmm.sim.clock import WallClock
from dualmm.sim.venue import SimVenue

_VERSION = 1


def save_venue(venue: SimVenue, path: Path) -> None:
    """Write the venue atomically (a crash mid-write leaves the previous file)."""
    with venue._lock:
        # Listeners are the running server's (its user channel), not the venue's state;
        # the indexes are derived from the state.
        skip = ("_lock", "_clock", "_listeners", *SimVenue.INDEXES)
        state = {k: v for k, v in vars(venue).items() if k not in skip}
        blob = pickle.dumps((_VERSION, venue.now(), state))
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(blob)
    os.replace(tmp, path)


def load_venue(path: Path, speed: float) -> SimVenue:
    """The saved venue, its clock going on from the saved time at `speed`."""
    with path.open("rb") as handle:
        version, now, state = pickle.load(handle)  # our own file, see the module docstring
    if version != _VERSION:
        raise ValueError(f"{path}: snapshot version {version}, expected {_VERSION}")
    venue = SimVenue.__new__(SimVenue)
    venue.__dict__.update(state)
    venue._lock = threading.RLock()
    venue._clock = WallClock(now, speed=speed)
    venue._listeners = []
    venue.index()
    return venue
