"""Tables (SQLAlchemy 2 typed models). Alembic migrations are the only source of schema;
these models must stay in step with them (a test compares the two)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone: we store UTC, read back UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = metadata


class FeedRow(Base):
    """A feed and its fetch state. ``next_poll_at`` is the due time workers claim by."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True, default=utcnow)
    last_fetch_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[str | None] = mapped_column(String(40))
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    polls_ok: Mapped[int] = mapped_column(Integer, default=0)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_new_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last poll that found a new story
    health: Mapped[str] = mapped_column(String(16), default="ok")  # ok | failing | silent (as told to admin)
    #: The worker polling it now (its ``worker:<id>`` lease is its heartbeat): a claim whose
    #: worker died is free again when the heartbeat lapses, not when ``next_poll_at`` comes.
    claimed_by: Mapped[str | None] = mapped_column(String(36))


class StoryRow(Base):
    """A stored story; unique per feed+guid and per canonical URL."""

    __tablename__ = "stories"
    __table_args__ = (UniqueConstraint("feed_id", "guid"), UniqueConstraint("url"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), index=True)
    guid: Mapped[str] = mapped_column(String(512))
    url: Mapped[str] = mapped_column(String(2048))
    link: Mapped[str] = mapped_column(Text, default="")
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str | None] = mapped_column(Text)
    lang: Mapped[str | None] = mapped_column(String(20))
    author: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(300), default="")
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cluster: Mapped[str | None] = mapped_column(String(64), index=True)
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary)
    fulltext_status: Mapped[str | None] = mapped_column(String(80))


class HitRow(Base):
    """A story matched a rule; ``terms``/``spans`` say why. ``alerted`` is false for stories
    held back from alerting (first poll of a new feed, older than max_age)."""

    __tablename__ = "hits"
    __table_args__ = (UniqueConstraint("story_id", "rule"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(200), index=True)
    terms: Mapped[list[str]] = mapped_column(JSON)
    spans: Mapped[list[list[Any]]] = mapped_column(JSON)
    alerted: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True, default=utcnow)


class MessageRow(Base):
    """One message a target accepted (a single alert, a summary, a digest, …): the record that
    rate limits count and that outbox rows point at once sent."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # alert | summary | digest | release | admin | update
    alerts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True, default=utcnow)


class OutboxRow(Base):
    """One thing to tell one target: an alert (written with its hit), a cluster update or an admin
    notice. ``next_attempt_at`` NULL means held (waiting for a digest); ``status`` is pending,
    sent or dead."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("hit_id", "target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hit_id: Mapped[int | None] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="alert")  # alert | update | admin | notice
    title: Mapped[str | None] = mapped_column(Text)  # update/admin: the prepared text
    body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    #: The claim: who is sending this row and until when (separate from the retry time, so an
    #: explicit `run --once` may skip backoff but never takes a row another process is sending).
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When delivery first failed: `dead_after` counts from here, not from when the row was
    #: queued (a digest row may wait days before its first attempt).
    first_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StoryKeyRow(Base):
    """Identity keys of stored stories (URL variants, content hash): a story sharing any key
    with a stored one is the same article, enforced by the unique key."""

    __tablename__ = "story_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)


class ClusterAlertRow(Base):
    """That a cluster has been alerted for a rule to a target: the primary key makes exactly one
    story per (cluster, rule, target) the alerted one, even with several workers."""

    __tablename__ = "cluster_alerts"

    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule: Mapped[str] = mapped_column(String(200), primary_key=True)
    target: Mapped[str] = mapped_column(String(200), primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the latest "now also reported by …" was (or is) due to go: the next one is due a
    #: ``dedup.update_every`` later.
    last_update_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The outbox row of that follow-up while it waits to be sent: outlets joining meanwhile are
    #: added to it rather than dropped. Not a foreign key: a row gone or sent is simply not used.
    update_id: Mapped[int | None] = mapped_column(Integer)


class LeaseRow(Base):
    """A named lease: held by one process (``holder``) until ``held_until``. ``deliver:<target>``
    makes one process at a time send to a target, so rate limits and pacing hold across workers;
    ``digest:<target>`` makes one worker fire each digest; ``worker:<id>`` is a daemon's
    heartbeat, which its feed claims last as long as. A crashed holder's lease runs out."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(220), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(36))
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
