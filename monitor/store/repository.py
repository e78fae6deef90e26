"""All SQL, grouped by entity: feeds, stories and hits, the outbox.

Saving returns only what is new, and uniqueness is enforced by constraints (``ON CONFLICT DO
NOTHING``), so two workers or two polls can never both think a story is new.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, not_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, aliased

from monitor.errors import StoreError
from monitor.models import Match, Span, Story
from monitor.store.schema import (
    ClusterAlertRow,
    FeedRow,
    HitRow,
    LeaseRow,
    MessageRow,
    OutboxRow,
    StoryKeyRow,
    StoryRow,
)

#: How far two workers' clocks may disagree before one's lease looks stale to the other.
_LEASE_SKEW = timedelta(minutes=1)
#: Prefix of a worker's heartbeat lease.
_WORKER = "worker:"
#: How far behind another worker's clock may be before its live heartbeat looks lapsed here.
_HEARTBEAT_SKEW = timedelta(seconds=10)
#: The advisory lock key of cluster assignment (any constant other applications do not use).
_CLUSTER_LOCK_KEY = 0x6D6F6E69746F72  # "monitor"


class _Duplicate(Exception):
    """Raised inside a save to roll it back: an identity key showed the story is known."""


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
    #: Whether the story was queued as an alert to some target.
    alerted: bool = False
    #: Not alerted because its news event already was, by this story (title, URL): shown, so an
    #: event merged by mistake is not a silent loss.
    joined: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One claimed outbox row with what the message needs. Alerts carry their story; updates
    and admin notices carry a prepared ``title`` and ``body`` instead."""

    id: int
    target: str
    attempts: int
    rule: str
    story: Story | None
    terms: tuple[str, ...]
    spans: tuple[Span, ...]
    cluster: str | None
    kind: str = "alert"
    title: str | None = None
    body: str | None = None
    created_at: datetime | None = None
    token: str = ""  # our claim on the row
    #: The story's id: rows of one story (it matched several rules) go out as one message.
    story_id: int | None = None


@dataclass(frozen=True, slots=True)
class TargetRoute:
    """Where a rule's hits go: a target, whether rows wait for a digest, and what later stories
    of an alerted cluster do there."""

    target: str
    held: bool = False
    on_cluster: str = "suppress"  # suppress | update


@dataclass(frozen=True, slots=True)
class SavedStory:
    """A newly stored story: its id, the outbox rows queued, the alerts its cluster suppressed."""

    id: int
    queued: int = 0
    suppressed: int = 0
    #: The rules whose hits were written (for an edited story: only those it had not matched).
    rules: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Unseen:
    """A feed's entries sorted by ``Store.unseen``: the stories not stored yet, and the stored
    ones whose headline or summary the feed has edited since (with their ids)."""

    fresh: list[Story]
    edited: list[tuple[int, Story]]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A row of ``monitor outbox``; ``status`` is pending, held (waiting for its digest), failed
    (pending after a failed attempt, waiting for its retry), sent or dead."""

    id: int
    target: str
    kind: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    subject: str


@dataclass(frozen=True, slots=True)
class ClusterView:
    """One news event: its stories, first published first (a row of ``monitor clusters``)."""

    cluster: str
    stories: tuple[Story, ...]

    @property
    def outlets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(story.outlet for story in self.stories))


@dataclass(frozen=True, slots=True)
class HealthChange:
    """A feed whose health, as last told to the admin, changed."""

    feed: str
    state: str  # ok | failing | silent
    previous: str
    detail: str


def _shown_status(status: str, last_error: str | None, next_attempt: object) -> str:
    """A pending row as a person reads it: failed (its last attempt failed, a retry is due) or
    held (waiting for its digest)."""
    if status != "pending":
        return status
    if last_error:
        return "failed"
    return "held" if next_attempt is None else "pending"


#: A follow-up's title names outlets up to about this length; the body names them all.
_TITLE_ROOM = 120


def _more(title: str, outlet: str) -> str:
    """A follow-up's title with one more outlet, or "and more" once it is long enough."""
    if title.endswith(" and more"):
        return title
    if len(title) + len(outlet) > _TITLE_ROOM:
        return f"{title} and more"
    return f"{title}, {outlet}"


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
                    # A new URL is a new feed: fetch it in full, and treat its next poll as a
                    # first poll (its backlog older than max_age is not alerted).
                    row.url, row.etag, row.last_modified, row.next_poll_at = url, None, None, now
                    row.polls_ok = 0

    def claim_due_feeds(
        self,
        names: Collection[str],
        now: datetime,
        lease: timedelta,
        horizon: timedelta | None = None,
        *,
        worker: str | None = None,
    ) -> list[FeedState]:
        """Take the enabled feeds whose due time has come, pushing their due time ``lease``
        ahead so no other worker takes them meanwhile (rows locked with SKIP LOCKED).

        ``worker``: who claims, by the id of its heartbeat (``beat``). A feed claimed by a
        worker whose heartbeat has lapsed is due too: that worker died mid-poll (SIGKILL, a
        crash), and its feeds are not left unpolled for the rest of ``lease``. So is a feed
        ``worker`` itself still holds: it claims only between its polls, so that poll ended
        without being recorded (the database went away) and must not wait out the lease.

        ``horizon``: the furthest ahead a due time can legitimately be. One further away was
        set while the clock was wrong (a VM resumed a day ahead, then corrected): it is due
        now, or the feed would sit idle until the clock caught up."""
        if not names:
            return []
        alive = select(LeaseRow.holder).where(
            LeaseRow.name.startswith(_WORKER),
            LeaseRow.held_until > now - _HEARTBEAT_SKEW,
            LeaseRow.holder.is_not(None),
        )
        abandoned = and_(FeedRow.claimed_by.is_not(None), FeedRow.claimed_by.not_in(alive))
        due = or_(FeedRow.next_poll_at <= now, abandoned)
        if worker is not None:
            due = or_(due, FeedRow.claimed_by == worker)
        if horizon is not None:
            due = or_(due, FeedRow.next_poll_at > now + horizon)
        with self._session() as session, session.begin():
            query = (
                select(FeedRow)
                .where(due, FeedRow.name.in_(list(names)))
                .order_by(FeedRow.next_poll_at)
                .with_for_update(skip_locked=True)
            )
            rows = list(session.scalars(query))
            for row in rows:
                row.next_poll_at = now + lease
                row.claimed_by = worker
            return [_feed_state(row) for row in rows]

    def beat(self, worker: str, until: datetime, now: datetime) -> None:
        """A worker's heartbeat: its feed claims hold while this lease does (see
        ``claim_due_feeds``)."""
        self.take_lease(_WORKER + worker, worker, until, now)

    def sign_off(self, worker: str) -> None:
        """A worker stopping: its heartbeat ends now (it has finished its polls). The row goes
        too: every start and every reload is a new worker, and a daemon runs for months."""
        with self.engine.begin() as conn:
            conn.execute(delete(LeaseRow).where(LeaseRow.name == _WORKER + worker, LeaseRow.holder == worker))

    def forget_workers(self, before: datetime) -> int:
        """Delete the heartbeats that lapsed before ``before``: workers killed without signing
        off (their claims were freed long ago)."""
        with self.engine.begin() as conn:
            return conn.execute(
                delete(LeaseRow).where(LeaseRow.name.startswith(_WORKER), LeaseRow.held_until < before)
            ).rowcount

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
        new_stories: int = 0,
    ) -> None:
        """Record one poll's outcome: on success reset the error count and keep the validators;
        on failure count it and keep the message, so a failing feed is never silent."""
        values: dict[str, Any] = {
            "last_fetch_at": now,
            "next_poll_at": next_poll,
            "last_status": status,
            "claimed_by": None,
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
            if new_stories:
                values["last_new_at"] = now
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

    def unseen(
        self,
        feed_id: int,
        stories: Sequence[Story],
        keys: Mapping[str, Sequence[str]] | None = None,
    ) -> Unseen:
        """The stories not stored yet: neither this feed's GUID, nor the canonical URL, nor any
        identity key (``keys``: guid → keys) is known.

        A known story whose headline or summary the feed has edited is returned as edited, with
        its id and the body stored for it (its spans point there): it is the same article, to
        be updated by ``apply_edit`` together with what it newly matches."""
        edited: list[tuple[int, Story]] = []
        if not stories:
            return Unseen([], edited)
        keys = keys or {}
        with self._session() as session, session.begin():
            known = {
                row.guid: row
                for row in session.scalars(
                    select(StoryRow).where(
                        StoryRow.feed_id == feed_id, StoryRow.guid.in_([s.guid for s in stories])
                    )
                )
            }
            urls = set(
                session.scalars(select(StoryRow.url).where(StoryRow.url.in_([s.url for s in stories])))
            )
            wanted = [k for story in stories for k in keys.get(story.guid, ())]
            taken = set(session.scalars(select(StoryKeyRow.key).where(StoryKeyRow.key.in_(wanted))))
            for story in stories:
                row = known.get(story.guid)
                if row is not None and (row.title, row.summary) != (story.title, story.summary):
                    edited.append((row.id, replace(story, body=row.body)))
        fresh = [
            s
            for s in stories
            if s.guid not in known and s.url not in urls and not taken.intersection(keys.get(s.guid, ()))
        ]
        return Unseen(fresh, edited)

    @contextmanager
    def cluster_lock(self) -> Iterator[None]:
        """Serialise "catch up, assign a cluster, store the story" across worker processes.

        On PostgreSQL a transaction-level advisory lock, held on a connection of its own until
        the caller has stored its story: without it, two workers storing copies of one event in
        the same few milliseconds would each start a cluster, and a story id committed after a
        higher one could be missed by another worker's catch-up. Released by PostgreSQL if the
        process dies. SQLite is for a single worker (see the README): nothing to lock there."""
        if self._dialect != "postgresql":
            yield
            return
        conn = self.engine.connect()
        try:
            conn.execute(select(func.pg_advisory_xact_lock(_CLUSTER_LOCK_KEY)))
            yield
        finally:
            # Closing rolls the lock's transaction back, which ends the lock (it wrote
            # nothing). A connection dropped meanwhile took the lock with it: the caller's
            # story is stored all the same, and must not be reported as a failed poll.
            with suppress(DBAPIError):
                conn.close()

    def cluster_rows(self, since: datetime, after_id: int = 0) -> list[tuple[int, bytes, datetime, str]]:
        """(id, fingerprint, published, cluster) of stories published since ``since`` and stored
        after story ``after_id``: to build the clustering index at start and to catch up with
        what other workers stored."""
        with self._session() as session:
            rows = session.execute(
                select(StoryRow.id, StoryRow.fingerprint, StoryRow.published_at, StoryRow.cluster)
                .where(
                    StoryRow.published_at >= since,
                    StoryRow.id > after_id,
                    StoryRow.fingerprint.is_not(None),
                    StoryRow.cluster.is_not(None),
                )
                .order_by(StoryRow.id)
            )
            return [(int(i), bytes(fp or b""), published, str(cluster)) for i, fp, published, cluster in rows]

    def list_clusters(self, *, since: datetime | None = None, min_size: int = 2) -> list[ClusterView]:
        """Clusters (news events) with their stories, newest event first."""
        sizes = (
            select(StoryRow.cluster, func.count().label("n"), func.max(StoryRow.published_at).label("last"))
            .where(StoryRow.cluster.is_not(None))
            .group_by(StoryRow.cluster)
            .having(func.count() >= min_size)
        )
        if since is not None:
            sizes = sizes.where(StoryRow.published_at >= since)
        sub = sizes.subquery()
        with self._session() as session:
            rows = session.execute(
                select(StoryRow, FeedRow.name, sub.c.last)
                .join(sub, sub.c.cluster == StoryRow.cluster)
                .join(FeedRow, FeedRow.id == StoryRow.feed_id)
                .order_by(sub.c.last.desc(), StoryRow.cluster, StoryRow.published_at)
            )
            views: dict[str, list[Story]] = {}
            for row, feed, _last in rows:
                views.setdefault(str(row.cluster), []).append(_story(row, feed))
        return [ClusterView(cluster, tuple(stories)) for cluster, stories in views.items()]

    def save_story(
        self,
        feed_id: int,
        story: Story,
        matches: Sequence[Match],
        routes: Mapping[str, Sequence[TargetRoute]],
        *,
        alert: bool,
        fulltext_status: str | None = None,
        keys: Sequence[str] = (),
        cluster: str | None = None,
        fingerprint: bytes | None = None,
        update_every: timedelta = timedelta(hours=1),
    ) -> SavedStory | None:
        """Store a story with its identity keys, hits and outbox rows in ONE transaction, so a
        crash can never leave a stored story whose alert was not queued.

        Returns None when the story was already stored (same feed+GUID, canonical URL or any
        identity key): nothing is written then. In a cluster, only the first story matching a
        rule is alerted to a target (a primary key decides, also across workers); later ones
        are suppressed or, for ``update`` targets, queue a short follow-up at most once per
        ``update_every``."""
        try:
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
                        cluster=cluster,
                        fingerprint=fingerprint,
                    )
                    .on_conflict_do_nothing()
                    .returning(StoryRow.id)
                ).scalar()
                if story_id is None:
                    return None
                for key in keys:
                    claimed = conn.execute(
                        self._insert(StoryKeyRow)
                        .values(key=key, story_id=story_id)
                        .on_conflict_do_nothing()
                        .returning(StoryKeyRow.key)
                    ).scalar()
                    if claimed is None:  # the same article under another URL or feed: undo it all
                        raise _Duplicate
                return self._write_hits(
                    conn, int(story_id), story, matches, routes, alert, cluster, update_every
                )
        except _Duplicate:
            return None

    def apply_edit(
        self,
        story_id: int,
        story: Story,
        matches: Sequence[Match],
        routes: Mapping[str, Sequence[TargetRoute]],
        *,
        alert: bool,
        keys: Sequence[str] = (),
        now: datetime | None = None,
        update_every: timedelta = timedelta(hours=1),
        full_text: str | None = None,
    ) -> SavedStory:
        """Store the feed's edit of a story (``story``: its new headline and summary, with
        ``full_text``, the fetch status, when its article was fetched for the edit) and the hits
        of the rules it did not match before, with their outbox rows, in ONE transaction: an
        edit is never recorded without what it newly matches, so a failure in between leaves
        it to the next poll, and rules it matched already never alert again."""
        with self.engine.begin() as conn:
            text = {"title": story.title, "summary": story.summary, "updated_at": now or story.fetched}
            if full_text is not None:
                text.update(body=story.body, fulltext_status=full_text)
            conn.execute(update(StoryRow).where(StoryRow.id == story_id).values(**text))
            for key in keys:  # its new text key is this story too
                claim = self._insert(StoryKeyRow).values(key=key, story_id=story_id)
                conn.execute(claim.on_conflict_do_nothing())
            cluster = conn.execute(select(StoryRow.cluster).where(StoryRow.id == story_id)).scalar()
            had = set(conn.scalars(select(HitRow.rule).where(HitRow.story_id == story_id)))
            new = [m for m in matches if m.rule not in had]
            return self._write_hits(conn, story_id, story, new, routes, alert, cluster, update_every)

    def _write_hits(
        self,
        conn: Connection,
        story_id: int,
        story: Story,
        matches: Sequence[Match],
        routes: Mapping[str, Sequence[TargetRoute]],
        alert: bool,
        cluster: str | None,
        update_every: timedelta,
    ) -> SavedStory:
        """A stored story's hits and their outbox rows. In a cluster, only the first story
        matching a rule is alerted to a target; the others are suppressed or, for ``update``
        targets, queue a short follow-up."""
        queued = suppressed = 0
        written: list[str] = []
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
                .on_conflict_do_nothing()  # another worker wrote it first (an edited story)
                .returning(HitRow.id)
            ).scalar()
            if hit_id is None:
                continue
            written.append(match.rule)
            for route in routes.get(match.rule, ()) if alert else ():
                # A digest shows a cluster as one entry with its outlets, so it gets every member.
                if (
                    cluster is not None
                    and not route.held
                    and not self._first_in_cluster(
                        conn, cluster, match.rule, route.target, story_id, story.fetched
                    )
                ):
                    suppressed += 1
                    if route.on_cluster == "update":
                        self._queue_update(conn, cluster, match.rule, route, story, story_id, update_every)
                    continue
                conn.execute(
                    self._insert(OutboxRow)
                    .values(
                        hit_id=hit_id,
                        target=route.target,
                        kind="alert",
                        status="pending",
                        attempts=0,
                        created_at=story.fetched,
                        next_attempt_at=None if route.held else story.fetched,
                    )
                    .on_conflict_do_nothing()
                )
                queued += 1
        return SavedStory(story_id, queued, suppressed, tuple(written))

    def _first_in_cluster(
        self, conn: Connection, cluster: str, rule: str, target: str, story_id: int, now: datetime
    ) -> bool:
        inserted = conn.execute(
            self._insert(ClusterAlertRow)
            .values(cluster=cluster, rule=rule, target=target, story_id=story_id, created_at=now)
            .on_conflict_do_nothing()
            .returning(ClusterAlertRow.story_id)
        ).scalar()
        return inserted is not None

    def _queue_update(
        self,
        conn: Connection,
        cluster: str,
        rule: str,
        route: TargetRoute,
        story: Story,
        story_id: int,
        every: timedelta,
    ) -> None:
        """A follow-up "now also reported by …", at most one per ``every`` per cluster, rule
        and target. An outlet that joins while one waits to be sent is added to it; one that
        joins sooner than ``every`` after the last is queued for that time, not dropped. Only an
        outlet new to the event counts: a second story from one already counted is not news.
        Stories of a cluster are stored one at a time (``cluster_lock``), so this read-then-write
        sees every earlier one."""
        now = story.fetched
        outlet = func.coalesce(func.nullif(StoryRow.source, ""), FeedRow.name)
        earlier = set(
            conn.execute(
                select(outlet)
                .select_from(StoryRow)
                .join(FeedRow, FeedRow.id == StoryRow.feed_id)
                .where(StoryRow.cluster == cluster, StoryRow.id != story_id)
                .distinct()
            ).scalars()
        )
        if story.outlet in earlier:
            return
        alerted = and_(
            ClusterAlertRow.cluster == cluster,
            ClusterAlertRow.rule == rule,
            ClusterAlertRow.target == route.target,
        )
        row = conn.execute(
            select(
                ClusterAlertRow.created_at,
                ClusterAlertRow.last_update_at,
                ClusterAlertRow.update_id,
                StoryRow.title,
            )
            .join(StoryRow, StoryRow.id == ClusterAlertRow.story_id)
            .where(alerted)
        ).one_or_none()
        if row is None:
            return
        created, last, waiting, first = row
        outlets = sorted({*earlier, story.outlet})
        body = (
            f"“{first}” is now reported by {len(outlets)} outlets: {', '.join(outlets)}."
            f"\nLatest: {story.title} — {story.link or story.url}"
        )
        if waiting is not None:
            # Still waiting and not being sent (or its sender died): it names this outlet too.
            still = and_(
                OutboxRow.id == waiting,
                OutboxRow.kind == "update",
                OutboxRow.target == route.target,
                OutboxRow.status == "pending",
                or_(OutboxRow.claim_token.is_(None), OutboxRow.claimed_until <= now),
            )
            title = conn.execute(select(OutboxRow.title).where(still)).scalar_one_or_none()
            if title is not None:
                more = _more(title, story.outlet)
                conn.execute(update(OutboxRow).where(still).values(title=more, body=body))
                return
        due = max(now, (last or created) + every)
        queued = conn.execute(
            self._insert(OutboxRow)
            .values(
                hit_id=None,
                target=route.target,
                kind="update",
                status="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=due,
                title=f"[monitor] {rule}: now also reported by {story.outlet}",
                body=body,
            )
            .returning(OutboxRow.id)
        ).scalar_one()
        conn.execute(update(ClusterAlertRow).where(alerted).values(last_update_at=due, update_id=queued))

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
        eligible: dict[int, set[str]] = {}  # story → rules whose hits were to alert (not backlog)
        with self._session() as session:
            for story_row, feed, hit in session.execute(query):
                record = records.get(story_row.id)
                terms = tuple(hit.terms)
                if hit.alerted:
                    eligible.setdefault(story_row.id, set()).add(hit.rule)
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
            return self._with_alerts(session, list(records.values()), eligible)

    def _with_alerts(
        self, session: Session, records: list[HitRecord], eligible: Mapping[int, set[str]]
    ) -> list[HitRecord]:
        """``records`` with whether each story alerted, or which story alerted its event: the
        first to alert, for one of the rules this story's hits were to alert for."""
        alerted: set[int] = set()
        firsts: dict[str, list[tuple[datetime, str, int, str, str]]] = {}
        for start in range(0, len(records), 500):  # bounded IN lists
            chunk = records[start : start + 500]
            ids = [r.story_id for r in chunk]
            alerted.update(
                session.scalars(
                    select(HitRow.story_id)
                    .join(OutboxRow, OutboxRow.hit_id == HitRow.id)
                    .where(HitRow.story_id.in_(ids))
                    .distinct()
                )
            )
            clusters = {r.cluster for r in chunk if r.cluster}
            query = (
                select(
                    ClusterAlertRow.cluster,
                    ClusterAlertRow.created_at,
                    ClusterAlertRow.rule,
                    ClusterAlertRow.story_id,
                    StoryRow.title,
                    StoryRow.url,
                )
                .join(StoryRow, StoryRow.id == ClusterAlertRow.story_id)
                .where(ClusterAlertRow.cluster.in_(clusters))
            )
            for cluster, created, rule, story_id, title, url in session.execute(query):
                firsts.setdefault(cluster, []).append((created, rule, story_id, title, url))
        out: list[HitRecord] = []
        for r in records:
            joined = None
            if r.story_id not in alerted and r.cluster:
                rules = eligible.get(r.story_id, set())
                earlier = [f for f in firsts.get(r.cluster, ()) if f[1] in rules and f[2] != r.story_id]
                if earlier:
                    _, _, _, title, url = min(earlier)
                    joined = (title, url)
            out.append(replace(r, alerted=r.story_id in alerted, joined=joined))
        return out

    # ---- outbox ------------------------------------------------------------------------

    @staticmethod
    def _sendable(
        now: datetime, *, due_only: bool, exclude: Collection[str], horizon: timedelta | None = None
    ) -> Any:
        """Pending rows a delivery pass may send (due ones, or with ``due_only=False`` every
        row not held for a digest), outside the ``exclude``d targets. A retry time further
        ahead than ``horizon`` was set while the clock was wrong: such a row is due now."""
        condition = and_(OutboxRow.status == "pending", OutboxRow.next_attempt_at.is_not(None))
        if due_only:
            due = OutboxRow.next_attempt_at <= now
            if horizon is not None:
                due = or_(due, OutboxRow.next_attempt_at > now + horizon)
            condition = and_(condition, due)
        else:
            # An explicit run skips backoff, not the pace of "now also reported by" follow-ups:
            # one waiting for its hour is not a failure.
            throttled = and_(
                OutboxRow.kind == "update",
                OutboxRow.first_failed_at.is_(None),
                OutboxRow.next_attempt_at > now,
            )
            condition = and_(condition, not_(throttled))
        if exclude:
            condition = and_(condition, OutboxRow.target.not_in(list(exclude)))
        return condition

    def targets_to_send(
        self,
        now: datetime,
        *,
        due_only: bool = True,
        exclude: Collection[str] = (),
        horizon: timedelta | None = None,
    ) -> list[str]:
        """The targets that have rows to send now (claimed by another process or not)."""
        sendable = self._sendable(now, due_only=due_only, exclude=exclude, horizon=horizon)
        with self._session() as session:
            query = select(OutboxRow.target).where(sendable)
            return sorted(set(session.scalars(query.distinct())))

    def take_lease(
        self, name: str, holder: str, until: datetime, now: datetime, longest: timedelta = timedelta(0)
    ) -> bool:
        """Take (or, for its holder, extend) the lease ``name`` until ``until``: true when this
        holder has it now. Free, ran out, or already ours: a compare-and-set UPDATE, atomic on
        SQLite and PostgreSQL alike. A lease held further ahead than anyone takes it for (this
        ``until``, or ``longest`` from now where a holder may extend it that far) was taken
        while the clock was ahead: it is stale, or a clock put right would leave the target
        idle that long."""
        stale = max(until, now + longest) + _LEASE_SKEW
        with self.engine.begin() as conn:
            conn.execute(self._insert(LeaseRow).values(name=name).on_conflict_do_nothing())
            taken = conn.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.name == name,
                    or_(
                        LeaseRow.holder.is_(None),
                        LeaseRow.holder == holder,
                        LeaseRow.held_until <= now,
                        LeaseRow.held_until > stale,
                    ),
                )
                .values(holder=holder, held_until=until)
            ).rowcount
        return taken == 1

    def lease_until(self, name: str) -> datetime | None:
        """When the lease ``name`` runs out, if someone holds it."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(LeaseRow.held_until).where(LeaseRow.name == name, LeaseRow.holder.is_not(None))
            ).scalar_one_or_none()

    def drop_lease(self, name: str, holder: str) -> None:
        """Give a lease back (only if this holder still has it)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(LeaseRow)
                .where(LeaseRow.name == name, LeaseRow.holder == holder)
                .values(holder=None, held_until=None)
            )

    def claim_deliveries(
        self,
        now: datetime,
        lease: timedelta,
        limit: int = 1000,
        *,
        due_only: bool = True,
        exclude: Collection[str] = (),
        target: str | None = None,
        horizon: timedelta | None = None,
    ) -> list[Delivery]:
        """Claim pending outbox rows for ``lease``: due ones, or with ``due_only=False`` (an
        explicit run) every row not held for a digest, backoff or not. A row another process
        holds a live claim on is never taken, so nothing is sent twice at once.

        The claim is a compare-and-set UPDATE (atomic on SQLite and PostgreSQL alike); the
        token it writes must match when the outcome is recorded. ``exclude``: targets to leave
        alone now (quiet hours); ``target``: only that target's rows."""
        token = uuid.uuid4().hex
        free = or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= now)
        with self._session() as session, session.begin():
            sendable = self._sendable(now, due_only=due_only, exclude=exclude, horizon=horizon)
            query = select(OutboxRow.id).where(sendable, free)
            if target is not None:
                query = query.where(OutboxRow.target == target)
            ids = list(
                session.scalars(query.order_by(OutboxRow.id).limit(limit).with_for_update(skip_locked=True))
            )
            if not ids:
                return []
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(ids), OutboxRow.status == "pending", free)
                .values(claim_token=token, claimed_until=now + lease)
            )
        with self._session() as session:
            rows = list(
                session.scalars(
                    select(OutboxRow).where(OutboxRow.claim_token == token).order_by(OutboxRow.id)
                )
            )
            details = session.execute(
                select(HitRow, StoryRow, FeedRow.name)
                .join(StoryRow, StoryRow.id == HitRow.story_id)
                .join(FeedRow, FeedRow.id == StoryRow.feed_id)
                .where(HitRow.id.in_({row.hit_id for row in rows if row.hit_id is not None}))
            )
            by_hit = {hit.id: (hit, story, feed) for hit, story, feed in details}
        result = []
        for row in rows:
            if row.hit_id is None:
                result.append(
                    Delivery(
                        row.id,
                        row.target,
                        row.attempts,
                        "",
                        None,
                        (),
                        (),
                        None,
                        row.kind,
                        row.title,
                        row.body,
                        row.created_at,
                        token,
                    )
                )
                continue
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
                    row.kind,
                    None,
                    None,
                    row.created_at,
                    token,
                    story_row.id,
                )
            )
        return result

    def renew(self, rows: Sequence[Delivery], until: datetime) -> int:
        """Extend our claim on ``rows`` before a send, so it cannot lapse mid-send; returns how
        many we still hold (fewer: another process took some after our claim ran out)."""
        return self._settle(rows, claimed_until=until)

    def release_claims(self, rows: Sequence[Delivery]) -> None:
        """Give claimed rows back as they were, without an attempt."""
        self._settle(rows, claim_token=None, claimed_until=None)

    def _settle(self, rows: Sequence[Delivery], conn: Connection | None = None, **values: Any) -> int:
        """Update rows we still hold (their claim token is ours); returns how many."""
        if conn is None:
            with self.engine.begin() as own:
                return self._settle(rows, own, **values)
        done = 0
        for token in {row.token for row in rows}:
            ids = [row.id for row in rows if row.token == token]
            done += conn.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(ids), OutboxRow.claim_token == token, OutboxRow.status == "pending")
                .values(**values)
            ).rowcount
        return done

    def mark_sent(
        self, rows: Sequence[Delivery], now: datetime, *, kind: str = "alert", again: bool = False
    ) -> None:
        """Record, in one transaction, that the target accepted one message carrying ``rows``.
        ``again``: this mark was tried before and may have been committed with its answer lost
        to a dropped connection; if no row is still ours to mark, no second message is recorded."""
        if not rows:
            return
        with self.engine.connect() as conn, conn.begin() as transaction:
            message_id = conn.execute(
                self._insert(MessageRow)
                .values(target=rows[0].target, kind=kind, alerts=len(rows), sent_at=now)
                .returning(MessageRow.id)
            ).scalar_one()
            settled = self._settle(
                rows,
                conn,
                status="sent",
                sent_at=now,
                attempts=OutboxRow.attempts + 1,
                last_error=None,
                message_id=message_id,
                claim_token=None,
                claimed_until=None,
            )
            if again and not settled:
                transaction.rollback()

    def wake_retries(self, target: str, now: datetime) -> int:
        """When one of a target's failed rows is due for its retry, make all its failed rows
        due: a retry tests the target, not the row, and what piled up during an outage (each
        row on its own backoff) then goes out together, combined past ``batch_threshold``.
        Rows held for quiet hours or a digest have no retry time and stay; the deliverer leaves
        rate-limited targets alone, whose deferrals must hold."""
        failed = and_(
            OutboxRow.target == target,
            OutboxRow.status == "pending",
            OutboxRow.first_failed_at.is_not(None),
            OutboxRow.next_attempt_at.is_not(None),
        )
        due = aliased(OutboxRow)
        retrying = (
            select(due.id)
            .where(
                due.target == target,
                due.status == "pending",
                due.first_failed_at.is_not(None),
                due.next_attempt_at <= now,
            )
            .exists()
        )
        free = or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= now)
        with self.engine.begin() as conn:
            return conn.execute(
                update(OutboxRow)
                .where(failed, OutboxRow.next_attempt_at > now, free, retrying)
                .values(next_attempt_at=now)
            ).rowcount

    def mark_failed(
        self, rows: Sequence[Delivery], now: datetime, error: str, next_attempt: datetime
    ) -> None:
        """Count a failed attempt and schedule the next one (the first failure starts the
        ``dead_after`` clock)."""
        self._settle(
            rows,
            attempts=OutboxRow.attempts + 1,
            last_error=error[:2000],
            next_attempt_at=next_attempt,
            first_failed_at=func.coalesce(OutboxRow.first_failed_at, now),
            claim_token=None,
            claimed_until=None,
        )

    def defer(
        self,
        rows: Sequence[Delivery],
        until: datetime,
        *,
        error: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Give claimed rows back for ``until`` without an attempt: a rate limit was reached, or
        (with ``error``) their target failed earlier in this pass, which starts their
        ``dead_after`` clock too."""
        values: dict[str, Any] = {"next_attempt_at": until, "claim_token": None, "claimed_until": None}
        if error is not None:
            values |= {
                "last_error": error[:2000],
                "first_failed_at": func.coalesce(OutboxRow.first_failed_at, now),
            }
        self._settle(rows, **values)

    def count_messages(self, target: str, since: datetime, kinds: Collection[str]) -> int:
        with self._session() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(MessageRow)
                    .where(
                        MessageRow.target == target,
                        MessageRow.sent_at >= since,
                        MessageRow.kind.in_(list(kinds)),
                    )
                )
                or 0
            )

    def oldest_held(self, target: str) -> datetime | None:
        """When the oldest alert waiting for a digest target's next digest was queued."""
        with self._session() as session:
            return session.scalar(
                select(func.min(OutboxRow.created_at)).where(
                    OutboxRow.target == target,
                    OutboxRow.status == "pending",
                    OutboxRow.next_attempt_at.is_(None),
                )
            )

    def release_held(self, target: str, now: datetime) -> int:
        """Make a digest target's held rows due now (the digest's scheduled time has come).
        Returns how many stories they alert (a story matching two rules has a row per rule),
        the count the digest itself shows."""
        held = and_(
            OutboxRow.target == target,
            OutboxRow.status == "pending",
            OutboxRow.next_attempt_at.is_(None),
            OutboxRow.created_at <= now,
        )
        with self.engine.begin() as conn:
            stories = conn.execute(
                select(func.count(func.distinct(HitRow.story_id)))
                .select_from(OutboxRow)
                .join(HitRow, OutboxRow.hit_id == HitRow.id)
                .where(held)
            ).scalar_one()
            conn.execute(update(OutboxRow).where(held).values(next_attempt_at=now))
            return int(stories)

    def expire_dead(self, now: datetime, dead_after: timedelta) -> dict[str, tuple[int, str]]:
        """Rows still failing ``dead_after`` after they were queued become dead.
        Returns target → (how many, last error), for one message to the admin."""
        with self._session() as session, session.begin():
            rows = list(
                session.scalars(
                    select(OutboxRow)
                    .where(
                        OutboxRow.status == "pending",
                        OutboxRow.first_failed_at.is_not(None),
                        or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= now),
                        OutboxRow.next_attempt_at.is_not(None),
                        OutboxRow.first_failed_at <= now - dead_after,
                    )
                    .with_for_update(skip_locked=True)
                )
            )
            dead: dict[str, tuple[int, str]] = {}
            for row in rows:
                row.status = "dead"
                count, _ = dead.get(row.target, (0, ""))
                dead[row.target] = (count + 1, row.last_error or "")
            return dead

    def enqueue_notice(
        self, target: str, title: str, body: str, now: datetime, *, kind: str = "admin"
    ) -> None:
        """Queue a notice: for the admin (dead alerts, feed health), or ``kind="notice"`` for a
        target (an empty digest). Durable and retried like any alert."""
        with self.engine.begin() as conn:
            conn.execute(
                self._insert(OutboxRow).values(
                    hit_id=None,
                    target=target,
                    kind=kind,
                    title=title,
                    body=body,
                    status="pending",
                    attempts=0,
                    created_at=now,
                    next_attempt_at=now,
                )
            )

    def list_outbox(
        self, *, status: str | None = None, limit: int = 100, targets: Collection[str] | None = None
    ) -> list[OutboxEntry]:
        query = (
            select(OutboxRow, StoryRow.title)
            .outerjoin(HitRow, HitRow.id == OutboxRow.hit_id)
            .outerjoin(StoryRow, StoryRow.id == HitRow.story_id)
            .order_by(OutboxRow.id.desc())
            .limit(limit)
        )
        if status == "failed":  # pending, but its last attempt failed: waiting for a retry
            query = query.where(OutboxRow.status == "pending", OutboxRow.last_error.is_not(None))
        elif status == "held":  # waiting for its digest
            query = query.where(OutboxRow.status == "pending", OutboxRow.next_attempt_at.is_(None))
        elif status == "pending":
            query = query.where(
                OutboxRow.status == "pending",
                OutboxRow.last_error.is_(None),
                OutboxRow.next_attempt_at.is_not(None),
            )
        elif status == "due":  # pending or failed, not held for a digest
            query = query.where(OutboxRow.status == "pending", OutboxRow.next_attempt_at.is_not(None))
        elif status is not None:
            query = query.where(OutboxRow.status == status)
        if targets is not None:
            query = query.where(OutboxRow.target.in_(list(targets)))
        with self._session() as session:
            return [
                OutboxEntry(
                    row.id,
                    row.target,
                    row.kind,
                    _shown_status(row.status, row.last_error, row.next_attempt_at),
                    row.attempts,
                    row.created_at,
                    row.next_attempt_at,
                    row.sent_at,
                    row.last_error,
                    title or row.title or "",
                )
                for row, title in session.execute(query)
            ]

    def retry(self, ids: Collection[int] = (), *, all_dead: bool = False, now: datetime) -> int:
        """Requeue failed or dead rows now, as if newly queued. Sent rows are never requeued, nor
        rows being sent right now (clearing their claim would make the sender's outcome count
        for nothing, and the row would be sent again)."""
        condition = OutboxRow.status == "dead" if all_dead else OutboxRow.id.in_(list(ids))
        not_in_hand = or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= now)
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    update(OutboxRow)
                    .where(condition, OutboxRow.status.in_(("pending", "dead")), not_in_hand)
                    .values(
                        status="pending",
                        next_attempt_at=now,
                        attempts=0,
                        last_error=None,
                        first_failed_at=None,
                        claim_token=None,
                        claimed_until=None,
                    )
                ).rowcount
            )

    def prune(self, before: datetime) -> int:
        """Forget stories published and first seen before ``before``, with their hits, keys and
        outbox rows, and the messages and notices sent before it; returns how many stories.

        Kept whatever their age: a story with an alert still pending, and a story its feed gave
        no date (its publication time is when it was first seen): a feed can carry such an
        item for years, and once forgotten it would look new, and be alerted, again."""
        pending = (
            select(HitRow.story_id)
            .join(OutboxRow, OutboxRow.hit_id == HitRow.id)
            .where(OutboxRow.status == "pending")
        )
        with self.engine.begin() as conn:
            stories = conn.execute(
                delete(StoryRow).where(
                    StoryRow.published_at < before,
                    StoryRow.fetched_at < before,
                    StoryRow.published_at != StoryRow.fetched_at,  # dated by its feed
                    StoryRow.id.not_in(pending),
                )
            ).rowcount  # hits, keys, outbox rows and cluster alerts go with them (ON DELETE CASCADE)
            conn.execute(
                delete(OutboxRow).where(
                    OutboxRow.hit_id.is_(None), OutboxRow.status != "pending", OutboxRow.created_at < before
                )
            )
            conn.execute(delete(MessageRow).where(MessageRow.sent_at < before))
            conn.execute(delete(LeaseRow).where(LeaseRow.held_until < before))  # past digest periods
        return int(stories)

    def waiting_by_target(self) -> dict[str, int]:
        """Unsent rows (pending or held) per target name."""
        with self._session() as session:
            pending = select(OutboxRow.target, func.count()).where(OutboxRow.status == "pending")
            rows = session.execute(pending.group_by(OutboxRow.target))
            return {str(target): int(n) for target, n in rows}

    def outbox_summary(self) -> dict[str, int]:
        """Rows by the status ``monitor outbox`` shows: held, pending, failed, sent, dead."""
        failed = OutboxRow.last_error.is_not(None)
        held = OutboxRow.next_attempt_at.is_(None)
        with self._session() as session:
            rows = session.execute(
                select(OutboxRow.status, failed, held, func.count()).group_by(OutboxRow.status, failed, held)
            )
            counts: dict[str, int] = {}
            for status, has_error, is_held, n in rows:
                shown = _shown_status(status, "x" if has_error else None, None if is_held else True)
                counts[shown] = counts.get(shown, 0) + int(n)
            return counts

    def outbox_counts(self) -> dict[str, int]:
        with self._session() as session:
            rows = session.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status))
            return {status: int(n) for status, n in rows}

    # ---- feed health -------------------------------------------------------------------

    def health_changes(
        self, now: datetime, failing_after: timedelta, silent_after: timedelta, names: Collection[str]
    ) -> list[HealthChange]:
        """Feeds whose state (ok / failing / silent) differs from what the admin was last told;
        the new state is recorded in the same transaction, so each change is told once."""
        changes = []
        with self._session() as session, session.begin():
            rows = session.scalars(
                select(FeedRow).where(FeedRow.name.in_(list(names))).with_for_update(skip_locked=True)
            )
            for row in rows:
                since_ok = row.last_success_at or row.created_at
                if row.consecutive_errors and since_ok <= now - failing_after:
                    state = "failing"
                    since = (
                        f"since {since_ok:%Y-%m-%d %H:%M} UTC"
                        if row.last_success_at
                        else f"yet (added {since_ok:%Y-%m-%d %H:%M} UTC)"
                    )
                    detail = (
                        f"no successful poll {since} "
                        f"({row.consecutive_errors} failures in a row); last error: {row.last_error}"
                    )
                elif row.last_success_at and (row.last_new_at or row.created_at) <= now - silent_after:
                    state = "silent"
                    detail = (
                        f"polls succeed but no new story since "
                        f"{(row.last_new_at or row.created_at):%Y-%m-%d %H:%M} UTC"
                    )
                else:
                    state, detail = "ok", "polling and finding stories again"
                if state != row.health:
                    changes.append(HealthChange(row.name, state, row.health, detail))
                    row.health = state
        return changes
