"""parse: feed bytes → raw entries, for the feed formats found in the wild."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.errors import ParseError
from monitor.parse import parse_feed
from tests.conftest import FIXTURES

_CUT = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Cut</title>'


def _read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_rss20_entries_keep_guid_link_dates_and_content() -> None:
    """RSS 2.0 items give GUID, link, UTC date, summary HTML and the fuller content:encoded."""
    entries = parse_feed(_read("rss20.xml"), feed="herald")
    assert [e.guid for e in entries] == ["th-42", "th-43"]
    first = entries[0]
    assert first.title == "Duma ratifies <RELOS> logistics pact with India"
    assert first.published == datetime(2025, 12, 2, 11, 30, tzinfo=UTC)
    assert "Reciprocal Exchange of Logistic Support" in first.content_html
    assert first.language == "en-IN"
    assert entries[1].published is None


def test_atom_entries_are_read() -> None:
    """Atom entries give id, alternate link, converted date and decoded HTML title."""
    (entry,) = parse_feed(_read("atom.xml"), feed="atom")
    assert entry.guid == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
    assert entry.link == "https://wire.example.com/2026/11/indra-naval"
    assert entry.published == datetime(2026, 11, 20, 3, 45, tzinfo=UTC)
    assert "replenishment at sea" in entry.content_html


def test_rdf_entries_are_read() -> None:
    """RSS 1.0 (RDF) items with dc:date are read."""
    (entry,) = parse_feed(_read("rdf.xml"), feed="rdf")
    assert entry.title == "Russia offers Su-57 co-production to India"
    assert entry.published == datetime(2026, 11, 19, 8, 0, tzinfo=UTC)


def test_ill_formed_feed_with_entries_is_still_ingested() -> None:
    """A bozo feed (unescaped &, unclosed tags, truncated) still yields its entries."""
    entries = parse_feed(_read("broken.xml"), feed="broken")
    assert [e.link for e in entries] == [
        "https://broken.example.net/s400",
        "https://broken.example.net/second",
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty response body"),
        (b"   \n", "empty response body"),
        ((FIXTURES / "not_a_feed.html").read_bytes(), "the server sent an HTML page, not a feed"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not"),
        (_CUT + b"<item><title>Unclosed", "not a readable feed: .*no element found"),
    ],
)
def test_unreadable_input_is_a_parse_error_naming_the_feed(body: bytes, message: str) -> None:
    """Empty bodies, HTML pages and binary junk raise ParseError naming the feed."""
    with pytest.raises(ParseError, match=f"parse: the feed: .*{message}"):
        parse_feed(body, feed="the feed")


def test_a_feed_cut_off_mid_entry_gives_its_whole_entries_only() -> None:
    """Cut off inside an entry, a feed yields the entries before it, never an empty story."""
    body = _CUT + b"<item><title>RELOS ratified</title><link>https://a.example/1</link></item><item><ti"
    (entry,) = parse_feed(body, feed="cut")
    assert (entry.title, entry.link) == ("RELOS ratified", "https://a.example/1")


def test_well_formed_empty_feed_is_not_an_error() -> None:
    """A valid feed with no items is simply empty."""
    assert parse_feed(_read("empty.xml"), feed="quiet") == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", None])
def test_empty_feed_served_without_a_feed_content_type_is_not_an_error(content_type: str | None) -> None:
    """Static hosts serve feeds as text/plain or octet-stream, or with no type at all; a feed
    with no items yet is then empty, not unreadable (it used to back off as a failure)."""
    headers = {"content-length": "120"} | ({"content-type": content_type} if content_type else {})
    assert parse_feed(_read("empty.xml"), feed="quiet", headers=headers) == []


def test_truncated_empty_feed_is_still_an_error() -> None:
    """A feed cut off before any item is broken, whatever its Content-Type says."""
    with pytest.raises(ParseError, match="not a readable feed"):
        parse_feed(_CUT, feed="cut", headers={"content-type": "text/plain"})


def test_parser_never_reads_a_path_given_as_content(tmp_path: object) -> None:
    """Bytes that look like a file path are parsed as content, not opened."""
    with pytest.raises(ParseError):
        parse_feed(b"/etc/passwd", feed="sneaky")
