"""Command line: a thin layer that loads the config once, wires the parts and prints.

Exit codes: 0 fine (also when some feeds failed), 2 config problem, 3 database problem,
1 internal error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from monitor.config import DEFAULT_CONFIG, Settings, load_settings, parse_duration
from monitor.errors import ConfigError, MonitorError, StoreError
from monitor.models import Story

log = logging.getLogger("monitor")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(Path(args.config))


def _app(args: argparse.Namespace):  # type: ignore[no-untyped-def]  # lazy import keeps `check` light
    from monitor.app import App

    return App(_settings(args))


def cmd_run(args: argparse.Namespace) -> int:
    app = _app(args)
    app.prepare()
    if args.once:
        try:
            summary = app.run_once()
        finally:
            app.close()
        print(summary.line())
        return 0
    from monitor.daemon import run_daemon

    return run_daemon(app)


def cmd_check(args: argparse.Namespace) -> int:
    from monitor.app import build_notifier, compile_settings_rules

    settings = _settings(args)
    rules = compile_settings_rules(settings)
    build_notifier(settings)
    enabled = [f for f in settings.feeds if f.enabled]
    print(f"config: {settings.source}: ok")
    print(f"database: {_mask_db(settings.database)}")
    print(f"feeds: {len(settings.feeds)} ({len(enabled)} enabled)")
    for feed in settings.feeds:
        state = "" if feed.enabled else "  [disabled]"
        print(f"  - {feed.name}: {feed.url} every {_human(settings.feed_interval(feed))}{state}")
    print(f"term lists: {', '.join('@' + n for n in settings.term_lists) or 'none'}")
    print(f"rules: {len(rules.rules)}")
    for rule in rules.rules:
        print(
            f"  - {rule.name} (priority {rule.priority}){': ' + rule.description if rule.description else ''}"
        )
    print(f"notifications: {len(settings.notifications)}")
    for target in settings.notifications:
        routed = ", ".join(target.rules) if target.rules else "every rule"
        state = f"{target.url.split('://', 1)[0]}://…" if target.url.strip() else "SKIPPED (empty URL)"
        print(f"  - {target.name}: {state} ← {routed}")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from monitor.store import Store, create_engine_for, upgrade_schema

    settings = _settings(args)
    store = Store(create_engine_for(settings.database))
    store.ping()
    upgrade_schema(store.engine)
    print(f"database {_mask_db(settings.database)} is at the latest schema")
    return 0


def _store(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from monitor.store import Store, create_engine_for, upgrade_schema

    store = Store(create_engine_for(_settings(args).database))
    store.ping()
    upgrade_schema(store.engine)
    return store


def cmd_hits(args: argparse.Namespace) -> int:
    since = datetime.now(UTC) - parse_duration(args.since) if args.since else None
    records = _store(args).list_hits(since=since, rule=args.rule, limit=args.limit)
    if args.format == "jsonl":
        for r in records:
            print(
                json.dumps(
                    {
                        "url": r.story.url,
                        "title": r.story.title,
                        "feed": r.story.feed,
                        "outlet": r.story.outlet,
                        "published": r.story.published.isoformat().replace("+00:00", "Z"),
                        "rules": list(r.rules),
                        "matched": list(r.terms),
                        "cluster": r.cluster,
                    },
                    ensure_ascii=False,
                )
            )
        return 0
    rows = [
        (
            r.story.published.strftime("%Y-%m-%d %H:%M"),
            ",".join(r.rules),
            r.story.feed,
            r.story.title,
            r.story.url,
        )
        for r in records
    ]
    _table(("published (UTC)", "rules", "feed", "title", "url"), rows, widths=(16, 28, 24, 60, 0))
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    feeds = _store(args).list_feeds()
    configured = {f.name for f in _settings(args).feeds}
    rows = [
        (
            f.name + ("" if f.name in configured else " (not in config)"),
            _when(f.last_fetch_at),
            f.last_status or "-",
            str(f.consecutive_errors),
            _when(f.next_poll_at),
            str(f.stories),
            f.last_error or "",
        )
        for f in feeds
    ]
    _table(
        ("feed", "last fetch", "status", "errors", "next poll", "stories", "last error"),
        rows,
        widths=(32, 16, 11, 6, 16, 7, 0),
    )
    return 0


def _rule_set(args: argparse.Namespace, settings: Settings):  # type: ignore[no-untyped-def]
    """The rules to try: a query given on the command line, or the config's rules."""
    from monitor.app import compile_settings_rules
    from monitor.errors import RuleError
    from monitor.match import compile_query

    if args.query:
        try:
            return compile_query(args.query, settings.term_lists), "query"
        except RuleError as exc:
            raise ConfigError(exc.located, key="--query") from exc
    rules = compile_settings_rules(settings)
    if args.rule and args.rule not in {r.name for r in rules.rules}:
        known = ", ".join(r.name for r in rules.rules)
        raise ConfigError(f"unknown rule {args.rule!r} (known: {known})", key="--rule")
    return rules, args.rule


def _story_to_try(args: argparse.Namespace, settings: Settings) -> Story:
    from monitor.normalise import html_to_text

    now = datetime.now(UTC)
    if args.url:
        from monitor.app import fetch_limits
        from monitor.fetch import fetch, make_client
        from monitor.fulltext import extract_text

        limits = fetch_limits(settings)
        with make_client(limits) as client:
            page = fetch(client, args.url, limits, accept="text/html,application/xhtml+xml")
        body = extract_text(page.body, page.url) or html_to_text(page.body.decode("utf-8", "replace"))
        return Story(
            feed="(url)",
            guid=args.url,
            url=args.url,
            title=args.title or "",
            summary="",
            body=body,
            published=now,
            fetched=now,
        )
    if args.file:
        raw = Path(args.file).read_text(encoding="utf-8", errors="replace")
        text = html_to_text(raw) if args.file.endswith((".html", ".htm")) else raw
    else:
        text = args.text
    return Story(
        feed="(text)", guid="-", url="-", title=args.title or "", summary=text, published=now, fetched=now
    )


def cmd_match(args: argparse.Namespace) -> int:
    settings = _settings(args)
    rules, name = _rule_set(args, settings)
    story = _story_to_try(args, settings)
    names = [name] if name else [r.name for r in rules.rules]
    matched = False
    for rule_name in names:
        explanation = rules.explain(rule_name, story)
        matched |= explanation.matched
        print(explanation.render(story))
    return 0 if matched else 1


def cmd_backtest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from monitor.backtest import backtest

    settings = _settings(args)
    rules, name = _rule_set(args, settings)
    store = _store(args)
    since = datetime.now(UTC) - parse_duration(args.since) if args.since else None
    total = store.count_stories(since=since)
    with tqdm(total=total, unit="story", file=sys.stderr, disable=total < 2000 or None) as bar:
        result = backtest(store.iter_stories(since=since), rules, rule=name, progress=bar.update)
    for story, matches in result.caught[: args.limit]:
        rules_hit = ",".join(m.rule for m in matches)
        terms = ", ".join(dict.fromkeys(t for m in matches for t in m.terms))
        print(
            f"{story.published:%Y-%m-%d %H:%M}  {rules_hit:<22}  {story.outlet[:22]:<22}  "
            f"{story.title[:70]}  [{terms}]"
        )
    if len(result.caught) > args.limit:
        print(f"… {len(result.caught) - args.limit} more (raise --limit to see them)")
    window = f"published within {args.since}" if args.since else "stored"
    print(f"\n{len(result.caught)} of {result.scanned} stories {window} would match")
    for label, counter in (
        ("by rule", result.per_rule),
        ("by feed", result.per_feed),
        ("top terms", result.per_term),
    ):
        if counter:
            print(f"{label}: " + ", ".join(f"{k} {v}" for k, v in counter.most_common(10)))
    return 0


def cmd_story(args: argparse.Namespace) -> int:
    from monitor.normalise import canonical_url

    store = _store(args)
    record = store.find_story(args.url) or store.find_story(canonical_url(args.url))
    if record is None:
        print(f"monitor: no stored story has the URL {args.url}", file=sys.stderr)
        return 1
    story = record.story
    print(f"title:      {story.title}")
    print(f"url:        {story.url}")
    if story.link and story.link != story.url:
        print(f"feed link:  {story.link}")
    print(f"feed:       {story.feed}" + (f" (outlet: {story.source})" if story.source else ""))
    print(f"published:  {story.published.isoformat()}")
    print(f"language:   {story.lang or '-'}")
    print(f"cluster:    {record.cluster or '-'}")
    print(
        f"rules:      {', '.join(record.rules) or '-'}"
        + (f" [{', '.join(record.terms)}]" if record.terms else "")
    )
    print(
        f"full text:  {record.fulltext_status or 'not fetched'}"
        + (f", {len(story.body)} characters" if story.body else "")
    )
    print(f"\nsummary:\n{story.summary or '-'}")
    print(f"\nbody:\n{story.body or '-'}")
    return 0


def cmd_notify_test(args: argparse.Namespace) -> int:
    from monitor.app import build_notifier
    from monitor.models import Span
    from monitor.store import Delivery

    settings = _settings(args)
    notifier = build_notifier(settings)
    names = [args.target] if args.target else [t.name for t in settings.notifications]
    now = datetime.now(UTC)
    summary = (
        "Russia's State Duma ratified the Reciprocal Exchange of Logistic Support (RELOS) "
        "agreement with India."
    )
    start = summary.index("RELOS")
    story = Story(
        feed="monitor",
        guid="test",
        url="https://example.org/monitor-test-alert",
        title="Test alert from monitor: RELOS ratified",
        summary=summary,
        published=now,
        fetched=now,
        source="monitor notify test",
    )
    sample = Delivery(
        0, "", 0, "test", story, ("RELOS",), (Span("summary", start, start + 5, "RELOS"),), None
    )
    failures = 0
    for name in names:
        if name not in {t.name for t in settings.notifications}:
            raise ConfigError(f"unknown notification target {name!r}", file=settings.source, key="--target")
        entry = notifier.targets.get(name)
        if entry is None:
            print(f"{name}: SKIPPED: its URL is empty (is the environment variable set?)")
            failures += 1
            continue
        message = notifier.renderer.alerts([sample], entry.format, timezone=entry.config.timezone)
        error = notifier.send(name, message)
        print(f"{name}: {'sent' if error is None else 'FAILED: ' + error} ({entry.masked})")
        failures += error is not None
    return 1 if failures else 0


def cmd_outbox(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.action == "retry":
        if not args.ids and not args.all_dead:
            raise ConfigError("name outbox row IDs or --all-dead", key="outbox retry")
        count = store.retry([int(i) for i in args.ids], all_dead=args.all_dead, now=datetime.now(UTC))
        print(f"requeued {count} row(s); they are sent at the next delivery tick or `monitor run --once`")
        return 0
    entries = store.list_outbox(status=args.status, limit=args.limit)
    rows = [
        (
            str(e.id),
            e.target,
            e.kind,
            e.status,
            str(e.attempts),
            _when(e.created_at),
            _when(e.next_attempt_at if e.status == "pending" else e.sent_at),
            e.subject,
            e.last_error or "",
        )
        for e in entries
    ]
    _table(
        ("id", "target", "kind", "status", "tries", "queued", "next/sent", "subject", "last error"),
        rows,
        widths=(6, 14, 7, 8, 5, 16, 16, 50, 0),
    )
    counts = store.outbox_counts()
    print("totals: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "empty"))
    return 0


def cmd_clusters(args: argparse.Namespace) -> int:
    since = datetime.now(UTC) - parse_duration(args.since) if args.since else None
    views = _store(args).list_clusters(since=since, min_size=1 if args.all else 2)
    if args.format == "jsonl":
        for view in views:
            print(
                json.dumps(
                    {
                        "cluster": view.cluster,
                        "outlets": list(view.outlets),
                        "stories": [
                            {
                                "title": s.title,
                                "url": s.url,
                                "feed": s.feed,
                                "outlet": s.outlet,
                                "published": s.published.isoformat().replace("+00:00", "Z"),
                            }
                            for s in view.stories
                        ],
                    },
                    ensure_ascii=False,
                )
            )
        return 0
    for view in views:
        print(
            f"{view.cluster}  {len(view.stories)} stories, "
            f"{len(view.outlets)} outlets: {', '.join(view.outlets)}"
        )
        for story in view.stories:
            print(f"    {story.published:%Y-%m-%d %H:%M}  {story.outlet[:24]:<24}  {story.title[:80]}")
    if not views:
        print(
            "(no clusters" + ("" if args.all else " with more than one story; --all lists every story") + ")"
        )
    return 0


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _human(delta: object) -> str:
    seconds = int(getattr(delta, "total_seconds", lambda: 0)())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _mask_db(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by the store; here we only print
        return url


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> None:
    def cut(text: str, width: int) -> str:
        text = text.replace("\n", " ")
        return text if not width or len(text) <= width else text[: width - 1] + "…"

    sizes = [
        max([len(h)] + [len(cut(r[i], w)) for r in rows]) if w else 0
        for i, (h, w) in enumerate(zip(header, widths, strict=True))
    ]
    for row in (header, *rows):
        print(
            "  ".join(
                cut(c, w).ljust(s) if w else cut(c, w) for c, w, s in zip(row, widths, sizes, strict=True)
            ).rstrip()
        )
    if not rows:
        print("(none)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monitor", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--config",
        default=os.environ.get("MONITOR_CONFIG", str(DEFAULT_CONFIG)),
        help="config file (default: $MONITOR_CONFIG, else config/monitor.yaml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon (or one pass with --once)")
    run.add_argument(
        "--once",
        action="store_true",
        help="poll every enabled feed now, deliver pending alerts, print a summary, exit",
    )
    run.set_defaults(func=cmd_run)

    hits = sub.add_parser("hits", help="stored hits, newest first")
    hits.add_argument("--format", choices=("table", "jsonl"), default="table")
    hits.add_argument("--since", help="only stories published within DURATION (e.g. 24h, 7d)")
    hits.add_argument("--rule", help="only hits of this rule")
    hits.add_argument("--limit", type=int, default=None)
    hits.set_defaults(func=cmd_hits)

    match = sub.add_parser("match", help="try a rule or a query on a text, file or URL")
    which = match.add_mutually_exclusive_group(required=True)
    which.add_argument("--rule", help="a rule from the config")
    which.add_argument("--query", help="a query string to try directly")
    source = match.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="the text to match")
    source.add_argument("--file", help="a text or HTML file")
    source.add_argument("--url", help="a web page (its main text is extracted)")
    match.add_argument("--title", help="a headline, matched as the title: field")
    match.set_defaults(func=cmd_match)

    back = sub.add_parser("backtest", help="run a rule or query over the stored stories")
    which = back.add_mutually_exclusive_group(required=True)
    which.add_argument("--rule", help="a rule from the config")
    which.add_argument("--query", help="a query string")
    back.add_argument("--since", default="30d", help="stories published within DURATION (default 30d)")
    back.add_argument("--limit", type=int, default=50, help="stories to list (default 50)")
    back.set_defaults(func=cmd_backtest)

    clusters = sub.add_parser("clusters", help="news events: stories grouped across outlets")
    clusters.add_argument("--since", default="7d", help="events with stories within DURATION (default 7d)")
    clusters.add_argument("--all", action="store_true", help="also single-story clusters")
    clusters.add_argument("--format", choices=("table", "jsonl"), default="table")
    clusters.set_defaults(func=cmd_clusters)

    story = sub.add_parser("story", help="what was stored and extracted for one story")
    story.add_argument("url", help="the story's URL (as in the feed or canonical)")
    story.set_defaults(func=cmd_story)

    notify = sub.add_parser("notify", help="notification tools")
    notify_sub = notify.add_subparsers(dest="notify_command", required=True, metavar="ACTION")
    ntest = notify_sub.add_parser("test", help="send a sample alert and say exactly what failed")
    ntest.add_argument("--target", help="one target (default: every target)")
    ntest.set_defaults(func=cmd_notify_test)

    outbox = sub.add_parser("outbox", help="deliveries: list them, or `outbox retry ID…|--all-dead`")
    outbox.add_argument("action", nargs="?", choices=("list", "retry"), default="list")
    outbox.add_argument("ids", nargs="*", help="with retry: outbox row IDs")
    outbox.add_argument("--all-dead", action="store_true", help="with retry: every dead row")
    outbox.add_argument(
        "--status",
        choices=("pending", "failed", "sent", "dead"),
        help="only rows in this state (failed: pending after a failed attempt)",
    )
    outbox.add_argument("--limit", type=int, default=100)
    outbox.set_defaults(func=cmd_outbox)

    sub.add_parser("feeds", help="feeds and their fetch state").set_defaults(func=cmd_feeds)
    sub.add_parser("check", help="validate the config and print what it holds").set_defaults(func=cmd_check)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db)
    return parser


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("apscheduler", "httpx", "httpcore", "apprise", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
    # trafilatura warns on every page without extractable text; the outcome is recorded instead.
    logging.getLogger("trafilatura").setLevel(logging.DEBUG if verbose else logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ConfigError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return 3
    except SQLAlchemyError as exc:  # the database went away or refused mid-command
        print(f"monitor: store: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 3
    except MonitorError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `monitor hits | head`
        return 0
