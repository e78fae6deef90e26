"""Looking at what was stored: hits, feeds, clusters, one story."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from monitor.commands.common import plural, settings_of, store_of, table, when
from monitor.config import parse_duration
from monitor.errors import UsageError


def cmd_hits(args: argparse.Namespace) -> int:
    since = datetime.now(UTC) - parse_duration(args.since) if args.since else None
    records = store_of(args).list_hits(since=since, rule=args.rule, limit=args.limit)
    rules = [r.name for r in settings_of(args).rules]
    if args.rule and not records and args.rule not in rules:  # a rule since removed may have hits
        raise UsageError(f"no rule {args.rule!r} in the config (known: {', '.join(rules)})", key="--rule")
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
                        "alerted": r.alerted,
                        "joined": {"title": r.joined[0], "url": r.joined[1]} if r.joined else None,
                    },
                    ensure_ascii=False,
                )
            )
        return 0
    rows = [
        (
            r.story.published.strftime("%Y-%m-%d %H:%M"),
            ",".join(r.rules),
            "yes" if r.alerted else f"joined: {r.joined[0]}" if r.joined else "-",
            r.story.feed,
            r.story.title,
            r.story.url,
        )
        for r in records
    ]
    headings = ("published (UTC)", "rules", "alerted", "feed", "title", "url")
    table(headings, rows, widths=(16, 24, 28, 20, 60, 0))
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    feeds = store_of(args).list_feeds()
    enabled = {f.name for f in settings_of(args).feeds if f.enabled}
    configured = {f.name for f in settings_of(args).feeds}
    rows = [
        (
            f.name + ("" if f.name in configured else " (not in config)"),
            when(f.last_fetch_at),
            f.last_status or "-",
            str(f.consecutive_errors),
            when(f.next_poll_at) if f.name in enabled else "never",  # not polled any more
            str(f.stories),
            f.last_error or "",
        )
        for f in feeds
    ]
    # Feeds the daemon has not started on yet (a new config, or a feed just added) are shown too.
    known = {f.name for f in feeds}
    rows += [
        (f.name, "-", "-", "0", "-", "0", "not polled yet")
        for f in settings_of(args).feeds
        if f.name not in known and f.enabled
    ]
    table(
        ("feed", "last fetch", "status", "errors", "next poll", "stories", "last error"),
        rows,
        widths=(32, 16, 11, 6, 16, 7, 0),
    )
    return 0


def cmd_clusters(args: argparse.Namespace) -> int:
    since = datetime.now(UTC) - parse_duration(args.since) if args.since else None
    views = store_of(args).list_clusters(since=since, min_size=1 if args.all else 2)
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
            f"{view.cluster}  {plural(len(view.stories), 'story', 'stories')}, "
            f"{plural(len(view.outlets), 'outlet')}: {', '.join(view.outlets)}"
        )
        for story in view.stories:
            print(f"    {story.published:%Y-%m-%d %H:%M}  {story.outlet[:24]:<24}  {story.title[:80]}")
    if not views:
        print(
            "(no clusters" + ("" if args.all else " with more than one story; --all lists every story") + ")"
        )
    return 0


def cmd_story(args: argparse.Namespace) -> int:
    from monitor.normalise import canonical_url

    store = store_of(args)
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
