"""Stored hits and configs for tests and benchmarks that start at the outbox rather than at a feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.models import Match, Span, Story
from monitor.store import Store, TargetRoute
from tests.servers import SMTPServer

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
    update_every: timedelta = timedelta(hours=1),
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
        store.save_story(feed, story, matches, rules, alert=True, cluster=cluster, update_every=update_every)


def digest_config(tmp_path: Path, database: str, smtp: SMTPServer, extra: str = "") -> Path:
    """A config with one digest target, "daily", at 08:00 (``extra``: more target keys)."""
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"""
database: {database}
feeds:
  - name: Herald
    url: https://herald.example/rss
    enabled: false
rules:
  - name: relos
    query: RELOS
notifications:
  - name: daily
    url: {smtp.url()}
    mode: digest
    schedule: "0 8 * * *"
{extra}""",
        encoding="utf-8",
    )
    return config
