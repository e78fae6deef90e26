"""Delivery tools: a test alert through the targets, the outbox and requeueing."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from monitor.commands.common import settings_of, store_of, table, when
from monitor.errors import UsageError
from monitor.models import Story
from monitor.notify.quiet import quiet_until


def cmd_notify_test(args: argparse.Namespace) -> int:
    from monitor.app import build_notifier
    from monitor.models import Span
    from monitor.store import Delivery

    settings = settings_of(args)
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
    if not names:
        print("no notification targets are configured (see `notifications:` in the README)")
        return 1
    failures = 0
    known = [t.name for t in settings.notifications]
    for name in names:
        if name not in known:
            known_list = ", ".join(known)
            raise UsageError(f"unknown notification target {name!r} (known: {known_list})", key="--target")
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
    store = store_of(args)
    if args.action == "retry":
        if not args.ids and not args.all_dead:
            raise UsageError("name outbox row IDs or --all-dead", key="outbox retry")
        count = store.retry(args.ids, all_dead=args.all_dead, now=datetime.now(UTC))
        print(f"requeued {count} row(s); they are sent at the next delivery tick or `monitor run --once`")
        if args.ids and count < len(set(args.ids)):
            print(
                f"{len(set(args.ids)) - count} row(s) not requeued: no such row, already sent, or "
                "being sent right now (see `monitor outbox`)"
            )
            return 1
        return 0
    if args.ids or args.all_dead:
        raise UsageError("row IDs and --all-dead go with `monitor outbox retry`", key="outbox")
    now = datetime.now(UTC)
    targets = {t.name: t for t in settings_of(args).notifications}
    quiet_now = {
        name: until
        for name, t in targets.items()
        if t.quiet_hours is not None and (until := quiet_until(t.quiet_hours, t.timezone, now)) is not None
    }
    if args.status == "quiet":  # a state of the target now: its due rows, not those held for a digest
        entries = store.list_outbox(status="due", limit=args.limit, targets=list(quiet_now))
    else:
        entries = store.list_outbox(status=args.status, limit=args.limit)
    rows = []
    for e in entries:
        status, next_at = e.status, e.next_attempt_at if e.status in ("pending", "failed") else e.sent_at
        until = quiet_now.get(e.target) if status in ("pending", "failed") else None
        if until is not None:  # held back by the target's quiet hours, whatever its retry time
            status, next_at = "quiet", max(until, next_at) if next_at else until
        rows.append(
            (
                str(e.id),
                e.target,
                e.kind,
                status,
                str(e.attempts),
                when(e.created_at),
                when(next_at),
                e.subject,
                e.last_error or "",
            )
        )
    table(
        ("id", "target", "kind", "status", "tries", "queued", "next/sent", "subject", "last error"),
        rows,
        widths=(6, 14, 7, 8, 5, 16, 16, 50, 0),
    )
    counts = store.outbox_summary()
    print("totals: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "empty"))
    waiting = store.waiting_by_target()
    held = [f"{name} until {when(until)}" for name, until in sorted(quiet_now.items()) if waiting.get(name)]
    if held:
        print(f"quiet hours hold what waits for {', '.join(held)}")
    return 0
