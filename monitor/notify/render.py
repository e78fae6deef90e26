"""Deliveries → messages, through Jinja2 templates shipped in ``monitor/templates``.

Each format gets feed text escaped for itself: HTML by autoescape, chat markdown by
``escape_chat`` (so a headline can neither break the markup nor ``@channel`` a workspace).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import jinja2

from monitor.models import Span, Story
from monitor.store import Delivery

Format = Literal["html", "markdown", "text"]
_TEMPLATES = {"html": "alert.html.j2", "markdown": "alert.md.j2", "text": "alert.txt.j2"}
_CHAT_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")
_MENTION = re.compile(r"(?<![\w])([@!])(?=[\w])")
SNIPPET_CHARS = 240
CHAT_LIMIT = 3500  # Slack truncates a message past ~4,000 characters; Mattermost allows more


def escape_chat(text: str) -> str:
    """Neutralise chat markup in feed text: ``& < >`` as entities, markdown specials escaped,
    and mentions (``@here``, ``@channel``, ``<!everyone>``) broken with a zero-width joiner."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _CHAT_SPECIAL.sub(r"\\\1", text)
    return _MENTION.sub("\\1\u2060", text)


def snippet_parts(story: Story, spans: Sequence[Span], width: int = SNIPPET_CHARS) -> list[tuple[str, bool]]:
    """A short window of the text around the first match, as (text, is_match) parts.

    Prefers the summary, then the body, then the title, so the headline is not repeated."""
    for field_name in ("summary", "body", "title"):
        text = getattr(story, field_name) or ""
        here = sorted((s.start, s.end) for s in spans if s.field == field_name and s.end <= len(text))
        if here:
            break
    else:
        text = story.summary or story.body or ""
        return [(_shorten(text, width), False)] if text else []
    start = max(0, here[0][0] - width // 3)
    end = min(len(text), start + width)
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < here[0][0] else start
    parts: list[tuple[str, bool]] = [("… ", False)] if start > 0 else []
    cursor = start
    for s_start, s_end in here:
        if s_start < cursor or s_end > end:
            continue
        parts += [(text[cursor:s_start], False), (text[s_start:s_end], True)]
        cursor = s_end
    parts.append((text[cursor:end] + (" …" if end < len(text) else ""), False))
    return [(t, m) for t, m in parts if t]


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: text.rfind(" ", 0, width) or width] + " …"


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered notification."""

    title: str
    body: str
    format: Format


class Renderer:
    """Renders deliveries with the packaged templates, or overrides from ``template_dir``."""

    def __init__(self, template_dir: Path | None = None, timezone: str = "UTC") -> None:
        loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader("monitor", "templates")]
        if template_dir is not None:
            loaders.insert(0, jinja2.FileSystemLoader(str(template_dir)))
        self._env = {
            fmt: jinja2.Environment(
                loader=jinja2.ChoiceLoader(loaders),
                autoescape=fmt == "html",
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
                undefined=jinja2.StrictUndefined,
            )
            for fmt in _TEMPLATES
        }
        self._tz = ZoneInfo(timezone)

    def render(
        self, deliveries: Sequence[Delivery], fmt: Format, also: dict[int, list[str]] | None = None
    ) -> Message:
        """One message for one or several deliveries (several are batched to save sends)."""
        escape = escape_chat if fmt == "markdown" else (lambda text: text)
        alerts = [
            {
                "rule": escape(d.rule),
                "title": escape(d.story.title or d.story.url),
                "url": d.story.link or d.story.url,
                "outlet": escape(d.story.outlet),
                "published": d.story.published.astimezone(self._tz).strftime("%Y-%m-%d %H:%M %Z"),
                "terms": [escape(t) for t in d.terms],
                "snippet_parts": [(escape(t), m) for t, m in snippet_parts(d.story, d.spans)],
                "also": [escape(o) for o in (also or {}).get(d.id, [])],
            }
            for d in deliveries
        ]
        body = self._env[fmt].get_template(_TEMPLATES[fmt]).render(alerts=alerts)
        if fmt == "markdown" and len(body) > CHAT_LIMIT:
            body = body[: body.rfind("\n", 0, CHAT_LIMIT)] + "\n… (truncated)"
        if len(deliveries) == 1:
            title = f"[monitor] {deliveries[0].rule}: {deliveries[0].story.title}"[:200]
        else:
            rules = sorted({d.rule for d in deliveries})
            title = f"[monitor] {len(deliveries)} new alerts ({', '.join(rules)})"
        return Message(title=title, body=body.strip() + "\n", format=fmt)
