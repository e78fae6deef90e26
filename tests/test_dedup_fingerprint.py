"""Text folding and fingerprints (monitor.dedup.text, monitor.dedup.fingerprint)."""

from __future__ import annotations

import pytest

from monitor.dedup import Fingerprint, FingerprintError
from monitor.dedup.fingerprint import FORMAT_VERSION, fingerprint_text
from monitor.dedup.text import content_terms, day_mask, fold, headline_and_lead, words

GNEWS = "https://news.google.com/rss/articles/CBMiqAFBVV95cUxQ?oc=5"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Café DÉFENSE", "cafe defense"),
        ("Ёлка и Йошкар-Ола", "елка и иошкар-ола"),
        ("ＲＥＬＯＳ", "relos"),  # full-width letters
        ("रक्षा मंत्री", "रक्षा मंत्री"),  # Devanagari vowel signs and virama are kept
    ],
)
def test_fold_is_unicode_aware(text: str, expected: str) -> None:
    """Folding lower-cases and drops Latin/Cyrillic accents but keeps Indic vowel signs."""
    assert fold(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Russia's State Duma ratifies the pact", ["russi", "state", "duma", "ratif", "pact"]),
        ("Sensex closes at 85,642; repo rate 5.25%", ["sense", "close", "85642", "repo", "rate", "5.25"]),
        ("Госдума ратифицировала соглашение, которое подписано", ["госду", "ратиф", "согла", "подпи"]),
        ("भारत के साथ सैन्य रसद समझौते को मंजूरी", ["भारत", "सैन्य", "रसद", "समझौत", "मंजूर"]),
    ],
    ids=["english", "numbers", "russian", "hindi"],
)
def test_content_terms(text: str, expected: list[str]) -> None:
    """Terms drop stopwords in all three languages, keep numbers whole and cut words to a stem."""
    assert content_terms(words(text)) == expected


@pytest.mark.parametrize(
    "text", ["ratified on Tuesday", "ратифицировала во вторник", "मंगलवार को मंजूरी दी"]
)
def test_weekday_is_read_in_three_languages(text: str) -> None:
    """The weekday an event happened on is recognised in English, Russian and Hindi."""
    assert day_mask(words(text)) == 0b10


def test_google_news_suffix_and_stub_summary_are_dropped() -> None:
    """A Google News entry is fingerprinted by its headline alone, like the publisher's headline."""
    title = "Russian Duma ratifies key military logistics pact with India - ThePrint"
    headline, lead = headline_and_lead(title, title.replace(" - ", "  "), GNEWS)
    assert (headline, lead) == ("Russian Duma ratifies key military logistics pact with India", "")
    assert fingerprint_text(title, "", GNEWS) == fingerprint_text(headline, "")
    assert headline_and_lead(title, "", "https://theprint.in/x/") == (title, "")


def test_round_trip_through_bytes() -> None:
    """``to_bytes`` then ``from_bytes`` gives back an equal fingerprint."""
    fp = fingerprint_text(
        "Госдума ратифицировала соглашение с Индией",
        "Государственная дума во вторник ратифицировала соглашение между Россией и Индией.",
    )
    data = fp.to_bytes()
    assert Fingerprint.from_bytes(data) == fp
    assert fp.days == 0b10
    assert len(data) < 600


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[:5],
        lambda b: b[:-4],
        lambda b: bytes([FORMAT_VERSION + 1]) + b[1:],
    ],
    ids=["truncated header", "truncated body", "other version"],
)
def test_foreign_bytes_are_refused(mangle: object) -> None:
    """Bytes of another format or length raise FingerprintError rather than loading garbage."""
    data = fingerprint_text("RBI cuts repo rate", "The Reserve Bank cut the repo rate.").to_bytes()
    assert callable(mangle)
    with pytest.raises(FingerprintError, match="dedup: fingerprint"):
        Fingerprint.from_bytes(mangle(data))


def test_similarity_is_term_jaccard() -> None:
    """Plain term Jaccard is 1 for the same text and near 0 for unrelated texts."""
    a = fingerprint_text("Russian Duma ratifies RELOS pact", "The lower house approved the pact.")
    b = fingerprint_text("Kohli century in Ranchi", "India beat South Africa by 17 runs.")
    assert a.similarity(a) == 1.0
    assert a.similarity(b) < 0.1
    assert fingerprint_text("", "").empty
    assert a.similarity(fingerprint_text("", "")) == 0.0
