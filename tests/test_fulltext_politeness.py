"""The per-host gate: concurrency, spacing of starts, Retry-After (monitor.fulltext.politeness)."""

from __future__ import annotations

import threading
import time

import pytest

from monitor.fulltext.politeness import _PRUNE_ABOVE, HostDeferredError, HostGate


class FakeTime:
    """A clock that only moves when told to, recording every sleep asked of it."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def test_starts_are_spaced_by_the_delay() -> None:
    """Back-to-back requests to one host are each given a start one delay after the previous."""
    fake = FakeTime()
    gate = HostGate(per_host=5, delay=1.5, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        with gate.slot("example.org"):
            pass
    assert fake.sleeps == [1.5, 3.0]


def test_delay_already_elapsed_means_no_wait() -> None:
    """A request that comes after the delay has passed starts at once."""
    fake = FakeTime()
    gate = HostGate(per_host=1, delay=1.0, clock=fake.clock, sleep=fake.sleep)
    with gate.slot("example.org"):
        pass
    fake.now += 5
    with gate.slot("example.org"):
        pass
    assert fake.sleeps == []


def test_hosts_do_not_share_a_schedule() -> None:
    """A request to a second host is not delayed by the first host's spacing."""
    fake = FakeTime()
    gate = HostGate(per_host=1, delay=10.0, clock=fake.clock, sleep=fake.sleep)
    with gate.slot("a.example"):
        pass
    with gate.slot("b.example"):
        pass
    assert fake.sleeps == []


def test_concurrency_never_exceeds_per_host() -> None:
    """Many threads hitting one host never have more than per_host inside the gate at once."""
    gate = HostGate(per_host=2, delay=0.0)
    lock = threading.Lock()
    inside = 0
    peak = 0

    def work() -> None:
        nonlocal inside, peak
        with gate.slot("example.org"):
            with lock:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.05)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 2


def test_deferred_host_is_refused_and_others_are_not() -> None:
    """After defer(), slot() refuses that host until the time is up, and other hosts go on."""
    fake = FakeTime()
    gate = HostGate(per_host=1, delay=0.0, clock=fake.clock, sleep=fake.sleep)
    gate.defer("busy.example", 120)
    with pytest.raises(HostDeferredError, match=r"busy\.example asked to wait 120 s"), \
            gate.slot("busy.example"):
        pass
    with gate.slot("calm.example"):
        pass
    fake.now += 121
    with gate.slot("busy.example"):
        pass


def test_refused_slot_is_released() -> None:
    """A refusal does not leak a slot: the host is usable again once the deferral ends."""
    fake = FakeTime()
    gate = HostGate(per_host=1, delay=0.0, clock=fake.clock, sleep=fake.sleep)
    gate.defer("busy.example", 1)
    for _ in range(3):
        with pytest.raises(HostDeferredError), gate.slot("busy.example"):
            pass
    fake.now += 2
    with gate.slot("busy.example"):
        pass


def test_idle_hosts_are_forgotten() -> None:
    """The table of hosts stays small in a daemon that meets thousands of sites."""
    gate = HostGate(per_host=1, delay=0.0)
    for n in range(2_000):
        with gate.slot(f"site{n}.example"):
            pass
    assert len(gate._hosts) <= _PRUNE_ABOVE + 1


def test_bad_settings_are_refused() -> None:
    """A gate with no slots or a negative delay is a configuration error, raised at once."""
    with pytest.raises(ValueError, match="per_host"):
        HostGate(per_host=0)
    with pytest.raises(ValueError, match="delay"):
        HostGate(delay=-1)
