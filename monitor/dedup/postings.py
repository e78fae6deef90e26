"""Term postings: which indexed stories use a term, in sorted numpy arrays. Pure, in memory.

Each (term, story) pair costs 8 bytes: a 32-bit term hash and a 32-bit slot in two parallel
arrays sorted by term, so looking up a story's terms is one vectorised binary search. New
stories wait in a dict (at most about 1/32 of all postings) and are merged into the arrays in
batches, so an insert does not copy the arrays each time. Removal is the caller's business: it
ignores slots it has dropped and calls ``remap`` when it compacts.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: Postings held in the dict before a merge into the sorted arrays: at least this many, and at
#: least 1/32 of the merged ones, so merging (a copy of the arrays) costs a constant amount per
#: story however large the index grows.
_MERGE_AT = 32_768
_MERGE_FRACTION = 32

Terms = npt.NDArray[np.uint32]
Slots = npt.NDArray[np.int64]
_Stored = npt.NDArray[np.int32]


class Postings:
    """Slots (small integers chosen by the caller) filed under the terms they contain."""

    def __init__(self) -> None:
        self._terms: Terms = np.empty(0, dtype=np.uint32)
        self._slots: _Stored = np.empty(0, dtype=np.int32)  # the caller compacts slots
        self._pending: dict[int, list[int]] = {}  # for look-ups
        self._batch: list[tuple[int, Terms]] = []  # the same, for merging
        self._batch_size = 0

    def __len__(self) -> int:
        """(term, slot) pairs held, dropped slots included until remapped."""
        return int(self._terms.size) + self._batch_size

    def add(self, slot: int, terms: Terms) -> None:
        """File ``slot`` under each of its (distinct) ``terms``."""
        pending = self._pending
        for term in terms.tolist():
            bucket = pending.get(term)
            if bucket is None:
                pending[term] = [slot]
            else:
                bucket.append(slot)
        self._batch.append((slot, terms))
        self._batch_size += terms.size
        if self._batch_size >= max(_MERGE_AT, self._terms.size // _MERGE_FRACTION):
            self._merge()

    def lookup(self, terms: Terms, limit: int) -> tuple[Slots, npt.NDArray[np.intp]]:
        """Slots filed under each of ``terms``, at most the ``limit`` latest per term, with the
        index into ``terms`` of the term each slot was found under."""
        lo = np.searchsorted(self._terms, terms, side="left")
        hi = np.searchsorted(self._terms, terms, side="right")
        lo = np.maximum(lo, hi - limit)  # within a term, later slots are later stories
        counts = hi - lo
        total = int(counts.sum())
        offsets = np.cumsum(counts) - counts
        positions = np.arange(total) - np.repeat(offsets - lo, counts)
        slots = self._slots[positions].astype(np.int64)
        which = np.repeat(np.arange(terms.size), counts)
        if self._pending:
            extra: list[int] = []
            extra_which: list[int] = []
            for n, term in enumerate(terms.tolist()):
                bucket = self._pending.get(term)
                if bucket is not None:
                    extra.extend(bucket[-limit:])
                    extra_which.extend([n] * min(len(bucket), limit))
            if extra:
                slots = np.concatenate([slots, np.array(extra, dtype=np.int64)])
                which = np.concatenate([which, np.array(extra_which, dtype=np.intp)])
        return slots, which

    def remap(self, mapping: Slots) -> None:
        """Renumber every slot ``s`` to ``mapping[s]``, dropping those mapped to -1."""
        self._merge()
        slots = mapping[self._slots]
        keep = slots >= 0
        self._terms = self._terms[keep]
        self._slots = slots[keep].astype(np.int32)

    def _merge(self) -> None:
        if not self._batch:
            return
        terms = np.concatenate([t for _, t in self._batch])
        slots = np.repeat(
            np.array([s for s, _ in self._batch], dtype=np.int32), [t.size for _, t in self._batch]
        )
        order = np.argsort(terms, kind="stable")  # stable: a term's slots stay in insert order
        terms, slots = terms[order], slots[order]
        at = np.searchsorted(self._terms, terms, side="right")
        self._terms = np.insert(self._terms, at, terms)
        self._slots = np.insert(self._slots, at, slots)
        self._pending.clear()
        self._batch.clear()
        self._batch_size = 0
