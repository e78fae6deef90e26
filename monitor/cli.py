"""Command line: a thin layer that loads the config once, wires the parts and prints.

Exit codes: 0 fine (also when some feeds failed), 2 config problem, 3 database problem,
1 internal error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError

from monitor.commands.delivery import cmd_notify_test, cmd_outbox
from monitor.commands.inspect import cmd_clusters, cmd_feeds, cmd_hits, cmd_story
from monitor.commands.rules import cmd_backtest, cmd_match
from monitor.commands.service import cmd_check, cmd_db, cmd_run
from monitor.config import DEFAULT_CONFIG, parse_duration
from monitor.errors import ConfigError, MonitorError, StoreError

log = logging.getLogger("monitor")


def _duration(text: str) -> str:
    """An argparse type: a bad DURATION is a usage error naming the option, not a traceback."""
    try:
        parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _count(text: str) -> int:
    """An argparse type for --limit: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="News monitoring: polls RSS/Atom feeds, matches stories against your rules, "
        "stores the hits and sends alerts (email, Slack and anything apprise reaches).",
        epilog="Exit codes: 0 fine, 1 failed (or no match), 2 configuration or usage problem, "
        "3 database problem.",
    )
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
    hits.add_argument("--since", type=_duration, help="only stories published within DURATION (e.g. 24h, 7d)")
    hits.add_argument("--rule", help="only hits of this rule")
    hits.add_argument("--limit", type=_count, default=None)
    hits.set_defaults(func=cmd_hits)

    match = sub.add_parser("match", help="try a rule or a query on a text, file or URL")
    which = match.add_mutually_exclusive_group(required=True)
    which.add_argument("--rule", help="a rule from the config")
    which.add_argument("--query", help="a query string to try directly")
    source = match.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="the text to match")
    source.add_argument("--file", help="a text or HTML file")
    source.add_argument("--url", help="a web page (its main text is extracted)")
    match.add_argument("--title", help="a headline, matched as the title: field (--url: the page's own)")
    match.add_argument("--lang", help="the story's language, for lang: (e.g. ru, hi; --url: the page's own)")
    match.add_argument("--link", help="the story's address, for site: and url: (--url: that address)")
    match.set_defaults(func=cmd_match)

    back = sub.add_parser("backtest", help="run a rule or query over the stored stories")
    which = back.add_mutually_exclusive_group(required=True)
    which.add_argument("--rule", help="a rule from the config")
    which.add_argument("--query", help="a query string")
    back.add_argument(
        "--since", default="30d", type=_duration, help="stories published within DURATION (default 30d)"
    )
    back.add_argument("--limit", type=_count, default=50, help="stories to list (default 50)")
    back.set_defaults(func=cmd_backtest)

    clusters = sub.add_parser("clusters", help="news events: stories grouped across outlets")
    clusters.add_argument(
        "--since", default="7d", type=_duration, help="events with stories within DURATION (default 7d)"
    )
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
    outbox.add_argument("ids", nargs="*", type=int, help="with retry: outbox row IDs")
    outbox.add_argument("--all-dead", action="store_true", help="with retry: every dead row")
    outbox.add_argument(
        "--status",
        choices=("pending", "held", "failed", "quiet", "sent", "dead"),
        help="only rows in this state (failed: pending after a failed attempt; quiet: held by"
        " its target's quiet hours now)",
    )
    outbox.add_argument("--limit", type=_count, default=100)
    outbox.set_defaults(func=cmd_outbox)

    sub.add_parser("feeds", help="feeds and their fetch state").set_defaults(func=cmd_feeds)
    sub.add_parser("check", help="validate the config and print what it holds").set_defaults(func=cmd_check)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db)
    prune = db_sub.add_parser("prune", help="forget stories older than `retention` now")
    prune.add_argument("--older-than", type=_duration, help="DURATION instead of the config's retention")
    prune.set_defaults(func=cmd_db)
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
