"""Clustering stories of one event (monitor.dedup.cluster) against the labelled set."""

from __future__ import annotations

import random
import string
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.dedup import ClusterIndex, IndexRow, fingerprint
from monitor.dedup.evaluate import Labelled, Replay, pairwise, pairwise_involving, replay
from monitor.dedup.fingerprint import fingerprint_text
from monitor.models import Story
from monitor.normalise import canonical_url

LABELLED = Path(__file__).parent / "data" / "clusters_labelled.yaml"
#: Written blind, after the settings were fixed: look-alike events and their reports.
LOOKALIKES = Path(__file__).parent / "data" / "clusters_lookalikes.yaml"
WINDOWS = [timedelta(days=3), timedelta(days=10)]


@cache
def raw_items() -> tuple[dict[str, Any], ...]:
    """The labelled items as written in the YAML file."""
    data = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))
    return tuple(data["items"])


def to_labelled(item: dict[str, Any]) -> Labelled:
    """A labelled item as the normaliser would have turned it into a Story."""
    published = datetime.fromisoformat(item["published"].replace("Z", "+00:00"))
    url = canonical_url(item["url"])
    story = Story(
        feed=item["feed"],
        guid=url,
        url=url,
        title=item["title"],
        summary=item["summary"],
        published=published,
        fetched=published,
        link=item["url"],
        lang=item.get("lang", "en"),
    )
    return Labelled(item["id"], item["cluster"], story)


def items() -> list[Labelled]:
    """Every labelled item."""
    return [to_labelled(item) for item in raw_items()]


def labels() -> dict[str, str]:
    """Item id → event label."""
    return {item["id"]: item["cluster"] for item in raw_items()}


@cache
def replayed(window: timedelta) -> Replay:
    """The labelled stream run through identity keys and a default index with ``window``."""
    return replay(items(), ClusterIndex(window))


def test_labelled_set_is_big_and_varied_enough() -> None:
    """The set has ≥ 120 items in ≥ 22 multi-outlet events, every kind of duplicate and look-alikes."""
    sizes = Counter(labels().values())
    kinds = Counter(item["kind"] for item in raw_items())
    assert len(raw_items()) >= 120
    assert len({item["id"] for item in raw_items()}) == len(raw_items())
    assert sum(1 for n in sizes.values() if n > 1) >= 22
    assert {"wire", "rewrite", "gnews", "feedcopy", "edited", "lookalike"} <= set(kinds)
    assert {item.get("lang", "en") for item in raw_items()} == {"en", "ru", "hi"}


@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: f"{w.days}d")
def test_pairwise_precision_and_recall(window: timedelta) -> None:
    """Replayed in published order, the labelled stream clusters with pairwise precision ≥ 0.95
    and recall ≥ 0.9, with the default window and with a 10-day one (time decay, not the window,
    keeps a week-later event apart)."""
    scores = pairwise(labels(), replayed(window).clusters)
    assert scores.precision >= 0.95, scores
    assert scores.recall >= 0.9, scores


def test_holdout_items_cluster_as_well() -> None:
    """Pairs involving the holdout items (written after the thresholds were fixed) meet the same bar."""
    holdout = {item["id"] for item in raw_items() if item.get("split") == "holdout"}
    scores = pairwise_involving(labels(), replayed(WINDOWS[0]).clusters, holdout)
    assert scores.true_pairs >= 15, scores
    assert scores.precision >= 0.95, scores
    assert scores.recall >= 0.9, scores


@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: f"{w.days}d")
def test_blind_lookalike_events_stay_apart_on_a_new_install(window: timedelta) -> None:
    """Different events of one kind days apart (two warships at two ports, two contracts signed
    the same day, three BrahMos firings) each alert once: their reports join, the events stay
    apart, replayed on an empty index where topic words still look rare."""
    raw = yaml.safe_load(LOOKALIKES.read_text(encoding="utf-8"))["items"]
    truth = {item["id"]: item["cluster"] for item in raw}
    scores = pairwise(truth, replay([to_labelled(item) for item in raw], ClusterIndex(window)).clusters)
    assert len(raw) >= 60 and scores.true_pairs >= 25, scores
    assert scores.precision >= 0.95, scores
    assert scores.recall >= 0.9, scores


def test_a_new_installs_first_events_of_one_topic_stay_apart() -> None:
    """On a new install, with two events indexed, "India" and "Russia" are in both and still
    weigh as rare words: the Duma's vote, which names them too, must not join those events (it
    did, at a score of 0.151, and went unalerted)."""
    t0 = datetime(2026, 12, 7, 8, tzinfo=UTC)
    texts = [
        ("India and Russia sign logistics pact",
         "The agreement lets the militaries of India and Russia use each other's bases."),
        ("S-400 deliveries: India, Russia agree timeline",
         "India and Russia agree on a timeline for the last two S-400 squadrons."),
        ("Duma ratifies RELOS with India",
         "Russia's State Duma voted to ratify the RELOS agreement with India."),
    ]
    stories = [
        Story(feed="F", guid=str(n), url=f"https://e.example/{n}", title=title, summary=summary,
              published=t0 + timedelta(hours=n), fetched=t0 + timedelta(hours=n))
        for n, (title, summary) in enumerate(texts)
    ]
    index = ClusterIndex()
    for n, story in enumerate(stories[:2]):  # as the pipeline adds them, whichever cluster
        fp = fingerprint(story)
        index.add(str(n), fp, story.published, index.assign(fp, story.published) or str(n))
    assert index.best_match(fingerprint(stories[2]), stories[2].published) is None


def test_identity_merges_exactly_the_same_articles() -> None:
    """Only the feed copy (other tracking parameters) and the edited headline are identity matches."""
    assert replayed(WINDOWS[0]).same_article == {
        "duma-ht-india": "duma-ht-world",
        "duma-pti-theprint-edited": "duma-pti-theprint",
    }


SAME_EVENT = [
    ("wire copy under another headline", "duma-pti-dh", "duma-pti-theprint"),
    ("Google News entry", "duma-hindu-gnews", "duma-hindu"),
    ("rewrite by another newsroom", "duma-wion", "duma-tass-en"),
    ("Russian rewrites", "duma-ru-interfax", "duma-ru-tass"),
    ("Hindi rewrites", "duma-hi-nbt", "duma-hi-amarujala"),
    ("different angle on the summit", "summit-et-fuel", "summit-pti-theprint"),
]
DIFFERENT_EVENTS = [
    ("Duma vote vs Federation Council a week later", "duma-pti-theprint", "fc-pti-theprint"),
    ("Duma vote vs the bill's submission", "duma-tass-en", "submit-tass-en"),
    ("Russian: Duma vs Federation Council", "duma-ru-tass", "fc-ru-tass"),
    ("visit announced vs summit outcome", "announce-pti-theprint", "summit-pti-theprint"),
    ("agenda preview vs summit outcome", "agenda-et", "summit-ndtv"),
    ("arrival vs summit next day", "arrive-ht", "summit-hindu"),
    ("army exercise vs naval exercise", "indra-army-pti-theprint", "indra-navy-pti-theprint"),
    ("exercise opens vs exercise ends", "indra-army-pib", "indra-end-pib"),
    ("rate decision preview vs decision", "rbi-preview-bs", "rbi-cut-pti"),
    ("first vs second match of a series", "odi1-pti", "odi2-pti"),
    ("cancellations vs regulator's relief", "indigo-cancel-pti", "indigo-dgca-pti"),
]


@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: f"{w.days}d")
@pytest.mark.parametrize(("case", "left", "right"), SAME_EVENT, ids=[c[0] for c in SAME_EVENT])
def test_same_event_joins(case: str, left: str, right: str, window: timedelta) -> None:
    """Syndicated copies, Google News entries and rewrites of one event share a cluster."""
    clusters = replayed(window).clusters
    assert clusters[left] == clusters[right]


@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: f"{w.days}d")
@pytest.mark.parametrize(
    ("case", "left", "right"), DIFFERENT_EVENTS, ids=[c[0] for c in DIFFERENT_EVENTS]
)
def test_lookalike_events_stay_apart(case: str, left: str, right: str, window: timedelta) -> None:
    """Different events that share the topic's words do not share a cluster."""
    clusters = replayed(window).clusters
    assert clusters[left] != clusters[right]


def test_unrelated_background_news_does_not_change_the_result() -> None:
    """Thousands of unrelated stories in the window leave precision and recall where they were
    (word weights depend on how many stories use a word, not on the size of the index)."""
    rng = random.Random(7)
    vocabulary = ["".join(rng.choices(string.ascii_lowercase, k=8)) for _ in range(20_000)]
    weights = [1 / (rank + 50) for rank in range(len(vocabulary))]
    stream = items()
    start = min(i.story.published for i in stream) - timedelta(days=3)
    span = max(i.story.published for i in stream) - start
    index = ClusterIndex(WINDOWS[0])
    for n in range(3000):
        when = start + span * rng.random()
        text = " ".join(rng.choices(vocabulary, weights, k=40))
        index.add(f"bg-{n}", fingerprint_text(text[:60], text), when, f"bg-{n}")
    scores = pairwise(labels(), replay(stream, index).clusters)
    assert scores.precision >= 0.95, scores
    assert scores.recall >= 0.9, scores


def test_big_event_stays_one_cluster() -> None:
    """Three hundred rewrites of one event within a day stay one cluster (its words do not turn
    'common' because many stories use them), and the look-alike a week later stays apart."""
    rng = random.Random(3)
    stream = items()
    duma = [i for i in stream if i.label == "duma-ratifies-relos"]
    pool = [w for i in stream for w in f"{i.story.title} {i.story.summary}".split()]

    def edit(text: str) -> str:
        # drop 15 % of the words and replace 20 % with words from anywhere in the set
        kept = [w for w in text.split() if rng.random() > 0.15]
        return " ".join(rng.choice(pool) if rng.random() < 0.2 else w for w in kept)

    extra = []
    for n in range(300):
        story = rng.choice(duma).story
        when = story.published + timedelta(minutes=rng.randint(0, 20 * 60))
        url = f"https://outlet{n}.example/world/duma-relos-{n}"
        extra.append(Labelled(f"copy-{n}", "duma-ratifies-relos", replace(
            story, feed=f"outlet{n}", guid=url, url=url, link=url, published=when, fetched=when,
            title=edit(story.title), summary=edit(story.summary),
        )))
    result = replay(stream + extra, ClusterIndex(WINDOWS[1]))
    event = {result.clusters[i.id] for i in duma + extra}
    assert len(event) == 1
    assert result.clusters["fc-pti-theprint"] not in event


def test_rebuilt_index_assigns_the_same_clusters() -> None:
    """An index rebuilt from persisted rows (key, fingerprint bytes, published, cluster) assigns
    every later story to the same cluster as the index it replaces."""
    stream = sorted(items(), key=lambda i: (i.story.published, i.id))
    cut = stream[len(stream) // 2].story.published
    before = [i for i in stream if i.story.published < cut]
    after = [i for i in stream if i.story.published >= cut]
    live = ClusterIndex(WINDOWS[0])
    first = replay(before, live)
    latest = {first.same_article.get(i.id, i.id): i for i in before}  # what the store holds
    rows = [
        IndexRow(key, fingerprint(i.story).to_bytes(), i.story.published, first.clusters[key])
        for key, i in latest.items()
    ]
    rebuilt = ClusterIndex.from_rows(rows, WINDOWS[0], now=cut)
    live.prune(cut)
    assert len(rebuilt) == len(live)
    for item in after:
        fp = fingerprint(item.story)
        expected, got = live.assign(fp, item.story.published), rebuilt.assign(fp, item.story.published)
        assert got == expected, item.id
        cluster = expected or item.id
        live.add(item.id, fp, item.story.published, cluster)
        rebuilt.add(item.id, fp, item.story.published, cluster)


def test_compacted_index_answers_like_a_fresh_one() -> None:
    """After thousands of stories expire (slots renumbered, postings merged and remapped), the
    index answers exactly as one built from the surviving stories alone."""
    rng = random.Random(11)
    vocabulary = ["".join(rng.choices(string.ascii_lowercase, k=7)) for _ in range(3000)]
    start = datetime(2025, 12, 1, tzinfo=UTC)
    stories = []
    for n in range(4000):
        words = rng.choices(vocabulary, k=30)
        stories.append((f"s{n}", " ".join(words[:8]), " ".join(words), start + timedelta(minutes=2 * n)))
    window = timedelta(days=2)
    live = ClusterIndex(window)
    for key, title, text, when in stories:
        live.prune(when)
        live.add(key, fingerprint_text(title, text), when, key)
    now = stories[-1][3]
    survivors = [
        IndexRow(key, fingerprint_text(title, text).to_bytes(), when, key)
        for key, title, text, when in stories
        if when >= now - window
    ]
    fresh = ClusterIndex.from_rows(survivors, window, now=now)
    assert len(live) == len(fresh) == len(survivors) < 4000
    found = 0
    for key, title, text, _ in stories[-1500::7]:
        query = fingerprint_text(title, " ".join(text.split()[::2]))
        match = live.best_match(query, now)
        assert match == fresh.best_match(query, now), key
        found += match is not None and match.key == key
    assert found > 150  # the expired ones (about 4 %) are rightly not found


def test_prune_drops_stories_older_than_the_window() -> None:
    """After ``prune(now)`` nothing published before now - window can be matched."""
    story = to_labelled(raw_items()[1]).story
    fp = fingerprint(story)
    index = ClusterIndex(timedelta(days=3))
    index.add("a", fp, story.published, "cluster-a")
    assert index.assign(fp, story.published) == "cluster-a"
    assert index.prune(story.published + timedelta(days=2)) == 0
    assert index.prune(story.published + timedelta(days=3, seconds=1)) == 1
    assert len(index) == 0
    assert index.assign(fp, story.published) is None


def test_stories_outside_the_window_never_match() -> None:
    """A story is only matched against stories within ``window`` of its own publication time."""
    story = to_labelled(raw_items()[1]).story
    fp = fingerprint(story)
    index = ClusterIndex(timedelta(days=3))
    index.add("a", fp, story.published, "cluster-a")
    assert index.assign(fp, story.published - timedelta(days=2)) == "cluster-a"
    assert index.assign(fp, story.published + timedelta(days=4)) is None


def test_adding_a_key_again_replaces_the_story() -> None:
    """An updated story re-added under its key replaces the old version, in place."""
    first, other = (to_labelled(raw_items()[n]).story for n in (1, 80))
    index = ClusterIndex()
    index.add("a", fingerprint(first), first.published, "c1")
    index.add("a", fingerprint(other), first.published, "c2")
    assert len(index) == 1 and "a" in index
    assert index.assign(fingerprint(other), first.published) == "c2"
    assert index.assign(fingerprint(first), first.published) is None
    assert index.remove("a") and not index.remove("a")


def test_story_without_words_is_never_clustered() -> None:
    """A story with no usable words neither joins nor attracts a cluster."""
    empty = fingerprint_text("", "")
    index = ClusterIndex()
    now = datetime(2025, 12, 2, tzinfo=UTC)
    index.add("blank", empty, now, "c1")
    assert len(index) == 0
    assert index.assign(empty, now) is None


def test_best_match_explains_the_decision() -> None:
    """``best_match`` names the matched story and shows score, similarity and time gap."""
    stream = {i.id: i.story for i in items()}
    wire, copy = stream["duma-pti-theprint"], stream["duma-pti-dh"]
    index = ClusterIndex()
    index.add("duma-pti-theprint", fingerprint(wire), wire.published, "duma")
    match = index.best_match(fingerprint(copy), copy.published)
    assert match is not None
    assert (match.key, match.cluster) == ("duma-pti-theprint", "duma")
    assert match.similarity >= match.score >= index.threshold
    assert match.gap == copy.published - wire.published


@pytest.mark.parametrize(
    ("window", "threshold"), [(timedelta(0), 0.1), (timedelta(days=1), 0.0), (timedelta(days=1), 1.5)]
)
def test_settings_are_validated(window: timedelta, threshold: float) -> None:
    """A non-positive window or a threshold outside (0, 1] is refused."""
    with pytest.raises(ValueError, match="dedup: cluster"):
        ClusterIndex(window, threshold)
