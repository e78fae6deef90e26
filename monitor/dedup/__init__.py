"""Deduplication: identity (the same article) and clustering (the same event). Pure.

* ``identity_keys(story)``: stories sharing any key are one article; the store keeps the keys
  in a unique index and treats a match as an update, never as a new story.
* ``fingerprint(story)`` and ``ClusterIndex``: stories of one event from different outlets
  join one cluster within a time window. See docs/dedup.md.
* ``boilerplate(stories)``: what a feed repeats under every headline, left out of clustering.
"""

from __future__ import annotations

from monitor.dedup.boilerplate import boilerplate, without_boilerplate
from monitor.dedup.cluster import ClusterIndex, ClusterMatch, IndexRow
from monitor.dedup.fingerprint import Fingerprint, FingerprintError, fingerprint
from monitor.dedup.identity import article_url, identity_keys

__all__ = [
    "ClusterIndex",
    "ClusterMatch",
    "Fingerprint",
    "FingerprintError",
    "IndexRow",
    "article_url",
    "boilerplate",
    "fingerprint",
    "identity_keys",
    "without_boilerplate",
]
