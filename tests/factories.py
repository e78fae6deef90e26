"""Stored hits for tests and benchmarks that start at the outbox rather than at a feed."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.models import Match, Span, Story
from monitor.store import Store, TargetRoute

SUMMARY = "RELOS ratified by the Duma"


def queue_hits(
    store: Store,
    count: int,
    *routes: TargetRoute,
    at: datetime | None = None,
    start: int = 0,
    cluster: str | None = None,
    outlet: str = "",
    also: str | None = None,
) -> None:
    """Store ``count`` stories of the first feed, each matching rule ``relos`` (and rule
    ``also``, when named) and queued for ``routes`` (story n is titled "RELOS story n")."""
    at = at or datetime.now(UTC)
    feed = store.list_feeds()[0].id
    for n in range(start, start + count):
        story = Story(
            feed="Herald",
            guid=f"g{n}",
            url=f"https://herald.example/{n}",
            title=f"RELOS story {n}",
            summary=SUMMARY,
            published=at,
            fetched=at,
            source=outlet,
        )
        matches = [Match("relos", ("RELOS",), (Span("summary", 0, 5, "RELOS"),))]
        if also:  # a second rule matching the same story, routed to the same targets
            matches.append(Match(also, ("Duma",), (Span("summary", 22, 26, "Duma"),)))
        rules = {m.rule: routes for m in matches}
        store.save_story(feed, story, matches, rules, alert=True, cluster=cluster)
