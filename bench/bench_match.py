"""Benchmark: stories per second for 1 KB stories against 10, 100, 1,000 and 10,000 rules.

Run: ``.venv/bin/python bench/bench_match.py`` (``--quick`` for a smoke run).

Stories and rules are generated with a fixed seed. Stories read like wire copy: common English
words, defence vocabulary, and proper names drawn from a large Zipf-distributed name pool (a few
names are in many stories, most in few); a share of them has typographic quotes and dashes, as
real feeds do. Rules look like an analyst's: names and phrases combined with AND/OR/NOT,
proximity, NEAR, wildcards, fields and exact-case acronyms. Target (issue 3): ≥ 20,000 stories/s
at 1,000 rules, and 10,000 rules at most 2× slower than 10.

Columns: ``stories/s`` is ``RuleSet.match`` (the figure the target is about); ``prefilter/s`` is
``RuleSet.is_candidate``, i.e. folding plus the one automaton pass; ``evaluated`` and
``matches`` are rules per story that pass the prefilter and that match. Times are CPU seconds
of this process, medians of several round-robin runs.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.match import RuleSet, compile_rules
from monitor.models import Rule, Story

ROOT = Path(__file__).resolve().parent.parent

SEED = 20260301


def _words(text: str) -> list[str]:
    return text.split()


COMMON = _words(
    "the of and to in a is that for on it with as was at by be this from have has had are "
    "were not but or an its their which said will would after more than about also other new "
    "two first year years last people state government minister officials told week month "
    "could over into when been while under since during between against before they he she "
    "we our us his her who what all one some any such only time day talks meeting visit plan "
    "country countries region report reports statement spokesperson press capital city national "
    "international foreign economic trade policy security issue issues support agreement deal "
    "deals cooperation relations ties partners summit president prime leaders delegation"
)
DOMAIN = _words(
    "defence defense military army navy air force warship frigate frigates submarine missile "
    "missiles systems fighter jets aircraft helicopters tanks rifles ammunition exercise drills "
    "joint logistics support pact treaty procurement delivery deliveries contract contracts "
    "co-production licence manufacturing sanctions payment payments rupee rouble oil gas wheat "
    "fertiliser nuclear space satellite launch cricket football election budget monsoon "
    "S-400 Su-57 Su-30MKI BrahMos MiG-29K T-90 AK-203 Igla-S Kamov Ka-226 INS RELOS LEMOA BECA"
)
STEMS = _words("logist defen militar procur deliver missil submarin exercis sanction payment")
SYLLABLES = _words(
    "ka ra mo ne vi sa to lu pe di an or el ur ba ko mi te zu ha ro li na de ga ve po si "
    "dra kor len mar tov vin sel bru gan hol"
)
#: Share of stories with curly quotes and en dashes (non-ASCII punctuation), as real feeds have.
TYPOGRAPHIC_SHARE = 0.3
#: Names are a tenth of the words, Zipf-distributed with this exponent over NAMES names: the
#: most frequent name is in about one story in six, most names in almost none.
NAME_SKEW = 0.8
#: Size of the name pool. News names far more people, places and firms than 10,000 rules track.
NAMES = 200_000


def _names(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if len(word) >= 5:
            names.add(word.capitalize())
    return sorted(names)


def _zipf_weights(n: int, s: float = NAME_SKEW) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


class Generator:
    """Deterministic stories and rules over one shared vocabulary."""

    def __init__(self, seed: int = SEED, names: int = NAMES) -> None:
        self.rng = random.Random(seed)
        self.names = _names(self.rng, names)
        self.rng.shuffle(self.names)
        self.name_cumulative = list(itertools.accumulate(_zipf_weights(len(self.names))))
        self.acronyms = sorted({"".join(self.rng.choices("ABCDEFGHKLMNPRSTUVZ", k=4))
                                for _ in range(3000)})

    def _name(self) -> str:
        return self.rng.choices(self.names, cum_weights=self.name_cumulative)[0]

    def _word(self) -> str:
        r = self.rng.random()
        if r < 0.76:
            return self.rng.choice(COMMON)
        if r < 0.88:
            return self.rng.choice(DOMAIN)
        if r < 0.90:
            return self.rng.choice(self.acronyms)
        return self._name()

    def _sentence(self, typographic: bool) -> str:
        words = [self._word() for _ in range(self.rng.randint(8, 22))]
        words[0] = words[0][:1].upper() + words[0][1:]
        if typographic and self.rng.random() < 0.4:
            i = self.rng.randrange(len(words))
            words[i] = f"“{words[i]}”"
        if typographic and self.rng.random() < 0.3:
            i = self.rng.randrange(len(words) - 1)
            words[i] = f"{words[i]} –"
        return " ".join(words) + self.rng.choice(".....?")

    def story(self, i: int) -> Story:
        """A story of about 1 KB (title, summary and body together)."""
        typographic = self.rng.random() < TYPOGRAPHIC_SHARE
        title = self._sentence(typographic).rstrip(".?")
        summary = self._sentence(typographic)
        body = ""
        while len(title) + len(summary) + len(body) < 1000:
            body += self._sentence(typographic) + " "
        now = datetime(2026, 3, 1, tzinfo=UTC)
        return Story(feed="bench", guid=str(i), url=f"https://example.org/news/{i}", title=title,
                     summary=summary, published=now, fetched=now, body=body.strip())

    def _anchor(self) -> str:
        """A rule's main subject: a name, a two-word name or an acronym."""
        r = self.rng.random()
        if r < 0.55:
            return self.rng.choice(self.names)
        if r < 0.85:
            return f'"{self.rng.choice(self.names)} {self.rng.choice(self.names)}"'
        return "=" + self.rng.choice(self.acronyms)

    def _topic(self, k: int) -> str:
        words = self.rng.sample(DOMAIN, k)
        return "(" + " OR ".join(f'"{w}"' if "-" in w else w for w in words) + ")"

    def rule(self, i: int) -> Rule:
        """One rule from a mix of realistic shapes."""
        a, b = self._anchor(), self._anchor()
        shape = self.rng.randrange(8)
        if shape == 0:
            query = f"{a} AND {self._topic(3)}"
        elif shape == 1:
            query = f"({a} OR {b}) {self._topic(2)} -{self.rng.choice(DOMAIN[-20:])}"
        elif shape == 2:
            n1, n2 = self.rng.choice(self.names), self.rng.choice(self.names)
            query = f'"{n1} {n2}"~5 OR {a}'
        elif shape == 3:
            # A stem for inflected forms, as analysts write for Russian names (Медведев*).
            stem = self.rng.choice(self.names)[:-1]
            query = f"{stem}* AND ({self.rng.choice(STEMS)}* OR {self.rng.choice(DOMAIN)})"
        elif shape == 4:
            query = f"{a} NEAR/5 {self._topic(3)}"
        elif shape == 5:
            query = f"title:{a} OR summary:({b} AND {self._topic(2)})"
        elif shape == 6:
            query = f"{a} {b} NOT (cricket OR football)"
        else:
            query = f"({a} OR {b} OR {self._anchor()}) AND NOT {self.rng.choice(COMMON)}"
        return Rule(name=f"rule-{i}", query=query)


def _rate(run: Callable[[Story], object], stories: list[Story]) -> float:
    # CPU time of this process: the figure is per core, and other processes on the machine
    # disturb it less than wall-clock time.
    started = time.process_time()
    for s in stories:
        run(s)
    return len(stories) / (time.process_time() - started)


_LATIN = "abcdefghijklmnopqrstuvwxyz"
_CYRILLIC = dict(zip(map(ord, _LATIN + _LATIN.upper()),
                     "абцдефгхийклмнопярстуввхызАБЦДЕФГХИЙКЛМНОПЯРСТУВВХЫЗ", strict=True))
# Consonants with vowel signs and a virama, so words carry combining marks as Hindi does.
_DEVANAGARI = dict(zip(map(ord, _LATIN + _LATIN.upper()),
                       ["ा", "ब", "च", "द", "े", "फ", "ग", "ह", "ि", "ज", "क", "ल", "म", "न", "ो",
                        "प", "क़", "र", "स", "त", "ु", "व", "व", "क्ष", "य", "ज़"] * 2, strict=True))


def _in_script(story: Story, table: dict[int, str]) -> Story:
    """The same story, letters mapped to another script: prices folding non-Latin text."""
    return replace(story, title=story.title.translate(table),
                   summary=story.summary.translate(table),
                   body=(story.body or "").translate(table))


def _cache_cost(rs: RuleSet, stories: list[Story]) -> tuple[float, float]:
    """Median µs to evaluate a candidate rule: as met in a run, where its compiled nodes are
    cold in memory, and again at once on a fresh view of the same story, where they are warm.
    The gap is what 10,000 rules (tens of MB of Python objects) cost beyond the work itself."""
    cold: list[float] = []
    warm: list[float] = []
    for story in stories:
        first, second = rs._view(story), rs._view(story)  # private: for the report only
        for i in rs._candidates(first):
            test = rs._compiled[i].test
            started = time.perf_counter()
            test.test(first)
            middle = time.perf_counter()
            test.test(second)
            cold.append(middle - started)
            warm.append(time.perf_counter() - middle)
    return statistics.median(cold) * 1e6, statistics.median(warm) * 1e6


def _default_rules() -> RuleSet:
    """The shipped rules (config/rules.yaml): two rules over term lists of hundreds of words."""
    data = yaml.safe_load((ROOT / "config" / "rules.yaml").read_text(encoding="utf-8"))
    return compile_rules([Rule(name=r["name"], query=r["query"]) for r in data["rules"]], data["term_lists"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer stories and runs")
    args = parser.parse_args()
    n_stories, runs = (500, 3) if args.quick else (3000, 9)
    gen = Generator()
    stories = [gen.story(i) for i in range(n_stories)]
    all_rules = [gen.rule(i) for i in range(10_000)]
    size = statistics.mean(len(s.title) + len(s.summary) + len(s.body or "") for s in stories)
    print(f"{n_stories} stories of {size:.0f} characters on average, "
          f"{TYPOGRAPHIC_SHARE:.0%} with typographic punctuation; CPU time, median of {runs} runs")
    counts = (10, 100, 1_000, 10_000)
    rulesets: dict[int, RuleSet] = {}
    compile_seconds: dict[int, float] = {}
    evaluated: dict[int, float] = {}
    matched: dict[int, float] = {}
    for count in counts:
        started = time.process_time()
        rulesets[count] = compile_rules(all_rules[:count], {})
        compile_seconds[count] = time.process_time() - started
        rs = rulesets[count]
        # Private, for the report only: how many rules the prefilter lets through per story.
        evaluated[count] = statistics.mean(len(rs._candidates(rs._view(s))) for s in stories)
        matched[count] = statistics.mean(len(rs.match(s)) for s in stories)
    # Round-robin, so a burst of load elsewhere on the machine hits every size alike.
    rates: dict[int, list[float]] = {count: [] for count in counts}
    prefilter: dict[int, list[float]] = {count: [] for count in counts}
    for _ in range(runs):
        for count in counts:
            rates[count].append(_rate(rulesets[count].match, stories))
            prefilter[count].append(_rate(rulesets[count].is_candidate, stories))
    median = {count: statistics.median(rates[count]) for count in counts}
    print(f"{'rules':>7} {'stories/s':>10} {'prefilter/s':>12} {'evaluated':>10}"
          f" {'matches':>8} {'compile s':>10}")
    for count in counts:
        print(f"{count:>7,} {median[count]:>10,.0f} {statistics.median(prefilter[count]):>12,.0f}"
              f" {evaluated[count]:>10.2f} {matched[count]:>8.3f} {compile_seconds[count]:>10.2f}")
    pre = {count: statistics.median(prefilter[count]) for count in counts}
    print(f"slowdown 10,000 vs 10 rules: {median[10] / median[10_000]:.2f}x"
          f" (prefilter alone: {pre[10] / pre[10_000]:.2f}x)")
    # Where the time per story goes at 10,000 rules: the prefilter (fold, one automaton pass,
    # candidate lookup), then evaluating the candidates and building the matches.
    per_story = 1e6 / median[10_000]
    prefilter_us = 1e6 / pre[10_000]
    print(f"at 10,000 rules: {per_story:.1f} us per story = {prefilter_us:.1f} prefilter"
          f" + {per_story - prefilter_us:.1f} evaluating {evaluated[10_000]:.2f} candidate rules"
          f" and building {matched[10_000]:.2f} matches; at 10 rules: {1e6 / median[10]:.1f} us")
    cold, warm = _cache_cost(rulesets[10_000], stories)
    print(f"evaluating one candidate rule of 10,000: {cold:.1f} us as the run meets it, {warm:.1f} us"
          " right after evaluating it once more (its compiled nodes in the CPU caches)")
    shipped = _default_rules()
    rate = statistics.median(_rate(shipped.match, stories) for _ in range(runs))
    print(f"the shipped default rules (config/rules.yaml): {rate:,.0f} stories/s")
    for script, table in (("Cyrillic", _CYRILLIC), ("Devanagari", _DEVANAGARI)):
        other = [_in_script(s, table) for s in stories]
        rate = statistics.median(_rate(rulesets[1_000].match, other) for _ in range(runs))
        print(f"same stories in {script} letters, 1,000 rules: {rate:,.0f} stories/s")


if __name__ == "__main__":
    main()
