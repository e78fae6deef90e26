"""The dedup stage's state: identity keys and the in-memory cluster index, kept in step with
the store.

The pure work (keys, fingerprints, similarity) is ``monitor.dedup``'s. This module owns the one
index per process and the locks that make "assign a cluster, store the story, index it" atomic
between the feeds polled concurrently and, on PostgreSQL, between worker processes; it catches
up with the stories other workers stored before every assignment, so a syndicated copy polled
by another worker joins the same cluster.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.dedup import ClusterIndex, Fingerprint, FingerprintError, fingerprint, identity_keys
from monitor.models import Story
from monitor.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Assignment:
    """A story's cluster (a new one when it joins none) and its fingerprint to persist."""

    cluster: str
    fingerprint: bytes
    joined: bool  # False: it starts a new cluster


class Clusterer:
    """Assigns new stories to news-event clusters; one per process, shared by its threads."""

    def __init__(self, store: Store, window: timedelta, threshold: float) -> None:
        self.store = store
        self.window = window
        self.threshold = threshold
        self._lock = threading.Lock()
        self._index: ClusterIndex | None = None
        self._last_id = 0

    @staticmethod
    def keys(story: Story) -> tuple[str, ...]:
        return identity_keys(story)

    def _catch_up(self, now: datetime) -> ClusterIndex:
        """Load (at start) or add (later) the stories stored since we last looked."""
        if self._index is None:
            self._index = ClusterIndex(self.window, self.threshold)
        for story_id, blob, published, cluster in self.store.cluster_rows(now - self.window, self._last_id):
            self._last_id = max(self._last_id, story_id)
            try:
                self._index.add(str(story_id), Fingerprint.from_bytes(blob), published, cluster)
            except FingerprintError:  # written by an older fingerprint format: skip, not fail
                log.debug("dedup: story %d has an unreadable fingerprint", story_id)
        self._index.prune(now)
        return self._index

    @contextmanager
    def assigning(self, story: Story, now: datetime) -> Iterator[tuple[Assignment, Callable[[int], None]]]:
        """Hold the lock while the caller stores ``story`` with the yielded assignment, then
        call the yielded function with the new story id (or not at all if it was not new)."""
        # The thread lock first: a thread waiting for it holds no database connection.
        with self._lock, self.store.cluster_lock():
            index = self._catch_up(now)
            fp = fingerprint(story)
            match = index.best_match(fp, story.published)
            cluster = match.cluster if match else uuid.uuid4().hex[:16]
            if match:
                log.debug("dedup: %r joins cluster %s (score %.2f)", story.title, cluster, match.score)

            def stored(story_id: int) -> None:
                # _last_id moves only in _catch_up: other workers may hold ids below ours.
                index.add(str(story_id), fp, story.published, cluster)

            yield Assignment(cluster, fp.to_bytes(), match is not None), stored
