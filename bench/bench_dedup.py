"""Benchmark and threshold sweep for monitor.dedup.

    python bench/bench_dedup.py                 # throughput and memory (1k / 10k / 100k index)
    python bench/bench_dedup.py --sizes 1000,10000 --runs 3
    python bench/bench_dedup.py sweep           # precision/recall per threshold, labelled set

Throughput: identity keys per second, and fingerprint + assign per second against an index
pre-filled with N synthetic stories spread over the window (a fifth of them rewrites of
another). Half the queries are fresh stories, half light rewrites of an indexed story published
up to 6 hours after it. Figures are medians over --runs runs. Quality at scale: the share of
fresh (unrelated) stories that wrongly join a cluster, and of rewrites that find their source.
Memory is what tracemalloc sees allocated while the largest index is built (numpy reports its
buffers to tracemalloc).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from monitor.dedup import ClusterIndex, Fingerprint, fingerprint, identity_keys
from monitor.dedup.cluster import _DF_MASK
from monitor.dedup.text import STOPWORDS
from monitor.models import Story

NOW = datetime(2025, 12, 5, 12, tzinfo=UTC)
WINDOW = timedelta(days=3)


class Corpus:
    """Synthetic news: Zipf-distributed content words mixed with real English stopwords."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        syllables = [c + v for c in "bdfghklmnprstvz" for v in "aeiou"]
        words: set[str] = set()
        while len(words) < 60_000:
            words.add("".join(self.rng.choices(syllables, k=self.rng.randint(2, 4))))
        self.words = sorted(words)
        self.rng.shuffle(self.words)
        # rank 20 onwards: the commonest content words appear in a few percent of stories
        self.cum_weights = list(
            itertools.accumulate(1.0 / (rank + 20) for rank in range(len(self.words)))
        )
        self.stop = sorted(w for w in STOPWORDS if w.isascii())
        self.serial = 0

    def _text(self, n: int) -> list[str]:
        content = self.rng.choices(self.words, cum_weights=self.cum_weights, k=n)
        out = []
        for word in content:
            out.append(word)
            if self.rng.random() < 0.4:
                out.append(self.rng.choice(self.stop))
        return out

    def story(self, published: datetime) -> Story:
        """A fresh story."""
        self.serial += 1
        title = " ".join(self._text(self.rng.randint(7, 11))).capitalize()
        summary = " ".join(self._text(self.rng.randint(30, 45))) + "."
        return self._make(title, summary, published)

    def rewrite(self, story: Story, published: datetime) -> Story:
        """A light rewrite: a third of the words replaced, some dropped, order kept."""
        self.serial += 1

        def edit(text: str) -> str:
            kept = [w for w in text.split() if self.rng.random() > 0.1]
            fresh = iter(self.rng.choices(self.words, cum_weights=self.cum_weights, k=len(kept)))
            return " ".join(next(fresh) if self.rng.random() < 0.3 else w for w in kept)

        return self._make(edit(story.title), edit(story.summary), published)

    def _make(self, title: str, summary: str, published: datetime) -> Story:
        url = f"https://outlet{self.serial % 300}.example/news/{self.serial}-{title[:20]}"
        return Story(
            feed=f"feed-{self.serial % 500}",
            guid=url,
            url=url.replace(" ", "-"),
            title=title,
            summary=summary,
            published=published,
            fetched=published,
            link=url,
        )


def timed(fn: Callable[[], object], runs: int) -> float:
    """Median wall-clock seconds of ``fn`` over ``runs`` runs."""
    times = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build_index(corpus: Corpus, size: int) -> tuple[ClusterIndex, list[Story], float]:
    """An index of ``size`` synthetic stories published over the window before NOW, and the
    seconds the ``add`` calls took."""
    stories: list[Story] = []
    for _ in range(size):
        when = NOW - WINDOW * corpus.rng.random()
        if stories and corpus.rng.random() < 0.2:
            stories.append(corpus.rewrite(corpus.rng.choice(stories), when))
        else:
            stories.append(corpus.story(when))
    fps = [fingerprint(s) for s in stories]
    index = ClusterIndex(WINDOW)
    start = time.perf_counter()
    for n, (story, fp) in enumerate(zip(stories, fps, strict=True)):
        index.add(f"story-{n}", fp, story.published, f"cluster-{n}")
    return index, stories, time.perf_counter() - start


def bench(sizes: list[int], runs: int, queries: int) -> None:
    """Print identity and clustering throughput per index size, and the memory of the largest."""
    corpus = Corpus()
    probe = [corpus.story(NOW) for _ in range(queries)]
    seconds = timed(lambda: [identity_keys(s) for s in probe], runs)
    print(f"identity keys: {queries / seconds:,.0f} stories/s ({seconds / queries * 1e6:.0f} µs each)")
    seconds = timed(lambda: [fingerprint(s) for s in probe], runs)
    print(f"fingerprint alone: {queries / seconds:,.0f} stories/s ({seconds / queries * 1e6:.0f} µs each)")
    print()
    print(f"{'index size':>10}  {'fingerprint+assign':>20}  {'assign only':>12}  {'candidates':>10}  "
          f"{'add':>6}  {'unrelated joined':>16}  {'rewrites found':>14}")
    for size in sizes:
        index, stories, build = build_index(corpus, size)
        sources = [corpus.rng.randrange(size) for _ in range(queries // 2)]
        rewrites = [
            corpus.rewrite(stories[n], stories[n].published + timedelta(hours=6 * corpus.rng.random()))
            for n in sources
        ]
        fresh = [corpus.story(NOW) for _ in range(queries - len(rewrites))]
        batch = [s for pair in zip(fresh, rewrites, strict=False) for s in pair]
        fps = [(fingerprint(s), s.published) for s in batch]
        both = timed(lambda: [index.assign(fingerprint(s), s.published) for s in batch], runs)  # noqa: B023 - used at once
        assign = timed(lambda: [index.assign(fp, when) for fp, when in fps], runs)  # noqa: B023
        candidates = statistics.mean(_candidates(index, fp) for fp, _ in fps[:500])
        wrong = sum(1 for s in fresh if index.assign(fingerprint(s), NOW) is not None)
        found = sum(
            1
            for s, n in zip(rewrites, sources, strict=True)
            if index.assign(fingerprint(s), s.published) == f"cluster-{n}"
        )
        print(f"{size:>10,}  {queries / both:>13,.0f} st/s  {assign / queries * 1e6:>9.0f} µs  "
              f"{candidates:>10.1f}  {build / size * 1e6:>3.0f} µs  {wrong / len(fresh):>16.1%}  "
              f"{found / len(rewrites):>14.1%}")
        del index, stories
    largest = max(sizes)
    gc.collect()
    fps_input = _fingerprints(corpus, largest)
    gc.collect()
    tracemalloc.start()
    index = ClusterIndex(WINDOW)
    for n, (when, fp) in enumerate(fps_input):
        index.add(f"story-{n}", fp, when, f"cluster-{n}")
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print()
    print(f"memory of a {largest:,}-story index: {current / 2**20:,.0f} MiB "
          f"({current / largest:,.0f} bytes per story; peak while building {peak / 2**20:,.0f} MiB)")


def _fingerprints(corpus: Corpus, size: int) -> list[tuple[datetime, Fingerprint]]:
    index_input = []
    for _ in range(size):
        when = NOW - WINDOW * corpus.rng.random()
        index_input.append((when, fingerprint(corpus.story(when))))
    return index_input


def _candidates(index: ClusterIndex, fp: Fingerprint) -> int:
    """How many stories the rare-term postings propose for ``fp`` (before the score bound and
    the top-K cut)."""
    query = np.frombuffer(fp.terms, dtype="<u4")
    df = index._df[query & _DF_MASK]
    rare = query[df < index.common_df]
    slots, _ = index._postings.lookup(rare, index.common_df)
    return int(np.unique(slots).size)


def sweep() -> None:
    """Print pairwise precision/recall on the labelled set for a range of thresholds: on the
    development items alone (what the default was chosen on) and on the holdout's pairs."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_dedup_cluster import items, labels, raw_items  # type: ignore[import-not-found]

    from monitor.dedup.evaluate import pairwise, pairwise_involving, replay

    holdout = {i["id"] for i in raw_items() if i.get("split") == "holdout"}
    stream, truth = items(), labels()
    dev = [i for i in stream if i.id not in holdout]
    dev_truth = {i.id: i.label for i in dev}
    print(f"{len(dev)} development stories in {len(set(dev_truth.values()))} events, "
          f"{len(holdout)} holdout stories; pairwise precision / recall")
    print(f"{'threshold':>9}  {'dev, 3-day window':>17}  {'dev, 10-day window':>18}  "
          f"{'holdout pairs, 3-day':>20}")
    for step in range(6, 32, 2):
        threshold = step / 100
        row = []
        for days in (3, 10):
            run = replay(dev, ClusterIndex(timedelta(days=days), threshold))
            scores = pairwise(dev_truth, run.clusters)
            row.append(f"{scores.precision:.3f} / {scores.recall:.3f}")
        run = replay(stream, ClusterIndex(timedelta(days=3), threshold))
        held = pairwise_involving(truth, run.clusters, holdout)
        row.append(f"{held.precision:.3f} / {held.recall:.3f}")
        print(f"{threshold:>9.2f}  {row[0]:>17}  {row[1]:>18}  {row[2]:>20}")


def main() -> None:
    """Parse arguments and run the benchmark or the sweep."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("command", nargs="?", default="bench", choices=["bench", "sweep"])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    if args.command == "sweep":
        sweep()
    else:
        bench([int(s) for s in args.sizes.split(",")], args.runs, args.queries)


if __name__ == "__main__":
    main()
