"""A per-host gate: at most N requests in flight to one host, and starts spaced by a delay.

Feed polls run in a thread pool and many stories of one tick come from the same few sites, so
without a gate a tick would hit a publisher with a burst of parallel requests. One gate is shared
by every thread; hosts are independent, so a slow site never holds up another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

#: Idle hosts are forgotten once the table grows past this, so a long-running daemon that
#: meets thousands of sites keeps a small table.
_PRUNE_ABOVE = 256


class HostDeferredError(Exception):
    """The host asked us (Retry-After, 429) to stay away for longer than we are willing to wait."""

    def __init__(self, host: str, seconds: float) -> None:
        self.host = host
        self.seconds = seconds
        super().__init__(f"{host} asked to wait {seconds:.0f} s more")


@dataclass(slots=True)
class _Host:
    active: int = 0
    waiting: int = 0  # threads blocked in slot(): the entry must outlive them
    next_start: float = 0.0
    deferred_until: float = 0.0


class HostGate:
    """Limit concurrency and request rate per host; thread-safe.

    ``slot(host)`` blocks until fewer than ``per_host`` requests to ``host`` are in flight and at
    least ``delay`` seconds have passed since the previous start there. Waiting for the delay is
    bounded by the queue of stories for that host, which politeness requires; waiting for a host
    that sent Retry-After is not, so ``slot`` refuses (``HostDeferredError``) instead of blocking.
    """

    def __init__(
        self,
        per_host: int = 2,
        delay: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_host < 1:
            raise ValueError("per_host must be at least 1")
        if delay < 0:
            raise ValueError("delay must not be negative")
        self._per_host = per_host
        self._delay = delay
        self._clock = clock
        self._sleep = sleep
        self._hosts: dict[str, _Host] = {}
        self._changed = threading.Condition()

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        """Hold one of ``host``'s request slots for the duration of the ``with`` block."""
        with self._changed:
            state = self._hosts.setdefault(host, _Host())
            state.waiting += 1
            while state.active >= self._per_host:
                self._changed.wait()
            state.waiting -= 1
            now = self._clock()
            if state.deferred_until > now:
                raise HostDeferredError(host, state.deferred_until - now)
            start = max(now, state.next_start)
            state.next_start = start + self._delay
            state.active += 1
        try:
            # Sleep outside the lock: other hosts, and this host's next reservation, go on.
            if start > now:
                self._sleep(start - now)
            yield
        finally:
            with self._changed:
                state.active -= 1
                if len(self._hosts) > _PRUNE_ABOVE:
                    self._prune()
                self._changed.notify_all()

    def defer(self, host: str, seconds: float) -> None:
        """Stay away from ``host`` for ``seconds`` (Retry-After): ``slot`` refuses until then."""
        with self._changed:
            state = self._hosts.setdefault(host, _Host())
            state.deferred_until = max(state.deferred_until, self._clock() + seconds)

    def _prune(self) -> None:
        now = self._clock()
        idle = [
            name
            for name, state in self._hosts.items()
            if state.active == 0 and state.waiting == 0 and max(state.next_start, state.deferred_until) <= now
        ]
        for name in idle:
            del self._hosts[name]
