"""Delivery latency and outbox throughput against a local SMTP server and webhook receiver.

Prints, as medians over several runs:
- the time from a hit being stored (its outbox row committed) to the last message being
  accepted by the local SMTP server, for 1 and for 100 hits (default settings: a burst of 100
  is batched into combined messages);
- the same for 100 hits sent one email each (batching off), to show the raw per-message cost;
- outbox throughput: alerts per second delivered to a webhook, one message each.

Run: .venv/bin/python bench/bench_delivery.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.config import DeliverySettings, NotificationConfig
from monitor.notify import Notifier, Renderer, deliver_pending
from monitor.store import Store, TargetRoute, create_engine_for, upgrade_schema
from tests.factories import queue_hits
from tests.servers import HTTPServer, SMTPServer, wait_for


def _store(directory: str) -> Store:
    engine = create_engine_for(f"sqlite:///{directory}/bench.db")
    upgrade_schema(engine)
    store = Store(engine)
    store.sync_feeds([("Herald", "https://herald.example/rss")], datetime.now(UTC))
    return store


def latency(hits: int, settings: DeliverySettings, runs: int) -> float:
    """Seconds from the hits being stored to the last message accepted by the SMTP server."""
    times = []
    smtp = SMTPServer()
    smtp.start()
    try:
        notifier = Notifier([NotificationConfig(name="email", url=smtp.url())], Renderer())
        for run in range(runs):
            with tempfile.TemporaryDirectory() as directory:
                store = _store(directory)
                queue_hits(store, hits, TargetRoute("email"), start=run * hits)
                before = len(smtp.messages)
                expected = None
                start = time.perf_counter()
                deliver_pending(store, notifier, settings, now=datetime.now(UTC))
                expected = len(smtp.messages) - before
                wait_for(lambda b=before, e=expected: len(smtp.messages) - b >= e, 30, 0.001)
                times.append(time.perf_counter() - start)
                assert store.outbox_counts() == {"sent": hits}, store.outbox_counts()
                store.engine.dispose()
    finally:
        smtp.stop()
    return statistics.median(times)


def throughput(alerts: int, runs: int) -> float:
    """Alerts per second to a webhook, one message per alert."""
    rates = []
    server = HTTPServer()
    try:
        notifier = Notifier(
            [NotificationConfig(name="hook", url=f"json://127.0.0.1:{server.port}/h")], Renderer()
        )
        settings = DeliverySettings(batch_threshold=alerts + 1)
        for run in range(runs):
            with tempfile.TemporaryDirectory() as directory:
                store = _store(directory)
                queue_hits(store, alerts, TargetRoute("hook"), start=run * alerts)
                start = time.perf_counter()
                report = deliver_pending(store, notifier, settings, now=datetime.now(UTC))
                rates.append(report.sent / (time.perf_counter() - start))
                store.engine.dispose()
    finally:
        server.close()
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    defaults = DeliverySettings()
    one = latency(1, defaults, args.runs)
    batched = latency(100, defaults, args.runs)
    single = latency(100, DeliverySettings(batch_threshold=1000), max(1, args.runs // 2))
    rate = throughput(200, max(1, args.runs // 2))
    print(f"(medians of {args.runs} runs)")
    print(f"hit stored → SMTP accepted, 1 hit:                     {one * 1000:8.1f} ms")
    print(f"hit stored → SMTP accepted, 100 hits (batched, 4 msg): {batched * 1000:8.1f} ms")
    print(f"hit stored → SMTP accepted, 100 hits (100 emails):     {single * 1000:8.1f} ms")
    print(
        f"outbox throughput to a webhook, 1 message per alert:   {rate:8.0f} alerts/s "
        "(json:// is not paced; Slack targets send at most 1 message/s)"
    )


if __name__ == "__main__":
    main()
