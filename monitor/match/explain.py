"""Explanations and snippets: why a rule did or did not match, with the words shown in context."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from monitor.match.evaluate import REASON
from monitor.models import Rule, Span, Story

_SPACES = re.compile(r"\s+")
_FIELD_ORDER = ("title", "summary", "body", "url", "feed", "source")


def guillemets(term: str) -> str:
    """The default marker: «term»."""
    return f"«{term}»"


def _same(text: str) -> str:
    return text


def snippet(
    text: str,
    spans: Sequence[Span],
    width: int = 200,
    mark: Callable[[str], str] = guillemets,
    escape: Callable[[str], str] = _same,
) -> str:
    """About ``width`` characters of ``text`` around its first matched span(s), each matched
    term passed through ``mark`` and everything else through ``escape``.

    ``spans`` must be spans of this text (filter a match's spans by field first). Whitespace is
    collapsed and cut ends get "…". For HTML: ``mark=lambda t: f"<mark>{t}</mark>"`` and
    ``escape=html.escape`` (the term is escaped before it is marked).
    """
    inside = sorted((s for s in spans if 0 <= s.start < s.end <= len(text)), key=lambda s: (s.start, -s.end))
    if not inside:
        end = _cut_end(text, min(len(text), width))
        return _piece(text[:end], escape) + ("…" if end < len(text) else "")
    first = inside[0]
    lead = max(0, (width - (first.end - first.start)) // 3)
    start = max(0, first.start - lead)
    end = min(len(text), max(first.end, start + width))
    if end - start < width:
        start = max(0, min(start, end - width))
    start = _cut_start(text, start, first.start)
    end = _cut_end(text, end, first.end)
    out: list[str] = ["…" if start > 0 else ""]
    pos = start
    for span in inside:
        if span.start < pos or span.end > end:
            continue  # overlaps a span already marked, or runs past the window
        out.append(_piece(text[pos : span.start], escape))
        out.append(mark(_piece(text[span.start : span.end], escape)))
        pos = span.end
    out.append(_piece(text[pos:end], escape))
    out.append("…" if end < len(text) else "")
    return "".join(out).strip()


#: Characters of a query, a branch or a failed clause shown in a report.
_SHOWN = 240


def _one_line(clause: str, limit: int = 0) -> str:
    """A clause of a query written over YAML lines, on one line, as the query is shown; cut at
    a word after ``limit`` characters if given (a shipped rule runs to 3,000: its text is in
    the config, the report needs only enough to recognise it)."""
    text = " ".join(clause.split())
    if not limit or len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit] + f" … ({len(text):,} characters)"


def _piece(text: str, escape: Callable[[str], str]) -> str:
    return escape(_SPACES.sub(" ", text))


def _cut_start(text: str, start: int, limit: int) -> int:
    """Move a window's start forward to the next word start (never past ``limit``)."""
    if start == 0 or text[start - 1].isspace():
        return start
    space = text.find(" ", start, limit)
    return space + 1 if space >= 0 else start


def _cut_end(text: str, end: int, limit: int = 0) -> int:
    """Move a window's end back to the previous word end (never before ``limit``)."""
    if end >= len(text) or text[end].isspace():
        return end
    space = text.rfind(" ", limit, end)
    return space if space > limit else end


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why one rule matched a story or not.

    ``spans`` are where positive terms matched (for a non-match: those that occur anyway);
    ``failed`` the parts of the query, as written, that were false and made the rule fail.
    When the whole query is an OR that failed, ``alternatives`` holds each of its branches with
    the parts that branch failed on.
    """

    rule: Rule
    matched: bool
    spans: tuple[Span, ...]
    failed: tuple[str, ...]
    alternatives: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def render(self, story: Story) -> str:
        """A report for a person: MATCH / NO MATCH, the terms in context, and what failed."""
        lines = [
            f"{'MATCH' if self.matched else 'NO MATCH'}: rule {self.rule.name!r}",
            f"  query: {_one_line(self.rule.query, _SHOWN)}",
        ]
        terms = list(dict.fromkeys(" ".join(s.term.split()) for s in self.spans))
        if terms:
            label = "matched" if self.matched else "found (not enough to match)"
            lines.append(f"  {label}: {', '.join(terms)}")
        texts = {
            "title": story.title,
            "summary": story.summary,
            "body": story.body or "",
            "url": story.url,
            "feed": story.feed,
            "source": story.outlet,
        }
        for field in _FIELD_ORDER:
            spans = [s for s in self.spans if s.field == field]
            if spans:
                lines.append(f"  {field}: {snippet(texts[field], spans, width=160)}")
        if not self.matched:
            reasons = [*self.failed, *(w for _, why in self.alternatives for w in why)]
            if not self.spans and not any(REASON in r for r in reasons):
                lines.append("  none of the query's terms occur in the story")
            if self.alternatives:
                lines.append(f"  failed: none of the {len(self.alternatives)} alternatives holds")
                for branch, why in self.alternatives:
                    reasons = [_one_line(w, _SHOWN) for w in why if w != branch]
                    fails = f"  fails on: {'; '.join(reasons)}" if reasons else ""
                    lines.append(f"    - {_one_line(branch, _SHOWN)}{fails}")
            else:
                lines.extend(f"  failed: {_one_line(clause, _SHOWN)}" for clause in self.failed)
        return "\n".join(lines)
