"""Measuring clustering against labelled stories: how thresholds are chosen and guarded. Pure.

``replay`` feeds stories through identity keys and a ``ClusterIndex`` exactly as the pipeline
does, in published order; ``pairwise`` compares the resulting clusters with the labels. Used by
tests/test_dedup_cluster.py and ``bench/bench_dedup.py sweep``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from monitor.dedup.cluster import ClusterIndex
from monitor.dedup.fingerprint import fingerprint
from monitor.dedup.identity import identity_keys
from monitor.models import Story


@dataclass(frozen=True, slots=True)
class Labelled:
    """A story with its id and the event it reports (the ground truth)."""

    id: str
    label: str
    story: Story


@dataclass(frozen=True, slots=True)
class Replay:
    """What the pipeline would have made of the stories."""

    #: Story id → cluster id.
    clusters: dict[str, str]
    #: Story id → id of the earlier story it is the same article as (identity matches only).
    same_article: dict[str, str]


@dataclass(frozen=True, slots=True)
class Scores:
    """Pairwise clustering quality: of the pairs put together, how many belong together
    (precision), and of the pairs that belong together, how many were put together (recall)."""

    precision: float
    recall: float
    #: Pairs with the same label / put in the same cluster / both.
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int


def replay(items: Iterable[Labelled], index: ClusterIndex) -> Replay:
    """Run ``items`` in published order: a story sharing an identity key with an earlier one is
    that story (updated in the index, same cluster); otherwise it joins the cluster ``index``
    assigns, or starts its own, named after it."""
    story_of_key: dict[str, str] = {}
    clusters: dict[str, str] = {}
    same_article: dict[str, str] = {}
    for item in sorted(items, key=lambda i: (i.story.published, i.id)):
        story = item.story
        keys = identity_keys(story)
        earlier = next((story_of_key[k] for k in keys if k in story_of_key), None)
        fp = fingerprint(story)
        index.prune(story.published)
        if earlier is not None:
            same_article[item.id] = earlier
            cluster = clusters[earlier]
            index.add(earlier, fp, story.published, cluster)
        else:
            cluster = index.assign(fp, story.published) or item.id
            index.add(item.id, fp, story.published, cluster)
        clusters[item.id] = cluster
        for key in keys:
            story_of_key.setdefault(key, earlier or item.id)
    return Replay(clusters, same_article)


def pairwise(labels: Mapping[str, str], clusters: Mapping[str, str]) -> Scores:
    """Pairwise precision and recall of ``clusters`` against ``labels`` (both id → group)."""
    return _scores(*_counts(labels, clusters))


def pairwise_involving(
    labels: Mapping[str, str], clusters: Mapping[str, str], ids: Collection[str]
) -> Scores:
    """Pairwise scores over the pairs with at least one member in ``ids`` (e.g. a holdout)."""
    rest = {i: g for i, g in labels.items() if i not in ids}
    every = _counts(labels, clusters)
    others = _counts(rest, clusters)
    return _scores(*(a - b for a, b in zip(every, others, strict=True)))


def _counts(labels: Mapping[str, str], clusters: Mapping[str, str]) -> tuple[int, int, int]:
    true_pairs = _pairs(Counter(labels.values()))
    predicted_pairs = _pairs(Counter(clusters[i] for i in labels))
    correct_pairs = _pairs(Counter((labels[i], clusters[i]) for i in labels))
    return true_pairs, predicted_pairs, correct_pairs


def _scores(true_pairs: int, predicted_pairs: int, correct_pairs: int) -> Scores:
    return Scores(
        precision=correct_pairs / predicted_pairs if predicted_pairs else 1.0,
        recall=correct_pairs / true_pairs if true_pairs else 1.0,
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
        correct_pairs=correct_pairs,
    )


def _pairs(sizes: Counter[object]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes.values())
