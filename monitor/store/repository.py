"""All SQL, grouped by entity: feeds, stories and hits, the outbox.

Saving returns only what is new, and uniqueness is enforced by constraints (``ON CONFLICT DO
NOTHING``), so two workers or two polls can never both think a story is new.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from monitor.errors import StoreError
from monitor.models import Match, Span, Story
from monitor.store.schema import FeedRow, HitRow, OutboxRow, StoryRow


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed's fetch state as the pipeline and ``monitor feeds`` need it."""

    id: int
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    consecutive_errors: int
    polls_ok: int
    next_poll_at: datetime
    last_fetch_at: datetime | None
    last_success_at: datetime | None
    last_status: str | None
    last_error: str | None
    stories: int = 0


@dataclass(frozen=True, slots=True)
class HitRecord:
    """One stored story with every rule it matched (a row of ``monitor hits``)."""

    story_id: int
    story: Story
    rules: tuple[str, ...]
    terms: tuple[str, ...]
    cluster: str | None
    matched_at: datetime
    fulltext_status: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One claimed outbox row with what the message needs."""

    id: int
    target: str
    attempts: int
    rule: str
    story: Story
    terms: tuple[str, ...]
    spans: tuple[Span, ...]
    cluster: str | None


def _feed_state(row: FeedRow, stories: int = 0) -> FeedState:
    return FeedState(
        row.id,
        row.name,
        row.url,
        row.etag,
        row.last_modified,
        row.consecutive_errors,
        row.polls_ok,
        row.next_poll_at,
        row.last_fetch_at,
        row.last_success_at,
        row.last_status,
        row.last_error,
        stories,
    )


def _story(row: StoryRow, feed: str) -> Story:
    return Story(
        feed=feed,
        guid=row.guid,
        url=row.url,
        title=row.title,
        summary=row.summary,
        published=row.published_at,
        fetched=row.fetched_at,
        link=row.link,
        body=row.body,
        lang=row.lang,
        author=row.author,
        source=row.source,
    )


def _spans(raw: Sequence[Sequence[Any]]) -> tuple[Span, ...]:
    return tuple(Span(str(f), int(s), int(e), str(t)) for f, s, e, t in raw)


class Store:
    """The repository: every query monitor runs goes through here."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def ping(self) -> None:
        """Fail early and clearly when the database is unreachable."""
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
        except OperationalError as exc:
            raise StoreError(
                f"store: cannot connect to {self.engine.url.render_as_string()}: {exc.orig}"
            ) from exc

    # ---- feeds -------------------------------------------------------------------------

    def sync_feeds(self, feeds: Iterable[tuple[str, str]], now: datetime) -> None:
        """Make the feeds table know every configured (name, url); a changed URL resets the
        HTTP validators so the new URL is fetched in full."""
        with self._session() as session, session.begin():
            rows = {row.name: row for row in session.scalars(select(FeedRow))}
            for name, url in feeds:
                row = rows.get(name)
                if row is None:
                    session.add(
                        FeedRow(
                            name=name,
                            url=url,
                            next_poll_at=now,
                            created_at=now,
                            consecutive_errors=0,
                            polls_ok=0,
                        )
                    )
                elif row.url != url:
                    row.url, row.etag, row.last_modified, row.next_poll_at = url, None, None, now

    def claim_due_feeds(self, names: Collection[str], now: datetime, lease: timedelta) -> list[FeedState]:
        """Take the enabled feeds whose due time has come, pushing their due time ``lease``
        ahead so no other worker takes them meanwhile (rows locked with SKIP LOCKED)."""
        if not names:
            return []
        with self._session() as session, session.begin():
            query = (
                select(FeedRow)
                .where(FeedRow.next_poll_at <= now, FeedRow.name.in_(list(names)))
                .order_by(FeedRow.next_poll_at)
                .with_for_update(skip_locked=True)
            )
            rows = list(session.scalars(query))
            for row in rows:
                row.next_poll_at = now + lease
            return [_feed_state(row) for row in rows]

    def feeds_named(self, names: Collection[str]) -> list[FeedState]:
        with self._session() as session:
            rows = session.scalars(select(FeedRow).where(FeedRow.name.in_(list(names))))
            return [_feed_state(row) for row in rows]

    def record_poll(
        self,
        feed_id: int,
        *,
        now: datetime,
        next_poll: datetime,
        status: str,
        error: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> None:
        """Record one poll's outcome: on success reset the error count and keep the validators;
        on failure count it and keep the message, so a failing feed is never silent."""
        values: dict[str, Any] = {
            "last_fetch_at": now,
            "next_poll_at": next_poll,
            "last_status": status,
        }
        if error is None:
            values |= {
                "consecutive_errors": 0,
                "last_error": None,
                "last_success_at": now,
                "polls_ok": FeedRow.polls_ok + 1,
                "etag": etag,
                "last_modified": last_modified,
            }
        else:
            values |= {"consecutive_errors": FeedRow.consecutive_errors + 1, "last_error": error}
        with self.engine.begin() as conn:
            conn.execute(update(FeedRow).where(FeedRow.id == feed_id).values(**values))

    def list_feeds(self) -> list[FeedState]:
        counts = select(StoryRow.feed_id, func.count().label("n")).group_by(StoryRow.feed_id).subquery()
        with self._session() as session:
            rows = session.execute(
                select(FeedRow, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.feed_id == FeedRow.id)
                .order_by(FeedRow.name)
            )
            return [_feed_state(row, n) for row, n in rows]

    # ---- stories and hits --------------------------------------------------------------

    def unseen(self, feed_id: int, stories: Sequence[Story]) -> list[Story]:
        """The stories not stored yet (neither this feed's GUID nor the canonical URL is known)."""
        if not stories:
            return []
        with self._session() as session:
            guids = set(
                session.scalars(
                    select(StoryRow.guid).where(
                        StoryRow.feed_id == feed_id, StoryRow.guid.in_([s.guid for s in stories])
                    )
                )
            )
            urls = set(
                session.scalars(select(StoryRow.url).where(StoryRow.url.in_([s.url for s in stories])))
            )
        return [s for s in stories if s.guid not in guids and s.url not in urls]

    def save_story(
        self,
        feed_id: int,
        story: Story,
        matches: Sequence[Match],
        routes: Mapping[str, Sequence[str]],
        *,
        alert: bool,
        fulltext_status: str | None = None,
    ) -> int | None:
        """Store a story with its hits and their outbox rows in ONE transaction, so a crash
        can never leave a stored story whose alert was not queued. Returns the new story id,
        or None when the story was already stored (nothing else is written then)."""
        with self.engine.begin() as conn:
            story_id = conn.execute(
                self._insert(StoryRow)
                .values(
                    feed_id=feed_id,
                    guid=story.guid,
                    url=story.url,
                    link=story.link,
                    title=story.title,
                    summary=story.summary,
                    body=story.body,
                    lang=story.lang,
                    author=story.author,
                    source=story.source,
                    published_at=story.published,
                    fetched_at=story.fetched,
                    fulltext_status=fulltext_status,
                )
                .on_conflict_do_nothing()
                .returning(StoryRow.id)
            ).scalar()
            if story_id is None:
                return None
            for match in matches:
                hit_id = conn.execute(
                    self._insert(HitRow)
                    .values(
                        story_id=story_id,
                        rule=match.rule,
                        terms=list(match.terms),
                        spans=[[s.field, s.start, s.end, s.term] for s in match.spans],
                        alerted=alert,
                        created_at=story.fetched,
                    )
                    .returning(HitRow.id)
                ).scalar_one()
                for target in routes.get(match.rule, ()) if alert else ():
                    conn.execute(
                        self._insert(OutboxRow)
                        .values(
                            hit_id=hit_id,
                            target=target,
                            status="pending",
                            attempts=0,
                            next_attempt_at=story.fetched,
                            created_at=story.fetched,
                        )
                        .on_conflict_do_nothing()
                    )
            return int(story_id)

    def count_stories(self, *, since: datetime | None = None) -> int:
        query = select(func.count()).select_from(StoryRow)
        if since is not None:
            query = query.where(StoryRow.published_at >= since)
        with self._session() as session:
            return int(session.scalar(query) or 0)

    def iter_stories(self, *, since: datetime | None = None, batch: int = 500) -> Iterator[Story]:
        """Every stored story (newest first), read in batches so a large table never sits in memory."""
        last: tuple[datetime, int] | None = None
        while True:
            query = (
                select(StoryRow, FeedRow.name)
                .join(FeedRow, FeedRow.id == StoryRow.feed_id)
                .order_by(StoryRow.published_at.desc(), StoryRow.id.desc())
                .limit(batch)
            )
            if since is not None:
                query = query.where(StoryRow.published_at >= since)
            if last is not None:
                query = query.where(
                    (StoryRow.published_at < last[0])
                    | ((StoryRow.published_at == last[0]) & (StoryRow.id < last[1]))
                )
            with self._session() as session:
                rows = list(session.execute(query))
            if not rows:
                return
            for row, feed in rows:
                yield _story(row, feed)
            last = (rows[-1][0].published_at, rows[-1][0].id)

    def find_story(self, url: str) -> HitRecord | None:
        """A stored story by its canonical or original URL, with its hits (for ``monitor story``)."""
        with self._session() as session:
            found = session.execute(
                select(StoryRow, FeedRow.name)
                .join(FeedRow, FeedRow.id == StoryRow.feed_id)
                .where((StoryRow.url == url) | (StoryRow.link == url))
                .limit(1)
            ).first()
            if found is None:
                return None
            row, feed = found
            hits = list(session.scalars(select(HitRow).where(HitRow.story_id == row.id)))
        terms = tuple(dict.fromkeys(t for h in hits for t in h.terms))
        return HitRecord(
            row.id,
            _story(row, feed),
            tuple(h.rule for h in hits),
            terms,
            row.cluster,
            row.fetched_at,
            row.fulltext_status,
        )

    def list_hits(
        self, *, since: datetime | None = None, rule: str | None = None, limit: int | None = None
    ) -> list[HitRecord]:
        """Stored hits grouped per story, newest story first."""
        query = (
            select(StoryRow, FeedRow.name, HitRow)
            .join(HitRow, HitRow.story_id == StoryRow.id)
            .join(FeedRow, FeedRow.id == StoryRow.feed_id)
            .order_by(StoryRow.published_at.desc(), StoryRow.id.desc(), HitRow.rule)
        )
        if since is not None:
            query = query.where(StoryRow.published_at >= since)
        if rule is not None:
            query = query.where(StoryRow.id.in_(select(HitRow.story_id).where(HitRow.rule == rule)))
        records: dict[int, HitRecord] = {}
        with self._session() as session:
            for story_row, feed, hit in session.execute(query):
                record = records.get(story_row.id)
                terms = tuple(hit.terms)
                if record is None:
                    if limit is not None and len(records) >= limit:
                        break
                    records[story_row.id] = HitRecord(
                        story_row.id,
                        _story(story_row, feed),
                        (hit.rule,),
                        terms,
                        story_row.cluster,
                        hit.created_at,
                    )
                else:
                    merged = record.terms + tuple(t for t in terms if t not in record.terms)
                    records[story_row.id] = HitRecord(
                        record.story_id,
                        record.story,
                        (*record.rules, hit.rule),
                        merged,
                        record.cluster,
                        record.matched_at,
                    )
        return list(records.values())

    # ---- outbox ------------------------------------------------------------------------

    def claim_deliveries(
        self, now: datetime, lease: timedelta, limit: int = 500, *, due_only: bool = True
    ) -> list[Delivery]:
        """Claim pending outbox rows (due ones, or all with ``due_only=False`` for an explicit
        run), pushing their next attempt ``lease`` ahead so a crash mid-send retries them
        later and no other worker sends them meanwhile."""
        with self._session() as session, session.begin():
            query = select(OutboxRow).where(OutboxRow.status == "pending")
            if due_only:
                query = query.where(OutboxRow.next_attempt_at <= now)
            rows = list(
                session.scalars(query.order_by(OutboxRow.id).limit(limit).with_for_update(skip_locked=True))
            )
            for row in rows:
                row.next_attempt_at = now + lease
            if not rows:
                return []
            details = session.execute(
                select(HitRow, StoryRow, FeedRow.name)
                .join(StoryRow, StoryRow.id == HitRow.story_id)
                .join(FeedRow, FeedRow.id == StoryRow.feed_id)
                .where(HitRow.id.in_({row.hit_id for row in rows}))
            )
            by_hit = {hit.id: (hit, story, feed) for hit, story, feed in details}
            result = []
            for row in rows:
                hit, story_row, feed = by_hit[row.hit_id]
                result.append(
                    Delivery(
                        row.id,
                        row.target,
                        row.attempts,
                        hit.rule,
                        _story(story_row, feed),
                        tuple(hit.terms),
                        _spans(hit.spans),
                        story_row.cluster,
                    )
                )
            return result

    def mark_sent(self, ids: Collection[int], now: datetime) -> None:
        if ids:
            with self.engine.begin() as conn:
                conn.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_(list(ids)), OutboxRow.status == "pending")
                    .values(status="sent", sent_at=now, attempts=OutboxRow.attempts + 1, last_error=None)
                )

    def mark_failed(self, ids: Collection[int], now: datetime, error: str, next_attempt: datetime) -> None:
        if ids:
            with self.engine.begin() as conn:
                conn.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_(list(ids)), OutboxRow.status == "pending")
                    .values(
                        attempts=OutboxRow.attempts + 1,
                        last_error=error,
                        next_attempt_at=next_attempt,
                    )
                )

    def outbox_counts(self) -> dict[str, int]:
        with self._session() as session:
            rows = session.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status))
            return {status: int(n) for status, n in rows}
