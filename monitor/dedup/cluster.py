"""Near-duplicate clustering: which recent story, if any, a new story reports the same event as.

``ClusterIndex`` holds the fingerprints of the stories published within a time window. For a new
story it scores recent stories:

    score = 0.6 · wJ(headline + lead) + 0.4 · wJ(headline)      content similarity
            - day_penalty         if both texts name weekdays and no weekday in common
            - decay_per_day · days between the two stories beyond the first 12 hours

wJ is a weighted Jaccard similarity whose weights are log(common_df / (df + 1)), floored at
0.05, df being how many events (clusters) in the window use the term: a word that
``common_df`` or more recent events use (India, Russia, pact, said) weighs almost nothing, a
word few use (Duma, Ushakov, 5.25) weighs most. So two stories of one event, which share the
event's rare words, join; two events that share only the topic's common words do not. A story
that joins a cluster counts only the terms its cluster's latest member lacks, so an event
reported 300 times does not make its own words look common. Every union also gets a prior
weight (UNION_PRIOR, 4), so a match needs some rare-word evidence: without it, at 100,000
stories, two headlines made of common words and one shared rare word scored as near-duplicates.
While the window holds few events the prior is larger (COLD_START): the words' frequencies do
not yet tell a topic word from an event's.
The time decay keeps the Duma's vote and the Federation Council's vote a week later apart even
with a long window; the weekday check separates "arrives on Thursday" from "signs deals on
Friday". The best story's cluster is returned when its score reaches ``threshold``.

Candidates come from postings of the new story's rare terms (df below ``common_df``): a story
that shares none of them cannot reach the threshold, so nothing is lost, and the work per story
is bounded by ``common_df`` times its number of terms, whatever the index size. An upper bound
of each candidate's score drops the hopeless ones; at most 32 are scored exactly. MinHash LSH
(datasketch) was tried first and dropped: catching rewrites (term Jaccard ≈ 0.2) needs bands
of two rows, and with those about 2.6 % of all indexed stories share a band with any new one,
so its cost grows linearly with the index; its own storage also took ~9.5 KB per story.

Pure and in memory; the store persists ``IndexRow``s and rebuilds the index with ``from_rows``.
Thresholds and weights were chosen on tests/data/clusters_labelled.yaml, the prior on a
synthetic 100,000-story index (bench/bench_dedup.py); see docs/dedup.md.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from monitor.dedup.fingerprint import Fingerprint
from monitor.dedup.postings import Postings
from monitor.dedup.table import COUNTED, TITLE, Table

DEFAULT_WINDOW = timedelta(days=3)
DEFAULT_THRESHOLD = 0.15
DEFAULT_DECAY_PER_DAY = 0.1
DEFAULT_DAY_PENALTY = 0.2
DEFAULT_COMMON_DF = 100
#: Share of the content similarity given to headline + lead; the rest goes to the headline.
TEXT_WEIGHT = 0.6
#: Stories this close in time are not penalised for the gap at all.
GRACE = timedelta(hours=12)
#: Candidates scored exactly, the best by shared rare-term weight.
_TOP_CANDIDATES = 32
#: The smallest weight of a term, so that common words still count a little.
_MIN_WEIGHT = 0.05
#: Weight added to every union: a similarity needs some rare-word evidence, not only a high
#: ratio between two texts made mostly of common words.
UNION_PRIOR = 4.0
#: On a new install the window holds few events, and a topic word in two of them (India,
#: Russia) still weighs as a rare one: two events of one topic merged, and the second went
#: unalerted. So the prior grows as (common_df / events) ** COLD_START while events are fewer
#: than common_df: 3.2x with one event, 1.2x with 50 (common_df 100). 0.25 is the largest that keeps every
#: labelled replay (each starts on an empty index) and the same-event pairs joining; 0.5
#: split look-alike reports and a big event's rewrites.
COLD_START = 0.25
#: Document frequencies, and the weights derived from them, live in fixed tables indexed by
#: the term hash's low bits (4 MiB each); a collision between two terms of a window only blurs
#: their weights a little.
_DF_BITS = 20
_DF_MASK = (1 << _DF_BITS) - 1

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class IndexRow:
    """One story as the store persists it, enough to rebuild the index at start."""

    key: str
    fingerprint: bytes
    published: datetime
    cluster: str


@dataclass(frozen=True, slots=True)
class ClusterMatch:
    """The best match for a story: the indexed story, its cluster and why it matched."""

    key: str
    cluster: str
    score: float
    #: Content similarity before the weekday and time penalties, in [0, 1].
    similarity: float
    #: Signed time from the indexed story to the new one.
    gap: timedelta


class ClusterIndex:
    """Recent stories' fingerprints, to assign a new story to an existing cluster or to none.

    Not thread-safe: one index per worker (see docs/dedup.md for several workers).
    """

    def __init__(
        self,
        window: timedelta = DEFAULT_WINDOW,
        threshold: float = DEFAULT_THRESHOLD,
        *,
        decay_per_day: float = DEFAULT_DECAY_PER_DAY,
        day_penalty: float = DEFAULT_DAY_PENALTY,
        common_df: int = DEFAULT_COMMON_DF,
    ) -> None:
        if window <= timedelta(0):
            raise ValueError("dedup: cluster window must be positive")
        if not 0.0 < threshold <= 1.0:
            raise ValueError("dedup: cluster threshold must be in (0, 1]")
        if common_df < 2:
            raise ValueError("dedup: cluster common_df must be at least 2")
        self.window = window
        self.threshold = threshold
        self.decay_per_day = decay_per_day
        self.day_penalty = day_penalty
        self.common_df = common_df
        self._log_common = math.log(common_df)
        self._table = Table()
        self._keys: list[str | None] = []  # per slot
        self._clusters: list[str] = []  # per slot
        self._slot_of: dict[str, int] = {}
        self._latest: dict[str, int] = {}  # cluster → slot of its latest member
        self._expiry: list[tuple[float, int]] = []
        self._postings = Postings()
        self._df = np.zeros(1 << _DF_BITS, dtype=np.int32)
        self._weight = np.full(1 << _DF_BITS, self._log_common, dtype=np.float32)
        self._marks = np.zeros(1 << _DF_BITS, dtype=np.uint8)  # scratch, zero between calls

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[IndexRow],
        window: timedelta = DEFAULT_WINDOW,
        threshold: float = DEFAULT_THRESHOLD,
        *,
        now: datetime | None = None,
        decay_per_day: float = DEFAULT_DECAY_PER_DAY,
        day_penalty: float = DEFAULT_DAY_PENALTY,
        common_df: int = DEFAULT_COMMON_DF,
    ) -> ClusterIndex:
        """An index holding ``rows`` (e.g. the store's stories of the last window), added in
        published order and pruned to ``now`` if given. FingerprintError for rows of another
        fingerprint format."""
        index = cls(
            window, threshold, decay_per_day=decay_per_day, day_penalty=day_penalty,
            common_df=common_df,
        )
        for row in sorted(rows, key=lambda r: r.published):
            index.add(row.key, Fingerprint.from_bytes(row.fingerprint), row.published, row.cluster)
        if now is not None:
            index.prune(now)
        return index

    def __len__(self) -> int:
        """Number of stories in the index."""
        return len(self._slot_of)

    def __contains__(self, key: object) -> bool:
        """Whether a story with this key is in the index."""
        return key in self._slot_of

    def add(self, key: str, fp: Fingerprint, published: datetime, cluster: str) -> None:
        """Index story ``key`` as a member of ``cluster``; a story already indexed under ``key``
        is replaced (an edited story keeps its key). Stories with no words are not indexed."""
        self.remove(key)
        if fp.empty:
            return
        terms = np.frombuffer(fp.terms, dtype="<u4").astype(np.uint32)
        flags = _members(terms, np.frombuffer(fp.title_terms, dtype="<u4")).astype(np.uint8)
        # Count in the document frequencies only the terms the cluster's latest member lacks,
        # so df says how many events use a term rather than how many stories: a big event does
        # not make its own words look common.
        latest = self._latest.get(cluster)
        if latest is None:
            flags |= COUNTED
        else:
            known, _ = self._table.terms(latest)
            flags[~_members(terms, known)] |= COUNTED
        stamp = _timestamp(published)
        slot = self._table.append(terms, flags, stamp, fp.days)
        self._keys.append(key)
        self._clusters.append(cluster)
        self._slot_of[key] = slot
        self._latest[cluster] = slot
        heapq.heappush(self._expiry, (stamp, slot))
        self._postings.add(slot, terms)
        self._count(terms[(flags & COUNTED) != 0], 1)

    def remove(self, key: str) -> bool:
        """Drop story ``key`` from the index; False if it was not there."""
        slot = self._slot_of.pop(key, None)
        if slot is None:
            return False
        terms, flags = self._table.terms(slot)
        self._count(terms[(flags & COUNTED) != 0], -1)
        cluster = self._clusters[slot]
        if self._latest.get(cluster) == slot:
            del self._latest[cluster]
        self._table.alive[slot] = False
        self._keys[slot] = None
        if self._table.size - len(self._slot_of) > max(1024, len(self._slot_of)):
            self._compact()
        return True

    def prune(self, now: datetime) -> int:
        """Drop the stories published more than ``window`` before ``now``; returns how many."""
        limit = _timestamp(now) - self.window.total_seconds()
        removed = 0
        while self._expiry and self._expiry[0][0] < limit:
            _, slot = heapq.heappop(self._expiry)
            key = self._keys[slot]
            if key is not None and self.remove(key):
                removed += 1
        return removed

    def assign(self, fp: Fingerprint, published: datetime) -> str | None:
        """The cluster of the best-matching story within the window, or None: then the caller
        starts a new cluster (e.g. named after the story)."""
        match = self.best_match(fp, published)
        return match.cluster if match is not None else None

    def best_match(self, fp: Fingerprint, published: datetime) -> ClusterMatch | None:
        """The best-scoring indexed story for ``fp`` if its score reaches the threshold."""
        if fp.empty or not self._slot_of:
            return None
        stamp = _timestamp(published)
        slots = self._candidates(fp, stamp)
        if slots.size == 0:
            return None
        similarity = self._similarities(fp, slots)
        gaps = stamp - self._table.published[slots]
        late = np.maximum(np.abs(gaps) - GRACE.total_seconds(), 0.0) / 86400.0
        days = self._table.days[slots]
        clash = (days != 0) & (fp.days != 0) & ((days & fp.days) == 0)
        scores = similarity - self.decay_per_day * late - self.day_penalty * clash
        best = int(np.argmax(scores))
        if scores[best] < self.threshold:
            return None
        slot = int(slots[best])
        key = self._keys[slot]
        assert key is not None  # candidates are alive
        return ClusterMatch(
            key=key,
            cluster=self._clusters[slot],
            score=float(scores[best]),
            similarity=float(similarity[best]),
            gap=timedelta(seconds=float(gaps[best])),
        )

    def _count(self, terms: npt.NDArray[np.uint32], step: int) -> None:
        """Add ``step`` to the document frequency of ``terms`` and refresh their weights,
        log(common_df / (df + 1)) but at least _MIN_WEIGHT."""
        cells = terms & _DF_MASK
        np.add.at(self._df, cells, step)
        weights = self._log_common - np.log1p(self._df[cells])
        self._weight[cells] = np.maximum(weights, _MIN_WEIGHT)

    def _prior(self) -> float:
        """UNION_PRIOR, raised while the window holds fewer than ``common_df`` events (see
        COLD_START)."""
        events = max(len(self._latest), 1)
        return UNION_PRIOR * max(1.0, math.pow(self.common_df / events, COLD_START))

    def _candidates(self, fp: Fingerprint, stamp: float) -> npt.NDArray[np.int64]:
        """Live slots within the window that share a rare term with ``fp`` and could reach the
        threshold: the best ``_TOP_CANDIDATES`` by the summed weight of the rare terms shared."""
        query = np.frombuffer(fp.terms, dtype="<u4")
        cells = query & _DF_MASK
        rare = self._df[cells] < self.common_df  # df 0 included: its stories may still be here
        slots, which = self._postings.lookup(query[rare], self.common_df)
        keep = self._table.alive[slots]
        keep &= np.abs(self._table.published[slots] - stamp) <= self.window.total_seconds()
        slots, which = slots[keep], which[keep]
        if slots.size == 0:
            return slots
        unique, inverse = np.unique(slots, return_inverse=True)
        weights = self._weight[cells]
        in_title = _members(query, np.frombuffer(fp.title_terms, dtype="<u4"))
        found = weights[rare][which]
        shared = np.bincount(inverse, weights=found)
        shared_title = np.bincount(inverse, weights=found * in_title[rare][which])
        # An upper bound of each score: at most the shared rare weight plus the floor weight of
        # every common query term can be shared, and a union weighs at least the query's terms
        # (likewise for the headline). Candidates that cannot reach the threshold, often all of
        # them, are not scored.
        common = ~rare
        prior = self._prior()
        text_bound = (shared + _MIN_WEIGHT * np.count_nonzero(common)) / (float(weights.sum()) + prior)
        bound = TEXT_WEIGHT * np.minimum(text_bound, 1.0)
        title_weight = float(weights[in_title].sum())
        if title_weight > 0:
            most = shared_title + _MIN_WEIGHT * np.count_nonzero(common & in_title)
            bound += (1.0 - TEXT_WEIGHT) * np.minimum(most / (title_weight + prior), 1.0)
        late = np.abs(self._table.published[unique] - stamp) - GRACE.total_seconds()
        bound -= self.decay_per_day * np.maximum(late, 0.0) / 86400.0
        hopeful = bound >= self.threshold
        unique, shared = unique[hopeful], shared[hopeful]
        if unique.size > _TOP_CANDIDATES:
            unique = unique[np.argpartition(-shared, _TOP_CANDIDATES)[:_TOP_CANDIDATES]]
        return unique

    def _similarities(self, fp: Fingerprint, slots: npt.NDArray[np.int64]) -> Floats:
        """TEXT_WEIGHT · wJ(terms) + (1 - TEXT_WEIGHT) · wJ(headline terms) for each slot,
        for all slots at once over their gathered terms."""
        k = slots.size
        terms, flags, owner = self._table.gather(slots)
        cells = terms & _DF_MASK
        weights = self._weight[cells]
        query = np.frombuffer(fp.terms, dtype="<u4")
        query_title = np.frombuffer(fp.title_terms, dtype="<u4")
        # Which candidate terms the query has: mark the query's cells in a scratch table, read
        # the marks at the candidates' cells (one gather), confirm the few hits exactly.
        self._marks[query & _DF_MASK] = 1
        self._marks[query_title & _DF_MASK] |= 2
        marks = self._marks[cells]
        self._marks[query & _DF_MASK] = 0
        hits = np.flatnonzero(marks)
        shared = np.zeros(terms.size, dtype=np.bool_)
        shared[hits] = _members(terms[hits], query)
        shared_title = shared & ((marks & 2) != 0) & ((flags & TITLE) != 0)
        text = _jaccard(
            _sums(owner, weights, k),
            _sums(owner, weights * shared, k),
            float(self._weight[query & _DF_MASK].sum(dtype=np.float64)),
            self._prior(),
        )
        title = _jaccard(
            _sums(owner, weights * ((flags & TITLE) != 0), k),
            _sums(owner, weights * shared_title, k),
            float(self._weight[query_title & _DF_MASK].sum(dtype=np.float64)),
            self._prior(),
        )
        result: Floats = TEXT_WEIGHT * text + (1.0 - TEXT_WEIGHT) * title
        return result

    def _compact(self) -> None:
        """Renumber the live slots and drop everything kept for removed ones."""
        mapping = self._table.compact()
        self._postings.remap(mapping)
        live = np.flatnonzero(mapping >= 0).tolist()
        self._keys = [self._keys[s] for s in live]
        self._clusters = [self._clusters[s] for s in live]
        self._slot_of = {key: n for n, key in enumerate(self._keys) if key is not None}
        self._latest = {c: int(mapping[s]) for c, s in self._latest.items()}
        self._expiry = [(float(self._table.published[n]), n) for n in range(len(live))]
        heapq.heapify(self._expiry)


def _members(terms: npt.NDArray[np.uint32], sorted_set: npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]:
    """Which ``terms`` are in ``sorted_set`` (fingerprints keep terms sorted): binary search."""
    if sorted_set.size == 0:
        return np.zeros(terms.size, dtype=np.bool_)
    at = np.minimum(np.searchsorted(sorted_set, terms), sorted_set.size - 1)
    found: npt.NDArray[np.bool_] = sorted_set[at] == terms
    return found


def _sums(owner: npt.NDArray[np.intp], weights: npt.NDArray[np.floating[Any]], k: int) -> Floats:
    """Sum of ``weights`` per owner 0…k-1."""
    return np.asarray(np.bincount(owner, weights=weights, minlength=k), dtype=np.float64)


def _jaccard(total: Floats, inter: Floats, query_total: float, prior: float) -> Floats:
    """Weighted Jaccard from each candidate's total weight, the shared weight and the query's,
    with ``prior`` added to every union."""
    union = total + query_total - inter + prior
    out: Floats = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return out


def _timestamp(moment: datetime) -> float:
    """POSIX seconds; a naive datetime is taken as UTC, as the normaliser does."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
