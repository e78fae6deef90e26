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
    """The story ``monitor match`` tries: the text, file or page, with the title, language and
    address given (a page gives its own), so ``title:``, ``lang:`` and ``site:`` can be tried."""
    from monitor.fulltext import extract_text, page_title_and_language
    from monitor.normalise import canonical_url, html_to_text, nfc

    now = datetime.now(UTC)
    title, lang, link = args.title, args.lang, args.link
    if args.url:
        from monitor.app import fetch_limits
        from monitor.fetch import fetch, make_client

        limits = fetch_limits(settings)
        with make_client(limits) as client:
            page = fetch(client, args.url, limits, accept="text/html,application/xhtml+xml")
        text = extract_text(page.body, page.url) or html_to_text(page.body.decode("utf-8", "replace"))
        page_title, page_lang = page_title_and_language(page.body, page.url)
        title, lang, link = title or page_title, lang or page_lang, link or args.url
    elif args.file:
        try:
            raw = Path(args.file).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}", key="--file") from exc
        if args.file.endswith((".html", ".htm")):  # as a page from --url: its main text
            text = extract_text(raw, link or args.file) or html_to_text(raw.decode("utf-8", "replace"))
        else:
            text = raw.decode("utf-8", "replace")
    else:
        text = args.text
    url = canonical_url(link) if link else "-"
    return Story(
        feed="(text)" if args.text is not None else "(url)" if args.url else "(file)",
        guid=url,
        url=url,
        title=nfc(title or ""),
        # A page's text is its body, as full text fetched for a story is; a text is a summary.
        summary="" if args.url else nfc(text),
        body=nfc(text) if args.url else None,
        published=now,
        fetched=now,
        lang=lang.strip().lower() if lang else None,
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
