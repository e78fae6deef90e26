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
    from monitor.config_notes import config_notes

    settings = settings_of(args)
    rules = compile_settings_rules(settings)
    build_notifier(settings)
    notes = config_notes(settings, rules)

    def print_notes(kind: str, name: str) -> None:
        for note in notes:
            if (note.kind, note.name) == (kind, name):
                print(f"{'  ' if kind == 'term_lists' else '    '}note: {note.text}")

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
    print_notes("term_lists", "")
    print(f"rules: {len(rules.rules)}")
    for rule in rules.rules:
        print(
            f"  - {rule.name} (priority {rule.priority}){': ' + rule.description if rule.description else ''}"
        )
        print_notes("rule", rule.name)
    print(f"notifications: {len(settings.notifications)}")
    for target in settings.notifications:
        if target.rules is None:
            routed = "every rule"
        else:
            routed = ", ".join(target.rules) or "no rule (`rules: []`: notices only)"
        state = f"{target.url.split('://', 1)[0]}://…" if target.url.strip() else "SKIPPED (empty URL)"
        mode = f" [digest at {target.schedule!r}, {target.timezone}]" if target.mode == "digest" else ""
        print(f"  - {target.name}: {state} ← {routed}{mode}")
        print_notes("target", target.name)
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
