"""Fingerprint of a story for near-duplicate clustering: what the cluster index compares. Pure.

A fingerprint holds the story's content terms (headline and lead, see ``monitor.dedup.text``)
as sorted 32-bit hashes, the headline's terms likewise, and the weekdays the text names. It is
about 200 bytes, so the store can keep it in a column and rebuild the index from it at start.

There is no MinHash signature: the index finds candidates through postings of rare terms
instead of LSH bands (see ``monitor.dedup.cluster`` for why), and compares terms exactly.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from monitor.dedup.text import content_terms, day_mask, headline_and_lead, words
from monitor.models import Story

#: Changing how terms are made or hashed makes old fingerprints incomparable: bump this,
#: and the index refuses to load rows of another version (the store then recomputes them).
FORMAT_VERSION = 1
#: Content terms of the summary that count as the lead.
LEAD_TERMS = 40
#: Only this much of a summary is read: the lead is well inside it, and long summaries would
#: otherwise cost time for nothing.
_SUMMARY_CHARS = 1000
_HEADER = struct.Struct("<BHHB")  # version, terms, title terms, days


class FingerprintError(ValueError):
    """Bytes that are not a fingerprint of this format version."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Content terms of one story; immutable and cheap to persist."""

    #: Sorted distinct 32-bit hashes (little-endian uint32) of the title and lead terms.
    terms: bytes
    #: The same for the headline alone (a subset of ``terms``).
    title_terms: bytes
    #: Weekdays the title or lead names, Monday = 1 … Sunday = 64.
    days: int

    @property
    def empty(self) -> bool:
        """Whether the story had no usable words: such a story is never clustered."""
        return not self.terms

    def similarity(self, other: Fingerprint) -> float:
        """Plain Jaccard similarity of the two stories' terms (for diagnostics; the index
        weighs terms by rarity instead)."""
        mine = np.frombuffer(self.terms, dtype="<u4")
        theirs = np.frombuffer(other.terms, dtype="<u4")
        union = np.union1d(mine, theirs).size
        return np.intersect1d(mine, theirs, assume_unique=True).size / union if union else 0.0

    def to_bytes(self) -> bytes:
        """Serialise for a database column; ``from_bytes`` reverses it."""
        header = _HEADER.pack(
            FORMAT_VERSION, len(self.terms) // 4, len(self.title_terms) // 4, self.days
        )
        return header + self.terms + self.title_terms

    @classmethod
    def from_bytes(cls, data: bytes) -> Fingerprint:
        """Load a fingerprint written by ``to_bytes``; FingerprintError if it is of another format."""
        if len(data) < _HEADER.size:
            raise FingerprintError("dedup: fingerprint: truncated header")
        version, n_terms, n_title, days = _HEADER.unpack_from(data)
        if version != FORMAT_VERSION:
            raise FingerprintError(f"dedup: fingerprint: format {version}, expected {FORMAT_VERSION}")
        middle = _HEADER.size + 4 * n_terms
        end = middle + 4 * n_title
        if len(data) != end:
            raise FingerprintError(f"dedup: fingerprint: {len(data)} bytes, expected {end}")
        return cls(terms=data[_HEADER.size : middle], title_terms=data[middle:end], days=days)


def fingerprint(story: Story) -> Fingerprint:
    """Fingerprint ``story`` from its headline and the first ``LEAD_TERMS`` terms of its summary."""
    return fingerprint_text(story.title, story.summary, story.url or story.link)


def fingerprint_text(title: str, summary: str, url: str = "") -> Fingerprint:
    """Fingerprint from the parts of a story; ``url`` only matters for Google News entries."""
    headline, lead = headline_and_lead(title, summary, url)
    headline_words = words(headline)
    lead_words = words(lead[:_SUMMARY_CHARS])
    title_hashes = _hashes(content_terms(headline_words))
    all_hashes = title_hashes | _hashes(content_terms(lead_words)[:LEAD_TERMS])
    return Fingerprint(
        terms=np.array(sorted(all_hashes), dtype="<u4").tobytes(),
        title_terms=np.array(sorted(title_hashes), dtype="<u4").tobytes(),
        days=day_mask(headline_words) | day_mask(lead_words),
    )


def _hashes(terms: list[str]) -> set[int]:
    # crc32: stable across processes (the fingerprint is persisted) and fast; a collision between
    # two of a window's terms only blurs their weights a little.
    return {zlib.crc32(term.encode("utf-8", "surrogatepass")) for term in terms}
