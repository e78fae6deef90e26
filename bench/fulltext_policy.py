"""What the full-text policy costs and gains, measured on the labelled rule set.

Cost: article requests per new story under `full_text: auto | always | never` (auto with the
default min_chars and with a lower one), using the real policy and the real rules' prefilter.
Gain: recall of the default rules when they see only title + summary, versus title + summary +
article body, on the labelled items that carry a body (the cases where the feed text alone
says too little).

Run: .venv/bin/python bench/fulltext_policy.py
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.config import load_settings  # noqa: E402
from monitor.fulltext import needs_full_text  # noqa: E402
from monitor.match import compile_rules  # noqa: E402
from monitor.models import Story  # noqa: E402

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def main() -> None:
    settings = load_settings(ROOT / "config" / "offline.yaml", env={})
    rules = compile_rules(settings.rule_objects(), settings.term_lists)
    items = yaml.safe_load((ROOT / "tests" / "data" / "rules_labelled.yaml").read_text())["items"]
    stories = [
        (item, Story(feed=item["feed"], guid=item["id"], url=item["url"], title=item["title"],
                     summary=item["summary"], published=NOW, fetched=NOW, lang=item["lang"]))
        for item in items
    ]
    print(f"{len(stories)} labelled stories")
    for label, mode, min_chars in (("never", "never", 400), ("always", "always", 400),
                                   ("auto (min_chars 400, default)", "auto", 400),
                                   ("auto (min_chars 200)", "auto", 200), ("auto (min_chars 0)", "auto", 0)):
        fetched = sum(
            needs_full_text(mode, story, candidate=rules.is_candidate(story), min_chars=min_chars)  # type: ignore[arg-type]
            for _item, story in stories
        )
        print(f"  requests per new story, {label:<30} {fetched / len(stories):.2f}")
    with_body = [(item, story) for item, story in stories if item.get("body")]
    for rule, label in (("relos", "relos"), ("india-russia-defence", "defence")):
        positives = [(item, story) for item, story in with_body if item[label]]
        if not positives:
            continue
        feed_only = sum(any(m.rule == rule for m in rules.match(story)) for _i, story in positives)
        full = sum(any(m.rule == rule for m in rules.match(replace(story, body=item["body"])))
                   for item, story in positives)
        print(f"  {rule}: recall on the {len(positives)} positives with an article body: "
              f"feed text only {feed_only}/{len(positives)}, with the body {full}/{len(positives)}")


if __name__ == "__main__":
    main()
