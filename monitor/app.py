"""Wiring: turn validated Settings into the parts (store, rules, notifier, poll context) once.

Both the daemon's ticks and ``run --once`` go through ``App.poll`` and ``App.deliver``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from monitor.clustering import Clusterer
from monitor.config import Settings, format_duration, key_line, value_line
from monitor.errors import ConfigError, RuleError
from monitor.fetch import FetchLimits, make_client
from monitor.fulltext import ArticleFetcher, needs_full_text
from monitor.match import RuleSet, compile_rules
from monitor.models import Story
from monitor.notify import Deliverer, DeliveryReport, Notifier, Renderer
from monitor.pipeline import FeedPlan, PollContext, PollResult, poll_feeds
from monitor.schedule import cron_trigger, last_fire_time
from monitor.store import Store, TargetRoute, create_engine_for, upgrade_schema

log = logging.getLogger(__name__)

#: How long a claimed feed stays out of other workers' reach while it is being polled.
POLL_LEASE = timedelta(minutes=10)
#: A worker's heartbeat lasts this many beats: a feed claimed by a worker that died mid-poll
#: is free again this long after its last beat (see ``Store.claim_due_feeds``).
HEARTBEAT_BEATS = 4
#: The longest time between two beats, whatever the tick.
MAX_BEAT = timedelta(seconds=30)


def compile_settings_rules(settings: Settings) -> RuleSet:
    """Compile every rule; a bad one becomes a ConfigError naming file, rule key and position."""
    try:
        return compile_rules(settings.rule_objects(), settings.term_lists)
    except RuleError as exc:
        if exc.term_list is not None:  # a bad entry: reported where it is written
            name, entry = exc.term_list
            file = settings.list_sources.get(name, settings.source)
            key = f"term_lists.{name}[{entry}]"
            entries = settings.term_lists.get(name) or settings.term_lists.get(f"@{name}") or ()
            written = repr(entries[entry]) if entry < len(entries) else "the entry"
            why = exc.detail.split("': ", 1)[-1]  # after "term list @name, entry '…'"
            message = f"{written}: {why} (used by rule {exc.rule!r})"
            raise ConfigError(message, file=file, key=key, line=key_line(file, key)) from exc
        index = next((i for i, r in enumerate(settings.rules) if r.name == exc.rule), 0)
        file, key = settings.rule_location(index)
        key += ".query"
        line = value_line(file, key, exc.query, exc.position)
        raise ConfigError(f"rule {exc.rule!r}: {exc.located}", file=file, key=key, line=line) from exc


def fetch_limits(settings: Settings) -> FetchLimits:
    f = settings.fetch
    return FetchLimits(
        f.connect_timeout.total_seconds(),
        f.read_timeout.total_seconds(),
        f.max_bytes,
        f.max_redirects,
        f.user_agent,
    )


def build_notifier(settings: Settings) -> Notifier:
    """The targets, with templates overridable from a ``templates/`` folder beside the config;
    a URL apprise cannot use is a ConfigError naming its key."""
    template_dir = Path(settings.source).parent / "templates" if settings.source else None
    notifier = Notifier(
        settings.notifications,
        Renderer(template_dir if template_dir and template_dir.is_dir() else None),
        settings.delivery.send_timeout,
    )
    notifier.renderer.check()
    for index, target in enumerate(settings.notifications):
        if target.name in notifier.invalid:
            key = f"notifications[{index}].url"
            line = key_line(settings.source, key)
            raise ConfigError(notifier.invalid[target.name], file=settings.source, key=key, line=line)
    return notifier


def build_routes(settings: Settings, notifier: Notifier) -> dict[str, tuple[TargetRoute, ...]]:
    """Rule name → where its hits go (only targets that can actually send)."""
    routes: dict[str, list[TargetRoute]] = {rule.name: [] for rule in settings.rules}
    for target in settings.notifications:
        if target.name not in notifier.targets:
            continue
        route = TargetRoute(target.name, held=target.mode == "digest", on_cluster=target.on_cluster)
        for rule in settings.rules:
            wanted = target.rules is None or rule.name in target.rules
            if wanted and (target.min_priority is None or rule.priority >= target.min_priority):
                routes[rule.name].append(route)
    return {rule: tuple(targets) for rule, targets in routes.items()}


@dataclass
class RunSummary:
    """What ``run --once`` prints."""

    polls: list[PollResult]
    delivery: DeliveryReport

    def line(self) -> str:
        ok = sum(1 for p in self.polls if p.ok)
        matching, hits = sum(p.matching for p in self.polls), sum(p.hits for p in self.polls)
        return (
            f"feeds: {ok} ok, {len(self.polls) - ok} failed; "
            f"new stories: {sum(p.new_stories for p in self.polls)}; "
            f"matching a rule: {matching}{f' ({hits} rule hits)' if hits != matching else ''}; "
            f"notifications: {self.delivery.sent} sent, {self.delivery.failed} failed"
            + (f", {self.delivery.waiting} waiting for a retry" if self.delivery.waiting else "")
        )


def _utcnow() -> datetime:
    return datetime.now(UTC)


class App:
    """The wired service. Creating it opens no connection; ``prepare`` migrates and syncs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rules = compile_settings_rules(settings)
        self.notifier = build_notifier(settings)
        self.routes = build_routes(settings, self.notifier)
        self.store = Store(create_engine_for(settings.database))
        self.deliverer = Deliverer(
            self.store,
            self.notifier,
            settings.delivery,
            admin=settings.admin,
            clock=_utcnow,
            update_every=settings.dedup.update_every,
        )
        self.limits = fetch_limits(settings)
        self.client = make_client(self.limits)
        #: This process's id in the store: its feed claims and its heartbeat.
        self.worker = uuid.uuid4().hex
        self.beat_every = min(settings.tick, MAX_BEAT)
        self.feeds = {feed.name: feed for feed in settings.feeds if feed.enabled}
        # The furthest ahead a feed's next poll can be: its interval, or the longest backoff
        # with its jitter (see ``Store.claim_due_feeds``).
        self.poll_horizon = max(
            [settings.fetch.max_backoff * 1.25, *(settings.feed_interval(f) for f in settings.feeds)]
        ) + POLL_LEASE
        plans: Mapping[str, FeedPlan] = {
            feed.name: FeedPlan(settings.feed_interval(feed), feed.max_age or settings.max_age, feed.language)
            for feed in settings.feeds
        }
        ft = settings.fulltext
        # Article links are written by whoever writes the feed: their own client, public only.
        self.article_client = make_client(self.limits, public_only=not ft.allow_private)
        self.articles = ArticleFetcher(
            self.article_client,
            self.limits,
            per_host=ft.per_host,
            delay=ft.delay.total_seconds(),
            max_chars=ft.max_chars,
        )
        self.full_text = {feed.name: settings.feed_full_text(feed) for feed in settings.feeds}
        self.context = PollContext(
            self.store,
            self.client,
            self.limits,
            self.rules,
            self.routes,
            plans,
            settings.fetch.max_backoff,
            enrich=self.enrich,
            clusterer=Clusterer(self.store, settings.dedup.window, settings.dedup.threshold),
            update_every=settings.dedup.update_every,
            retention=settings.retention,
        )

    def enrich(self, feed: str, story: Story) -> tuple[Story, str | None]:
        """Add the article's main text to a new story when the feed's full_text policy asks."""
        mode = self.full_text.get(feed, "never")
        candidate = mode == "auto" and self.rules.is_candidate(story)
        if not needs_full_text(mode, story, candidate=candidate, min_chars=self.settings.fulltext.min_chars):
            return story, None
        outcome = self.articles.fetch(story)
        if outcome.error:
            log.info("%s: full text of %s: %s", feed, story.url, outcome.error)
        if outcome.text:
            return replace(story, body=outcome.text), outcome.status
        return story, outcome.status

    def prepare(self) -> None:
        """Bring the schema up to date and make the feeds table match the config."""
        self.store.ping()
        upgrade_schema(self.store.engine)
        now = datetime.now(UTC)
        self.store.sync_feeds(((f.name, f.url) for f in self.settings.feeds), now)
        for target in self.settings.notifications:
            if target.mode != "digest":  # e.g. switched from digest to instant: send what waits
                self.store.release_held(target.name, now)
        configured = {target.name for target in self.settings.notifications}
        for name, count in sorted(self.store.waiting_by_target().items()):
            if name not in configured:
                log.warning(
                    "outbox: %d message(s) wait for target %r, which is not in the config (renamed or"
                    " removed?): they go dead after delivery.dead_after (%s). If it was renamed, give"
                    " it back its old name until they are sent; see `monitor outbox`",
                    count,
                    name,
                    format_duration(self.settings.delivery.dead_after),
                )

    def poll(self, *, all_now: bool = False) -> list[PollResult]:
        """Poll the due feeds (or, for ``run --once``, every enabled feed now)."""
        now = datetime.now(UTC)
        if all_now:
            feeds = self.store.feeds_named(list(self.feeds))
        else:
            self.beat()  # a claim is made only while this worker's heartbeat holds
            feeds = self.store.claim_due_feeds(
                list(self.feeds), now, POLL_LEASE, self.poll_horizon, worker=self.worker
            )
        return poll_feeds(feeds, self.context, self.settings.fetch.concurrency)

    def beat(self, last: bool = False) -> None:
        """Renew this worker's heartbeat; the daemon calls it every ``beat_every``, from its
        own job, so a long poll does not let it lapse. ``last``: the daemon is stopping and
        beats no more, but its polls in hand may run on: it lasts as long as their claims."""
        now = datetime.now(UTC)
        self.store.beat(self.worker, now + (POLL_LEASE if last else self.beat_every * HEARTBEAT_BEATS), now)

    def fire_digest(self, target: str) -> int:
        """A digest's scheduled time: make the period's held alerts due (sent by the next
        delivery pass); with ``send_empty``, queue a note saying there were none.

        Every worker schedules every digest; the first to fire takes the period's lease and the
        others do nothing, so a second worker cannot follow the digest with "nothing new". A
        period is named by the scheduled time just reached, which all workers firing for it
        share; a changed schedule names new periods."""
        now = datetime.now(UTC)
        entry = self.notifier.targets.get(target)
        if entry is not None and entry.config.schedule:
            trigger = cron_trigger(entry.config.schedule, entry.config.timezone)
            reached = last_fire_time(trigger, now) or now
            period = f"digest:{target}:{reached.astimezone(UTC):%Y-%m-%dT%H:%M:%S}"
            # Long enough for every worker's run of this period to see it.
            until = now + timedelta(minutes=10)
            if not self.store.take_lease(period, uuid.uuid4().hex, until, now):
                log.info("digest for %s: another worker has fired this period's digest", target)
                return 0
        released = self.store.release_held(target, now)
        log.info("digest for %s: %d stor%s in this period", target, released, "y" if released == 1 else "ies")
        if not released and entry is not None and entry.config.send_empty:
            # Through the outbox like any message: retried if the target is down.
            self.store.enqueue_notice(
                target, "[monitor] digest: nothing new", "No new alerts in this period.", now, kind="notice"
            )
        return released

    def catch_up_digests(self) -> int:
        """Send the digests whose scheduled time passed while monitor was not running (a
        daemon restart, or ``run --once`` from cron): their alerts would otherwise wait for
        the next scheduled time. Returns how many alerts were released."""
        now = datetime.now(UTC)
        released = 0
        for target in self.settings.notifications:
            if target.mode != "digest" or not target.schedule or target.name not in self.notifier.targets:
                continue
            oldest = self.store.oldest_held(target.name)
            if oldest is None:
                continue
            due = cron_trigger(target.schedule, target.timezone).get_next_fire_time(None, oldest)
            if due is not None and due <= now:
                log.info("digest for %s was due at %s while monitor was not running: sending it now",
                         target.name, due.isoformat(timespec="minutes"))
                released += self.fire_digest(target.name)
        return released

    def prune(self) -> int:
        """Forget what is older than ``retention`` (nothing when it is not set), and the
        heartbeats of workers that died a day ago or more."""
        now = datetime.now(UTC)
        self.store.forget_workers(now - timedelta(days=1))
        if self.settings.retention is None:
            return 0
        pruned = self.store.prune(now - self.settings.retention)
        if pruned:
            log.info("retention: forgot %d stor(y/ies) older than %s", pruned, self.settings.retention)
        return pruned

    def check_health(self) -> None:
        """Tell the admin target once when a feed starts failing or goes silent, and once when
        it recovers (not once per poll)."""
        health = self.settings.health
        now = datetime.now(UTC)
        for change in self.store.health_changes(
            now, health.failing_after, health.silent_after, list(self.feeds)
        ):
            if change.state == "ok":
                title = f"[monitor] feed recovered: {change.feed}"
            else:
                title = f"[monitor] feed {change.state}: {change.feed}"
            # Trouble is a warning; a recovery is good news.
            level = logging.INFO if change.state == "ok" else logging.WARNING
            log.log(level, "%s: %s", title.removeprefix("[monitor] "), change.detail)
            if self.settings.admin:
                self.store.enqueue_notice(self.settings.admin, title, f"{change.feed}: {change.detail}", now)

    def deliver(self, *, due_only: bool = True, wait: bool = True) -> DeliveryReport:
        """A delivery pass; the daemon's does not ``wait`` for targets still sending."""
        return self.deliverer.run(due_only=due_only, wait=wait)

    def run_once(self) -> RunSummary:
        polls = self.poll(all_now=True)
        self.check_health()
        self.catch_up_digests()
        return RunSummary(polls, self.deliver(due_only=False))

    def sign_off(self) -> None:
        """End this worker's heartbeat at a clean stop (its polls are done). Best effort: with
        the database out of reach the heartbeat simply lapses."""
        try:
            self.store.sign_off(self.worker)
        except SQLAlchemyError as exc:
            log.debug("could not end the heartbeat of worker %s: %s", self.worker, exc)

    def close(self) -> None:
        self.deliverer.close()
        self.client.close()
        self.article_client.close()
        self.store.engine.dispose()
