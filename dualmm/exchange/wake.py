"""Fill notices: a wake-up, never a fill.

The venue (its user channel, or an in-process exchange's own matching) says that something
happened to our orders in a market; the market-making loop, waiting for its next poll, wakes
at once and reads its fills from the authoritative source (`Exchange.fills`) as it always does.
Nothing here carries a price or a size, so a notice can neither count a fill twice nor move
money: a lost notice costs one poll interval, a spurious one one extra read.

A notice is counted per market (`mark`); a waiter passes the mark it saw before it last read
its fills, so a notice that arrived while it was reading wakes it at once instead of being
missed. Thread-safe: notices may come from another thread (a simulator's matching).
"""

from __future__ import annotations

import asyncio
import threading


class FillWaker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all = 0  # notices for every market (a reconnect: anything may have happened)
        self._by_market: dict[str, int] = {}
        self._waiters: set[tuple[str, asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def mark(self, condition_id: str) -> int:
        with self._lock:
            return self._all + self._by_market.get(condition_id, 0)

    def notify(self, condition_id: str | None = None) -> None:
        """Something happened in `condition_id` (None: maybe in any market)."""
        with self._lock:
            if condition_id is None:
                self._all += 1
            else:
                self._by_market[condition_id] = self._by_market.get(condition_id, 0) + 1
            woken = [
                (loop, event)
                for market, loop, event in self._waiters
                if condition_id is None or market == condition_id
            ]
        for loop, event in woken:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    async def wait(self, condition_id: str, mark: int, timeout: float) -> bool:
        """Until a notice newer than `mark` for the market (True) or `timeout` seconds (False)."""
        return await self.wait_any({condition_id: mark}, timeout) is not None

    async def wait_any(self, marks: dict[str, int], timeout: float) -> str | None:
        """Until a notice newer than its mark for one of `marks`' keys (that key) or `timeout`
        seconds (None)."""
        event = asyncio.Event()
        loop = asyncio.get_running_loop()
        entries = [(key, loop, event) for key in marks]
        with self._lock:
            for key, mark in marks.items():
                if self._all + self._by_market.get(key, 0) > mark:
                    return key
            self._waiters.update(entries)
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # comes as the event fires, and a cancelled round must stop.
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return None
        finally:
            with self._lock:
                self._waiters.difference_update(entries)
        with self._lock:
            return next(
                (k for k, m in marks.items() if self._all + self._by_market.get(k, 0) > m),
                next(iter(marks)),
            )
