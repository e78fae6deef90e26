"""The cluster index's story table: numbered slots with columns in numpy arrays. Pure.

Every story's terms live in one flat array (with a flag byte per term), and each slot records
where its terms start and how many there are. Gathering the terms of 32 candidates is then one
vectorised index operation instead of 32 Python look-ups, and a story costs a few bytes per term
instead of an object per story. Removing a story only marks its slot dead; ``compact`` renumbers
the live slots and drops the rest.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: Flag bits per term: the term is in the headline / it was counted in document frequencies.
TITLE = 1
COUNTED = 2

Terms = npt.NDArray[np.uint32]
Flags = npt.NDArray[np.uint8]
Slots = npt.NDArray[np.int64]


class Table:
    """Columns per slot (published, weekdays, alive, where the terms are) and the flat terms."""

    def __init__(self) -> None:
        self.size = 0  # slots used, live or dead
        self.published = np.zeros(1024)
        self.days = np.zeros(1024, dtype=np.uint8)
        self.alive = np.zeros(1024, dtype=np.bool_)
        self._start = np.zeros(1024, dtype=np.int64)
        self._count = np.zeros(1024, dtype=np.int64)
        self._terms: Terms = np.zeros(1 << 16, dtype=np.uint32)
        self._flags: Flags = np.zeros(1 << 16, dtype=np.uint8)
        self._used = 0  # entries of the flat arrays in use

    def append(self, terms: Terms, flags: Flags, published: float, days: int) -> int:
        """Store a story in a new slot and return the slot."""
        slot = self.size
        if slot == self.alive.size:
            self._grow_slots(slot + slot // 2)
        end = self._used + terms.size
        if end > self._terms.size:  # grow by half: less slack than doubling, still amortised
            self._terms = np.resize(self._terms, max(self._terms.size + self._terms.size // 2, end))
            self._flags = np.resize(self._flags, self._terms.size)
        self._terms[self._used : end] = terms
        self._flags[self._used : end] = flags
        self._start[slot], self._count[slot] = self._used, terms.size
        self._used = end
        self.published[slot], self.days[slot], self.alive[slot] = published, days, True
        self.size += 1
        return slot

    def terms(self, slot: int) -> tuple[Terms, Flags]:
        """The terms of ``slot`` and their flags (views, valid until the next append)."""
        start, stop = self._start[slot], self._start[slot] + self._count[slot]
        return self._terms[start:stop], self._flags[start:stop]

    def gather(self, slots: Slots) -> tuple[Terms, Flags, npt.NDArray[np.intp]]:
        """The terms of all ``slots`` concatenated, their flags, and the position in ``slots`` of
        the story each term belongs to."""
        counts = self._count[slots]
        offsets = np.cumsum(counts) - counts
        owner = np.repeat(np.arange(slots.size), counts)
        positions = np.arange(int(counts.sum())) + np.repeat(self._start[slots] - offsets, counts)
        return self._terms[positions], self._flags[positions], owner

    def compact(self) -> Slots:
        """Renumber the live slots 0…n-1, dropping dead ones; returns old slot → new slot, -1
        for the dropped."""
        live = np.flatnonzero(self.alive[: self.size])
        mapping = np.full(self.size, -1, dtype=np.int64)
        mapping[live] = np.arange(live.size)
        terms, flags, _ = self.gather(live)
        counts = self._count[live]
        capacity = max(1024, self.alive.size)
        self.published = np.resize(self.published[live], capacity)
        self.days = np.resize(self.days[live], capacity)
        self._count = np.resize(counts, capacity)
        self._start = np.resize(np.cumsum(counts) - counts, capacity)
        self.alive = np.zeros(capacity, dtype=np.bool_)
        self.alive[: live.size] = True
        self._terms = np.resize(terms, max(1 << 16, self._terms.size))
        self._flags = np.resize(flags, self._terms.size)
        self._used, self.size = terms.size, live.size
        return mapping

    def _grow_slots(self, capacity: int) -> None:
        self.published = np.resize(self.published, capacity)
        self.days = np.resize(self.days, capacity)
        self._start = np.resize(self._start, capacity)
        self._count = np.resize(self._count, capacity)
        alive = np.zeros(capacity, dtype=np.bool_)
        alive[: self.size] = self.alive[: self.size]
        self.alive = alive
