"""Running the service: the daemon, one pass, config check, migrations."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from monitor.commands.common import app_of, mask_db, plural, settings_of
from monitor.config import format_duration, load_settings
from monitor.errors import UsageError

if TYPE_CHECKING:
    from monitor.store import Store


def cmd_run(args: argparse.Namespace) -> int:
    app = app_of(args)
    app.prepare()
    if args.once:
        try:
            summary = app.run_once()
        finally:
            app.close()
        print(summary.line())
        return 0
    from monitor.daemon import run_daemon

    return run_daemon(app, reload=lambda: load_settings(Path(args.config)))


def _missing_file(url: str) -> bool:
    """Whether a feed read from a local file (a path or file://) names a file that is not there."""
    parts = urlsplit(url)
    if parts.scheme not in ("", "file"):
        return False
    return not Path(unquote(parts.path) if parts.scheme else url).is_file()


def cmd_check(args: argparse.Namespace) -> int:
    from monitor.app import build_notifier, compile_settings_rules
    from monitor.match.syntax import exclusions_in_alternatives, list_names, lower_case_operators

    settings = settings_of(args)
    rules = compile_settings_rules(settings)
    build_notifier(settings)
    enabled = [f for f in settings.feeds if f.enabled]
    print(f"config: {settings.source}: ok")
    print(f"database: {mask_db(settings.database)}")
    print(f"feeds: {len(settings.feeds)} ({len(enabled)} enabled)")
    for feed in settings.feeds:
        state = "" if feed.enabled else "  [disabled]"
        if _missing_file(feed.url):  # polls would fail; the path is probably mistyped
            state += "  [no such file]"
        print(f"  - {feed.name}: {feed.url} every {format_duration(settings.feed_interval(feed))}{state}")
    print(f"term lists: {', '.join('@' + n for n in settings.term_lists) or 'none'}")
    used = {name for rule in settings.rules for name in list_names(rule.query)}
    unused = [f"@{name}" for name in settings.term_lists if name not in used]
    if unused:
        print(f"  note: no rule uses {', '.join(unused)}")
    print(f"rules: {len(rules.rules)}")
    wordless = set(rules.wordless())
    for rule in rules.rules:
        print(
            f"  - {rule.name} (priority {rule.priority}){': ' + rule.description if rule.description else ''}"
        )
        if rule.name in wordless:
            print(
                "    note: it can match a story that has none of its words (only NOT, site: or lang:"
                " decide it), so it alerts on every story they let through; if that is not meant,"
                " add the words it is about, e.g. RELOS AND NOT oil rather than NOT oil"
            )
        for alternative in exclusions_in_alternatives(rule.query):
            shown = " ".join(alternative.split())
            print(
                f"    note: in '{shown}', one alternative of an OR, the exclusion applies to that"
                " alternative alone; to exclude from all of them, write (… OR …) -word"
            )
        words = [w for w in lower_case_operators(rule.query) if not w.isupper()]
        if words:
            print(
                f"    note: {', '.join(repr(w) for w in dict.fromkeys(words))} in lower case is a word to"
                " search for, not an operator (operators are upper case: AND, OR, NOT, NEAR/5)"
            )
    print(f"notifications: {len(settings.notifications)}")
    for target in settings.notifications:
        if target.rules is None:
            routed = "every rule"
        else:
            routed = ", ".join(target.rules) or "no rule (`rules: []`: notices only)"
        state = f"{target.url.split('://', 1)[0]}://…" if target.url.strip() else "SKIPPED (empty URL)"
        mode = f" [digest at {target.schedule!r}, {target.timezone}]" if target.mode == "digest" else ""
        print(f"  - {target.name}: {state} ← {routed}{mode}")
        wanted = [r.priority for r in settings.rules if target.rules is None or r.name in target.rules]
        floor = target.min_priority
        if wanted and floor is not None and max(wanted) < floor:
            print(f"    note: min_priority {floor} is above the priority of every rule it takes:", end=" ")
            print("it receives no alerts")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from monitor.store import Store, create_engine_for, upgrade_schema

    settings = settings_of(args)
    store = Store(create_engine_for(settings.database))
    store.ping()
    if args.db_command == "prune":
        return _prune(args, store)
    upgrade_schema(store.engine)
    print(f"database {mask_db(settings.database)} is at the latest schema")
    return 0


def _prune(args: argparse.Namespace, store: Store) -> int:
    from monitor.config import parse_duration
    from monitor.store import require_schema

    require_schema(store.engine)
    keep = parse_duration(args.older_than) if args.older_than else settings_of(args).retention
    if keep is None:
        print("retention is not set (keep everything): name a period with --older-than")
        return 1
    window = settings_of(args).dedup.window
    if keep < window:
        raise UsageError(
            f"{format_duration(keep)} is shorter than dedup.window ({format_duration(window)}): forgetting"
            " a story whose news event is still open would alert that event again",
            key="--older-than",
        )
    pruned = store.prune(datetime.now(UTC) - keep)
    forgotten = plural(pruned, "story", "stories")
    print(f"forgot {forgotten} first seen and published more than {format_duration(keep)} ago")
    return 0
