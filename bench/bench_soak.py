"""Soak: the daemon as users run it, polling fast for minutes, watched for leaks and repeats.

A month of polling compressed: 12 local feeds polled every second, each gaining a new story
every few seconds (a few of them RELOS stories, the rest noise), alerts to a local webhook and
a local SMTP server. The daemon runs in a subprocess; every ``--sample`` seconds its resident
memory, open file descriptors and threads are read from /proc.

Prints the samples, then the growth over the second half of the run (the first fills caches
and the clustering window, 2 minutes here instead of 3 days): memory per hour, file descriptors
and threads, which must not climb. At the end
it checks delivery: every matching story alerted exactly once to each target, none twice.

Run: .venv/bin/python bench/bench_soak.py [--minutes 10] (Linux: reads /proc).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.feeds import Item, rss
from tests.servers import HTTPServer, Route, SMTPServer, body_text, wait_for

FEEDS = 12
#: Stories a feed keeps in its document, as real feeds keep their latest 20 to 50.
WINDOW = 30
SYLLABLES = ("ka", "ra", "mo", "ne", "vi", "sa", "to", "lu", "pe", "di", "an", "or", "el", "ur",
             "ba", "ko", "mi", "te", "zu", "ha", "ro", "li", "na", "de", "ga", "ve", "po")
# Stories of different events share few words (templates that differ only in names would be
# one event to the clustering, rightly or not, and alert once): mostly made-up names.
RELOS_TEMPLATES = (
    "RELOS: {a} {b} {c}",
    "{a} {b} RELOS {c}",
    "{a} on RELOS with {b} {c}",
)
NOISE_TEMPLATES = (
    "{a} cricket {b} {c}",
    "{a} rains {b} {c}",
    "{a} Motors {b} {c}",
    "{a} shares {b} {c}",
)


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(4)).capitalize()


@dataclass
class Feeds:
    """Feed documents that gain stories over time, served by a local HTTP server."""

    server: HTTPServer
    relos_share: float = 0.15

    def __post_init__(self) -> None:
        self.rng = random.Random(7)
        self.items: dict[int, list[Item]] = {f: [] for f in range(FEEDS)}
        self.relos_titles: list[str] = []
        self.published = 0
        for f in range(FEEDS):
            self.server.routes[f"/feed/{f}"] = Route(rss([], title=f"Feed {f}"))

    def publish(self) -> None:
        """One new story in one feed."""
        f = self.rng.randrange(FEEDS)
        relos = self.rng.random() < self.relos_share
        template = self.rng.choice(RELOS_TEMPLATES if relos else NOISE_TEMPLATES)
        title = template.format(a=_name(self.rng), b=_name(self.rng), c=_name(self.rng))
        n = self.published
        summary = " ".join(_name(self.rng) for _ in range(12)) + "."
        item = Item(f"s-{n}", title, summary, f"https://feed{f}.example/news/{n}")
        self.items[f] = [item, *self.items[f]][:WINDOW]
        self.server.routes[f"/feed/{f}"] = Route(rss(self.items[f], title=f"Feed {f}"))
        self.published += 1
        if relos:
            self.relos_titles.append(title)


def _config(directory: Path, database: str | None, window: str, server: HTTPServer, smtp: SMTPServer) -> Path:
    feeds = "".join(
        f"  - name: Feed {f}\n    url: {server.url(f'/feed/{f}')}\n" for f in range(FEEDS)
    )
    config = directory / "soak.yaml"
    config.write_text(
        f"""database: {database or f"sqlite:///{directory}/soak.db"}
interval: 1s
tick: 1s
full_text: never
delivery: {{tick: 1s}}
dedup: {{window: {window}}}
# The daemon is under test here, not the shipped rules (their precision is tested elsewhere).
rules:
  - name: relos
    query: =RELOS
feeds:
{feeds}
notifications:
  - name: hook
    url: json://127.0.0.1:{server.port}/hook
  - name: email
    url: {smtp.url()}
""",
        encoding="utf-8",
    )
    return config


def _proc(pid: int) -> tuple[float, int, int]:
    """Resident memory (MiB), open file descriptors and threads of a process."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_mib = int(fields["VmRSS"].split()[0]) / 1024
    threads = int(fields["Threads"])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_mib, fds, threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the daemon runs")
    parser.add_argument("--sample", type=float, default=15.0, help="seconds between samples")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between new stories")
    parser.add_argument("--window", default="2m", help="dedup.window: the clustering index holds this"
                        " much news, so a short one reaches within minutes the size a daemon's index"
                        " reaches in 3 days")
    parser.add_argument("--database", help="an empty database to use (default: a new SQLite file),"
                        " e.g. postgresql://postgres@127.0.0.1/soak")
    args = parser.parse_args()
    server = HTTPServer()
    smtp = SMTPServer()
    smtp.start()
    feeds = Feeds(server)
    stop = threading.Event()

    def publisher() -> None:
        while not stop.wait(args.every):
            feeds.publish()

    with tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp), args.database, args.window, server, smtp)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        # The log can fill a pipe over minutes: drain it, keeping only warnings and errors.
        problems: list[str] = []

        def drain() -> None:
            assert daemon.stderr is not None
            for line in daemon.stderr:
                if " WARNING " in line or " ERROR " in line or "Traceback" in line:
                    problems.append(line.rstrip())

        threading.Thread(target=drain, daemon=True).start()
        thread = threading.Thread(target=publisher, daemon=True)
        thread.start()
        samples: list[tuple[float, float, int, int]] = []
        started = time.monotonic()
        end = started + args.minutes * 60
        print(f"{'minute':>7} {'RSS MiB':>8} {'fds':>5} {'threads':>8} {'stories':>8} {'alerts':>7}")
        try:
            while time.monotonic() < end and daemon.poll() is None:
                time.sleep(min(args.sample, max(0.0, end - time.monotonic())))
                rss_mib, fds, threads = _proc(daemon.pid)
                minute = (time.monotonic() - started) / 60
                samples.append((minute, rss_mib, fds, threads))
                print(f"{minute:>7.1f} {rss_mib:>8.1f} {fds:>5} {threads:>8} {feeds.published:>8}"
                      f" {len(server.posts('/hook')):>7}", flush=True)
        finally:
            stop.set()
            thread.join()
        # Let the last polls and deliveries happen, then stop the daemon as an operator would.
        expected = len(feeds.relos_titles)
        wait_for(lambda: len(server.posts("/hook")) >= expected, 60)
        time.sleep(5)  # email may still be sending
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(60)
        db_file = Path(tmp) / "soak.db"
        db_size = f"; database {db_file.stat().st_size / 2**20:.1f} MiB" if db_file.exists() else ""
    server.close()
    smtp.stop()
    if daemon.returncode is None or code != 0:
        print(f"the daemon exited with {code}")
    # Caches, the clustering window and SQLite's page cache fill during the first half.
    warm = [s for s in samples if s[0] >= samples[-1][0] / 2] or samples
    hours = (warm[-1][0] - warm[0][0]) / 60 or 1.0
    slope = (statistics.median(s[1] for s in warm[-3:]) - statistics.median(s[1] for s in warm[:3])) / hours
    print(f"\n{feeds.published} stories published, {expected} of them RELOS stories"
          f"{db_size}")
    print(f"second half: memory {warm[0][1]:.1f} -> {warm[-1][1]:.1f} MiB ({slope:+.1f} MiB/hour),"
          f" fds {warm[0][2]} -> {warm[-1][2]}, threads {warm[0][3]} -> {warm[-1][3]}")
    # A burst may go out as one combined message: look for each story's title in every message.
    hook = [f"{post['title']}\n{post['message']}" for post in server.posts("/hook")]
    mail = [body_text(m) for m in smtp.messages]
    for target, messages in (("webhook", hook), ("email", mail)):
        seen = Counter(t for t in feeds.relos_titles for text in messages if t in text)
        missing = [t for t in feeds.relos_titles if not seen[t]]
        print(f"{target}: {len(seen)} of {expected} stories alerted in {len(messages)} messages,"
              f" {sum(n > 1 for n in seen.values())} more than once")
        for title in missing[:3]:
            print(f"  not alerted: {title}")
    print(f"warnings and errors logged: {len(problems)}")
    for line in problems[:10]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
