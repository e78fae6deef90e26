"""Full-text benchmark: extraction time per page, throughput, and what the auto policy costs.

Run:  .venv/bin/python bench/bench_fulltext.py [--runs 30] [--large-kb 2000]

Prints, for each fixture page in tests/fixtures/articles and for a large generated page, the
median time of ``extract_text``; extraction throughput on one thread and on a small pool; the
rate of fetch + extract through ``ArticleFetcher`` against a local server (politeness delay off,
so this is the cost of the work itself); and, when the labelled set is present, the share of its
stories that ``auto`` would fetch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.fetch import FetchLimits, make_client  # noqa: E402 - after the path set-up above
from monitor.fulltext import ArticleFetcher, extract_text, needs_full_text  # noqa: E402
from monitor.fulltext.policy import FULL_CONTENT_CHARS, feed_text_length  # noqa: E402
from monitor.models import Story  # noqa: E402

ARTICLES = ROOT / "tests" / "fixtures" / "articles"
LABELLED = ROOT / "tests" / "data" / "rules_labelled.yaml"
URL = "https://news.example/world/2026/12/04/story"
NOW = datetime(2026, 12, 4, tzinfo=UTC)


def median_seconds(work: Callable[[], object], runs: int) -> float:
    """Median wall time of ``work`` over ``runs`` calls, after one warm-up call."""
    work()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def large_page(target_bytes: int) -> bytes:
    """A news page of about ``target_bytes``: menus, a long sidebar, many paragraphs, a footer."""
    menu = "".join(f'<li><a href="/s/{n}">Section {n}</a></li>' for n in range(60))
    sidebar = "".join(f'<li><a href="/r/{n}">Related story number {n} on defence ties</a></li>'
                      for n in range(200))
    parts = [f'<html><head><title>Long read</title></head><body><nav class="menu"><ul>{menu}</ul></nav>'
             f'<aside class="sidebar"><ul>{sidebar}</ul></aside><article>']
    size, n = sum(map(len, parts)), 0
    while size < target_bytes:
        paragraph = (f"<p>Paragraph {n}: the delegation discussed item {n} of the agenda, including "
                     f"deliveries, spare parts, payment channels and the schedule for exercise {n}.</p>")
        parts.append(paragraph)
        size += len(paragraph)
        n += 1
    parts.append('</article><footer class="footer">© 2026 Example News</footer></body></html>')
    return "".join(parts).encode()


def bench_pages(runs: int, large_kb: int) -> list[bytes]:
    print(f"Extraction time per page (median of {runs} runs)")
    print(f"  {'page':<28} {'bytes':>9} {'text chars':>10} {'median ms':>10}")
    pages = []
    for path in sorted(ARTICLES.glob("*.html")):
        html = path.read_bytes()
        pages.append(html)
        text = extract_text(html, URL)
        ms = median_seconds(lambda html=html: extract_text(html, URL), runs) * 1000  # type: ignore[misc]
        print(f"  {path.name:<28} {len(html):>9} {len(text or ''):>10} {ms:>10.2f}")
    big = large_page(large_kb * 1000)
    text = extract_text(big, URL)
    ms = median_seconds(lambda: extract_text(big, URL), max(3, runs // 10)) * 1000
    print(f"  {'generated (large)':<28} {len(big):>9} {len(text or ''):>10} {ms:>10.2f}")
    return pages


def bench_throughput(pages: list[bytes], seconds: float) -> None:
    print(f"Extraction throughput over the fixture pages ({seconds:.0f} s each)")
    for workers in (1, 4):
        done = 0
        deadline = time.perf_counter() + seconds
        with ThreadPoolExecutor(workers) as pool:
            while time.perf_counter() < deadline:
                done += len(list(pool.map(lambda html: extract_text(html, URL), pages)))
        print(f"  {workers} thread(s): {done / seconds:8.1f} pages/s")


class _Handler(BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def bench_fetcher(count: int) -> None:
    _Handler.page = (ARTICLES / "news_nav_footer.html").read_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    limits = FetchLimits()
    try:
        with make_client(limits) as client:
            print(f"Fetch + extract through ArticleFetcher, local server, delay 0 ({count} stories)")
            for workers in (1, 4):
                fetcher = ArticleFetcher(client, limits, per_host=workers, delay=0.0)
                stories = [_story(f"{base}/story/{n}") for n in range(count)]
                started = time.perf_counter()
                with ThreadPoolExecutor(workers) as pool:
                    statuses = [outcome.status for outcome in pool.map(fetcher.fetch, stories)]
                elapsed = time.perf_counter() - started
                ok = statuses.count("ok")
                print(f"  {workers} thread(s): {count / elapsed:8.1f} stories/s  ({ok}/{count} ok)")
            print("  With the default politeness (per_host=2, delay=1.0 s) one host gets at most"
                  " 1 request/s;\n  hosts are independent, so a tick's total rate grows with"
                  " the number of sites.")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _story(url: str, title: str = "Headline", summary: str = "", body: str | None = None) -> Story:
    return Story(feed="bench", guid=url, url=url, title=title, summary=summary, body=body,
                 published=NOW, fetched=NOW)


def bench_policy() -> None:
    if not LABELLED.exists():
        print(f"Policy cost: {LABELLED.relative_to(ROOT)} not found, skipped")
        return
    import yaml

    items = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))["items"]
    stories = [_story(str(i.get("url") or i["id"]), str(i.get("title") or ""),
                      str(i.get("summary") or ""), i.get("body")) for i in items]
    short = sum(needs_full_text("auto", s, candidate=False) for s in stories)
    most = sum(needs_full_text("auto", s, candidate=True) for s in stories)
    full = sum(len(s.body or "") >= FULL_CONTENT_CHARS for s in stories)
    lengths = sorted(feed_text_length(s) for s in stories)
    n = len(stories)
    print(f"Policy cost on the labelled set ({n} stories; feed text median {lengths[n // 2]} chars)")
    print(f"  auto, no story a candidate : {short:4d} fetches ({short / n:6.1%})  <- short feed text")
    print(f"  auto, every story candidate: {most:4d} fetches ({most / n:6.1%})  <- upper bound")
    print(f"  always                     : {n:4d} fetches (100.0%); feeds already full: {full}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per page")
    parser.add_argument("--large-kb", type=int, default=2000, help="size of the generated page")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each throughput run")
    parser.add_argument("--stories", type=int, default=200, help="stories for the fetcher run")
    args = parser.parse_args()
    pages = bench_pages(args.runs, args.large_kb)
    bench_throughput(pages, args.seconds)
    bench_fetcher(args.stories)
    bench_policy()


if __name__ == "__main__":
    main()
