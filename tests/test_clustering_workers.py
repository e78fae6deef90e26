"""Two workers on one PostgreSQL database storing copies of one event at the same moment: the
copies must share one cluster, or the event would be alerted twice (monitor.clustering)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from monitor.clustering import Clusterer
from monitor.models import Match, Span, Story
from monitor.store import Store, TargetRoute, create_engine_for, upgrade_schema

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
TEXT = (
    "Russia's State Duma on Tuesday ratified the Reciprocal Exchange of Logistic Support agreement "
    "with India, clearing the way for warships of both navies to use each other's ports a week "
    "before President Putin's visit to New Delhi, Speaker Vyacheslav Volodin said."
)
#: How long each worker takes between assigning a cluster and storing its story: long enough
#: that, unserialised, both would assign before either stored.
SLOW_STORE = 0.3


def _copy(outlet: str, n: int) -> Story:
    return Story(feed=outlet, guid=f"{outlet}-{n}", url=f"https://{outlet}.example/relos-{n}",
                 title=f"Duma ratifies RELOS logistics pact with India ({n})", summary=TEXT,
                 published=NOW, fetched=NOW)


def test_two_workers_storing_one_event_at_once_share_one_cluster_and_one_alert(pg_url: str) -> None:
    """Each worker is its own engine, store and clusterer, as two processes would be; they start
    assigning together and store slowly. Every event ends in one cluster with one alert."""
    workers = [Store(create_engine_for(pg_url)) for _ in range(2)]
    upgrade_schema(workers[0].engine)
    feed_urls = [("wire", "https://wire.example/rss"), ("herald", "https://herald.example/rss")]
    workers[0].sync_feeds(feed_urls, NOW)
    feeds = {f.name: f.id for f in workers[0].list_feeds()}
    clusterers = [Clusterer(store, timedelta(days=3), 0.15) for store in workers]
    route = TargetRoute("email", on_cluster="suppress")
    match = Match("relos", ("RELOS",), (Span("title", 14, 19, "RELOS"),))
    errors: list[BaseException] = []

    def work(i: int, outlet: str, story: Story, start: threading.Barrier) -> None:
        try:
            start.wait()
            with clusterers[i].assigning(story, NOW) as (assignment, stored):
                time.sleep(SLOW_STORE)
                saved = workers[i].save_story(
                    feeds[outlet], story, [match], {"relos": [route]}, alert=True,
                    cluster=assignment.cluster, fingerprint=assignment.fingerprint,
                )
                assert saved is not None
                stored(saved.id)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    for n in range(3):
        start = threading.Barrier(2)
        threads = [
            threading.Thread(target=work, args=(0, "wire", _copy("wire", n), start)),
            threading.Thread(target=work, args=(1, "herald", _copy("herald", n), start)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    clusters = workers[0].list_clusters(min_size=1)
    # The three rounds are the same text, so all six copies are one event: one cluster, one alert.
    assert [len(c.stories) for c in clusters] == [6]
    assert workers[0].outbox_counts().get("pending", 0) == 1
    for store in workers:
        store.engine.dispose()
