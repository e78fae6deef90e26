"""Build real-looking RSS documents for tests, with dates relative to now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    description: str
    link: str
    age: timedelta = timedelta(minutes=5)


def rss(items: list[Item], title: str = "Test Herald") -> bytes:
    now = datetime.now(UTC)
    body = "".join(
        f"<item><title>{escape(i.title)}</title><link>{escape(i.link)}</link>"
        f'<guid isPermaLink="false">{escape(i.guid)}</guid>'
        f"<pubDate>{format_datetime(now - i.age)}</pubDate>"
        f"<description>{escape(i.description)}</description></item>"
        for i in items
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{escape(title)}'
        f"</title><link>https://herald.example/</link><description>t</description>{body}"
        "</channel></rss>"
    ).encode()


RELOS_ITEM = Item(
    "h-1",
    "Duma ratifies RELOS military logistics pact with India",
    "Russia's lower house ratified the Reciprocal Exchange of Logistic Support agreement.",
    "https://herald.example/news/relos-ratified?utm_source=rss",
)
NOISE_ITEM = Item(
    "h-2",
    "Retail chain announces relocation of warehouse",
    "The company will relocate its logistics hub to the outskirts of Pune.",
    "https://herald.example/business/relocation",
)
