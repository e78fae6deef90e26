"""The one place that knows the order: fetch → parse → normalise → dedup → match → store → notify.

``poll_feed`` is the whole pipeline for one feed and is also that feed's error boundary: a
failure is logged, recorded on the feed with a backoff, and never reaches the other feeds. The
daemon's tick and ``run --once`` both call ``poll_feeds``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx
from sqlalchemy.exc import DBAPIError

from monitor.clustering import Clusterer
from monitor.dedup import boilerplate, without_boilerplate
from monitor.errors import FetchError, HTTPStatusError, MonitorError
from monitor.fetch import FetchLimits, backoff_delay, fetch
from monitor.models import Match, Story
from monitor.normalise import normalise
from monitor.parse import parse_feed
from monitor.store import FeedState, SavedStory, Store, TargetRoute, database_away, database_words

log = logging.getLogger(__name__)


class Matcher(Protocol):
    """What the pipeline needs of the compiled rules (monitor.match.RuleSet)."""

    def match(self, story: Story) -> list[Match]: ...


@dataclass(frozen=True, slots=True)
class FeedPlan:
    """Per-feed settings the pipeline needs, resolved from the config."""

    interval: timedelta
    max_age: timedelta
    #: The configured language of the feed's stories, over what the feed declares.
    language: str | None = None


@dataclass(frozen=True)
class PollContext:
    """Everything a poll needs, wired once by the CLI."""

    store: Store
    client: httpx.Client
    limits: FetchLimits
    matcher: Matcher
    routes: Mapping[str, Sequence[TargetRoute]]  # rule name → where its hits go
    plans: Mapping[str, FeedPlan]  # feed name → settings
    max_backoff: timedelta
    #: Optional stage between dedup and match (full-text enrichment): new story → (story, status).
    enrich: Callable[[str, Story], tuple[Story, str | None]] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: The dedup stage's clustering (None: identity by GUID and URL only, no clusters).
    clusterer: Clusterer | None = None
    #: At most one "now also reported by" follow-up per cluster per this period.
    update_every: timedelta = timedelta(hours=1)
    #: Stories older than this have been forgotten (``retention``): one published before it
    #: that a feed still carries may be one we alerted long ago, so it is stored without alert.
    retention: timedelta | None = None


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one feed's poll did."""

    feed: str
    ok: bool
    new_stories: int = 0
    #: New stories that matched a rule, and their hits (a story can match several rules).
    matching: int = 0
    hits: int = 0
    error: str | None = None


def poll_feed(feed: FeedState, ctx: PollContext) -> PollResult:
    """Poll one feed end to end; never raises (this is the feed's error boundary)."""
    now = ctx.clock()
    plan = ctx.plans[feed.name]
    try:
        fetched = fetch(ctx.client, feed.url, ctx.limits, etag=feed.etag, last_modified=feed.last_modified)
        if fetched.not_modified:
            ctx.store.record_poll(
                feed.id,
                now=now,
                status="304",
                next_poll=now + backoff_delay(0, plan.interval, ctx.max_backoff, fetched.retry_after),
                etag=fetched.etag,
                last_modified=fetched.last_modified,
            )
            return PollResult(feed.name, ok=True)
        entries = parse_feed(fetched.body, feed=feed.name, headers=fetched.headers)
        stories = [normalise(entry, feed=feed.name, fetched=now, language=plan.language) for entry in entries]
        keys = {story.guid: ctx.clusterer.keys(story) for story in stories} if ctx.clusterer else {}
        repeated = boilerplate(stories)  # what the feed writes under every headline
        seen = ctx.store.unseen(feed.id, stories, keys)  # dedup: the same article is not new
        new_stories = matching = hits = 0
        cutoff = now - plan.max_age if feed.polls_ok == 0 else None
        forgotten = now - ctx.retention if ctx.retention is not None else None
        for candidate in seen.fresh:
            held_back = _held_back(candidate, cutoff, forgotten)
            alert = held_back is None
            # Stories held back on a first poll are not worth an article request each.
            story, status = ctx.enrich(feed.name, candidate) if ctx.enrich and alert else (candidate, None)
            matches = ctx.matcher.match(story)
            story_keys = keys.get(story.guid, ())
            saved = _save(ctx, feed.id, story, matches, story_keys, alert, status, now, repeated)
            if saved is None:
                continue  # another worker or feed stored it first
            new_stories += 1
            matching += bool(matches)
            hits += len(matches)
            _log_matches(feed.name, story, matches, saved, held_back)
        # A developing story ("Breaking: Duma votes on defence agreement") may match a rule only
        # once the feed rewrites it: it alerts then, for the rules it newly matches. Its stored
        # article text stays (the earlier hits point into it); one is fetched only if it has none.
        for story_id, candidate in seen.edited:
            held_back = _held_back(candidate, now - plan.max_age, forgotten, edited=True)
            alert = held_back is None
            wanted = alert and candidate.body is None
            story, status = ctx.enrich(feed.name, candidate) if ctx.enrich and wanted else (candidate, None)
            matches = ctx.matcher.match(story)
            saved = ctx.store.apply_edit(
                story_id,
                story,
                matches,
                ctx.routes,
                alert=alert,
                keys=keys.get(story.guid, ()),
                now=now,
                update_every=ctx.update_every,
                full_text=status if story.body is not None and story is not candidate else None,
            )
            new = [m for m in matches if m.rule in saved.rules]
            matching += bool(new)
            hits += len(new)
            _log_matches(feed.name, story, new, saved, held_back, edited=True)
        ctx.store.record_poll(
            feed.id,
            now=now,
            status=str(fetched.status),
            next_poll=now + backoff_delay(0, plan.interval, ctx.max_backoff, fetched.retry_after),
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            new_stories=new_stories,
        )
        return PollResult(feed.name, ok=True, new_stories=new_stories, matching=matching, hits=hits)
    except MonitorError as exc:
        return _failed(feed, ctx, now, plan, exc, str(exc))
    except DBAPIError as exc:
        message = f"store: database: {database_words(exc)}"
        if database_away(exc):
            # Not the feed's failure: no backoff, and nothing to record it in. The feed is still
            # claimed by this worker, which makes it due at the worker's next tick.
            log.warning("%s: %s (polled again at the next tick)", feed.name, message)
            return PollResult(feed.name, ok=False, error=message)
        return _failed(feed, ctx, now, plan, exc, message)
    except Exception as exc:  # the boundary: a bug in one feed's data must not stop the others
        log.exception("%s: internal error while polling", feed.name)
        return _failed(feed, ctx, now, plan, exc, f"internal error: {type(exc).__name__}: {exc}")


def _save(
    ctx: PollContext,
    feed_id: int,
    story: Story,
    matches: list[Match],
    keys: Sequence[str],
    alert: bool,
    status: str | None,
    now: datetime,
    repeated: frozenset[str] = frozenset(),
) -> SavedStory | None:
    """Store a new story (dedup: in its news-event cluster, judged without the feed's
    boilerplate ``repeated``) with its hits and outbox rows."""
    if ctx.clusterer is None:
        return ctx.store.save_story(
            feed_id, story, matches, ctx.routes, alert=alert, fulltext_status=status, keys=keys
        )
    with ctx.clusterer.assigning(without_boilerplate(story, repeated), now) as (assignment, stored):
        saved = ctx.store.save_story(
            feed_id,
            story,
            matches,
            ctx.routes,
            alert=alert,
            fulltext_status=status,
            keys=keys,
            cluster=assignment.cluster,
            fingerprint=assignment.fingerprint,
            update_every=ctx.update_every,
        )
        if saved is not None:
            stored(saved.id)
        return saved


def _log_matches(
    feed: str,
    story: Story,
    matches: Sequence[Match],
    saved: SavedStory,
    held_back: str | None,
    edited: bool = False,
) -> None:
    for match in matches:
        log.info(
            "%s: rule %s matched %r <%s>%s (terms: %s)%s",
            feed,
            match.rule,
            story.title,
            story.url,
            " after the feed edited it" if edited else "",
            ", ".join(match.terms),
            "" if held_back is None else f" [not alerted: {held_back}]",
        )
    if saved.suppressed:  # after what matched, which it explains
        log.info(
            "%s: %r joins an event already alerted: not alerted again (%d rule/target pair(s))",
            feed,
            story.title,
            saved.suppressed,
        )


def _held_back(
    story: Story, cutoff: datetime | None, forgotten: datetime | None, edited: bool = False
) -> str | None:
    """Why a new (or edited) story is stored without an alert, or None to alert it."""
    if edited and cutoff is not None and story.published < cutoff:
        return "edited, but published longer ago than max_age"
    if cutoff is not None and not edited and story.published == story.fetched:  # "undated"
        return "undated, on the feed's first poll: it may be old"
    if cutoff is not None and story.published < cutoff:
        return "older than max_age on first poll"
    if forgotten is not None and story.published < forgotten:
        return "older than retention: it may have been alerted before it was forgotten"
    return None


def _failed(
    feed: FeedState, ctx: PollContext, now: datetime, plan: FeedPlan, exc: Exception, message: str
) -> PollResult:
    errors = feed.consecutive_errors + 1
    retry_after = exc.retry_after if isinstance(exc, HTTPStatusError) else None
    delay = backoff_delay(errors, plan.interval, ctx.max_backoff, retry_after)
    status = (
        str(exc.status)
        if isinstance(exc, HTTPStatusError)
        else ("fetch error" if isinstance(exc, FetchError) else "error")
    )
    # Parse errors name the feed already ("parse: Herald: …"); fetch errors name the URL.
    where = "" if message.startswith(f"parse: {feed.name}:") else f"{feed.name}: "
    log.warning(
        "%s%s (failure %d in a row; next try in %.0f s)", where, message, errors, delay.total_seconds()
    )
    try:
        ctx.store.record_poll(feed.id, now=now, status=status, error=message, next_poll=now + delay)
    except DBAPIError as db_error:  # the database is locked or gone: the other feeds must go on
        log.error("%s: could not record the failure: database: %s", feed.name, database_words(db_error))
    except Exception:  # a bug: the other feeds must go on all the same
        log.exception("%s: could not record the failure", feed.name)
    return PollResult(feed.name, ok=False, error=message)


def poll_feeds(feeds: Sequence[FeedState], ctx: PollContext, concurrency: int) -> list[PollResult]:
    """Poll ``feeds`` with at most ``concurrency`` fetches at once."""
    if not feeds:
        return []
    with ThreadPoolExecutor(max_workers=min(concurrency, len(feeds)), thread_name_prefix="poll") as pool:
        return list(pool.map(lambda feed: poll_feed(feed, ctx), feeds))
