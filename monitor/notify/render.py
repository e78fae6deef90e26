"""Deliveries → messages, through Jinja2 templates shipped in ``monitor/templates`` (a
``templates/`` folder beside the config overrides them by name).

Each format gets feed text escaped for itself: HTML by autoescape, chat markdown by
``escape_chat`` (so a headline can neither break the markup nor ``@channel`` a workspace).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import escape as escape_html

from monitor.errors import ConfigError
from monitor.models import Span, Story
from monitor.store import Delivery

Format = Literal["html", "markdown", "text"]
_TEMPLATES = {"html": "alert.html.j2", "markdown": "alert.md.j2", "text": "alert.txt.j2"}
_CHAT_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#])")
_MENTION = re.compile(r"(?<![\w])([@!])(?=[\w])")
SNIPPET_CHARS = 240
#: Matched terms listed per alert; a rule over long term lists can match dozens in one article.
_MAX_TERMS = 10
CHAT_LIMIT = 3500  # Slack truncates a message past ~4,000 characters; Mattermost allows more


def escape_chat(text: str) -> str:
    """Neutralise chat markup in feed text: markdown specials and ``< >`` get CommonMark
    backslash escapes (Mattermost renders them; apprise turns them into Slack's own escaping and
    entities), and mentions (``@here``, ``@channel``, ``<!everyone>``) are broken with a word
    joiner so a headline can never notify a whole workspace."""
    return _MENTION.sub("\\1\u2060", _CHAT_SPECIAL.sub(r"\\\1", text))


def escape_for(fmt: Format, text: str) -> str:
    """Feed text escaped for a message format: HTML, chat markdown, or plain text as it is."""
    if fmt == "html":
        return str(escape_html(text))
    return escape_chat(text) if fmt == "markdown" else text


def safe_link(url: str) -> str:
    """A URL fit to put in a message: http(s) only (no ``javascript:``), and characters that
    could end a markdown or Slack link (``<>|()`` and spaces) percent-encoded."""
    if not url.lower().startswith(("http://", "https://")):
        return ""
    return quote(url, safe=":/?#[]@!$&'*+,;=%-._~")


def snippet_parts(story: Story, spans: Sequence[Span], width: int = SNIPPET_CHARS) -> list[tuple[str, bool]]:
    """A short window of text around the first match, as (text, is_match) parts.

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
    truncated: bool = False  # cut at the chat length limit: the caller should split the batch


class Renderer:
    """Renders deliveries with the packaged templates, or overrides from ``template_dir``."""

    def __init__(self, template_dir: Path | None = None) -> None:
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

    def check(self) -> None:
        """Compile every template now: a syntax error in an override becomes a ConfigError
        naming the file and line when the config loads (``monitor check``), not a failed send."""
        for fmt, name in _TEMPLATES.items():
            try:
                self._env[fmt].get_template(name)
            except jinja2.TemplateSyntaxError as exc:
                raise ConfigError(
                    f"line {exc.lineno}: template syntax: {exc.message}", file=exc.filename or name
                ) from exc

    def _alert(
        self, d: Delivery, escape: Callable[[str], str], tz: ZoneInfo, also: Sequence[str], compact: bool
    ) -> dict[str, Any]:
        story = d.story
        assert story is not None  # only alert rows reach here
        return {
            "rule": escape(d.rule),
            "title": escape(story.title or story.url),
            "url": safe_link(story.link) or safe_link(story.url),
            "outlet": escape(story.outlet),
            "published": story.published.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z"),
            "terms": [escape(t) for t in d.terms[:_MAX_TERMS]]
            + ([f"… {len(d.terms) - _MAX_TERMS} more"] if len(d.terms) > _MAX_TERMS else []),
            "snippet_parts": [] if compact else [(escape(t), m) for t, m in snippet_parts(story, d.spans)],
            "also": [escape(o) for o in also],
        }

    def _render(
        self,
        fmt: Format,
        title: str,
        heading: str | None,
        sections: list[dict[str, Any]],
        compact: bool = False,
    ) -> Message:
        template = self._env[fmt].get_template(_TEMPLATES[fmt])
        body = template.render(heading=heading, sections=sections, compact=compact)
        truncated = fmt == "markdown" and len(body) > CHAT_LIMIT
        if truncated:
            body = body[: body.rfind("\n", 0, CHAT_LIMIT)] + "\n… (more in `monitor hits`)"
        return Message(title=title[:250], body=body.strip() + "\n", format=fmt, truncated=truncated)

    def alerts(
        self,
        deliveries: Sequence[Delivery],
        fmt: Format,
        *,
        timezone: str = "UTC",
        heading: str | None = None,
        compact: bool = False,
    ) -> Message:
        """One message for one alert, or for several (a burst, a release after quiet hours,
        or a summary of the overflow past a rate limit with ``compact``)."""
        escape = escape_chat if fmt == "markdown" else _same
        tz = ZoneInfo(timezone)
        stories = by_story(deliveries)  # a story that matched several rules is one alert
        alerts = [self._alert(_merged(group), escape, tz, (), compact) for group in stories]
        if len(stories) > 1 and heading is None:
            heading = f"{len(stories)} new alerts"
        if len(stories) == 1 and heading is None:
            d = _merged(stories[0])
            assert d.story is not None
            title = f"[monitor] {d.rule}: {d.story.title}"
        else:
            rules = ", ".join(sorted({d.rule for d in deliveries}))
            title = f"[monitor] {heading} ({rules})"
        sections = [{"title": None, "alerts": alerts}]
        return self._render(fmt, title, escape(heading) if heading else None, sections, compact)

    def digest(
        self, deliveries: Sequence[Delivery], fmt: Format, *, timezone: str = "UTC", label: str = "digest"
    ) -> Message:
        """The period's alerts grouped by rule, then by cluster (one entry per news event, with
        the other outlets that carried it), newest first."""
        escape = escape_chat if fmt == "markdown" else _same
        tz = ZoneInfo(timezone)
        by_rule: dict[str, dict[str, list[Delivery]]] = {}
        for d in sorted(deliveries, key=_published, reverse=True):
            assert d.story is not None
            key = d.cluster or f"story:{d.id}"
            by_rule.setdefault(d.rule, {}).setdefault(key, []).append(d)
        sections = []
        for rule in sorted(by_rule):
            entries = []
            for group in by_rule[rule].values():
                lead = group[0]
                others = sorted(
                    {g.story.outlet for g in group[1:] if g.story} - {lead.story.outlet if lead.story else ""}
                )
                entries.append(self._alert(lead, escape, tz, others, compact=False))
            sections.append({"title": escape(rule), "alerts": entries})
        # An event or story under two rules is listed under each, but counted once.
        events = len({d.cluster or f"story:{d.story_id or d.id}" for d in deliveries})
        stories = len({d.story_id or d.id for d in deliveries})
        heading = f"{label}: {events} event(s), {stories} stor{'y' if stories == 1 else 'ies'}"
        return self._render(fmt, f"[monitor] {heading}", escape(heading), sections)

    def notice(self, title: str, body: str, fmt: Format) -> Message:
        """An admin notice or a cluster follow-up: prepared plain text, escaped for the format."""
        if fmt == "html":
            text = "".join(f"<p>{escape_html(line)}</p>" for line in body.splitlines())
        elif fmt == "markdown":
            text = escape_chat(body)
        else:
            text = body
        return Message(title=title[:250], body=text.strip() + "\n", format=fmt)


def _same(text: str) -> str:
    return text


def by_story(deliveries: Sequence[Delivery]) -> list[list[Delivery]]:
    """Rows grouped by story, in order of first appearance: one story that matched two rules
    is one alert, not two messages with the same headline."""
    groups: dict[object, list[Delivery]] = {}
    for d in deliveries:
        groups.setdefault(d.story_id if d.story_id is not None else ("row", d.id), []).append(d)
    return list(groups.values())


def _merged(group: Sequence[Delivery]) -> Delivery:
    """One story's rows as one: its rules and matched terms together, spans from all."""
    if len(group) == 1:
        return group[0]
    first = group[0]
    return replace(
        first,
        rule=", ".join(dict.fromkeys(d.rule for d in group)),
        terms=tuple(dict.fromkeys(t for d in group for t in d.terms)),
        spans=tuple(dict.fromkeys(sp for d in group for sp in d.spans)),
    )


def _published(d: Delivery) -> Any:
    return d.story.published if d.story else d.created_at
