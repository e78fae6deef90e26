"""Tools for rule writers: try a rule on a text, run it over stored stories."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from monitor.commands.common import settings_of, store_of, table
from monitor.config import Settings, parse_duration
from monitor.errors import UsageError
from monitor.models import Story


def _rule_set(args: argparse.Namespace, settings: Settings):  # type: ignore[no-untyped-def]
    """The rules to try: a query given on the command line, or the config's rules."""
    from monitor.app import compile_settings_rules
    from monitor.errors import RuleError
    from monitor.match import compile_query

    if args.query is not None:
        if not args.query.strip():  # an unset shell variable: do not quietly try every rule
            raise UsageError("the query is empty", key="--query")
        try:
            return compile_query(args.query, settings.term_lists), "query"
        except RuleError as exc:
            raise UsageError(exc.located, key="--query") from exc
    rules = compile_settings_rules(settings)
    if args.rule and args.rule not in {r.name for r in rules.rules}:
        known = ", ".join(r.name for r in rules.rules)
        raise UsageError(f"unknown rule {args.rule!r} (known: {known})", key="--rule")
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
        try:
            raw = Path(args.file).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}", key="--file") from exc
        text = html_to_text(raw) if args.file.endswith((".html", ".htm")) else raw
    else:
        text = args.text
    return Story(
        feed="(text)", guid="-", url="-", title=args.title or "", summary=text, published=now, fetched=now
    )


def cmd_match(args: argparse.Namespace) -> int:
    settings = settings_of(args)
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

    settings = settings_of(args)
    rules, name = _rule_set(args, settings)
    store = store_of(args)
    since = datetime.now(UTC) - parse_duration(args.since) if args.since else None
    total = store.count_stories(since=since)
    with tqdm(total=total, unit="story", file=sys.stderr, disable=total < 2000 or None) as bar:
        result = backtest(store.iter_stories(since=since), rules, rule=name, progress=bar.update)
    table(
        ("published (UTC)", "rules", "outlet", "title", "matched"),
        [
            (
                f"{story.published:%Y-%m-%d %H:%M}",
                ",".join(m.rule for m in matches),
                story.outlet,
                story.title,
                ", ".join(dict.fromkeys(t for m in matches for t in m.terms)),
            )
            for story, matches in result.caught[: args.limit]
        ],
        (16, 22, 22, 70, 0),
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
