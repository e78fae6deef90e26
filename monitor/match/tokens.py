"""Words and folding: what counts as a word, and how two spellings of a word are made equal.

A *word* is a maximal run of letters, digits and combining marks. Python's ``\\w`` leaves out
combining marks, which would cut Devanagari words apart at every vowel sign and virama
("रक्षा" is र + ् + क + ् + ष + ा), so the classes here add every mark (Unicode categories
Mn, Mc, Me) explicitly. Everything else — spaces, punctuation, hyphens and dashes, underscores —
separates words: "India–Russia" is two words, "Su-57" is two words, "Su57" is one.

*Folding* makes matching case- and accent-insensitive: case folding everywhere, and for Latin,
Cyrillic and Greek letters (and compatibility forms such as ligatures and full-width letters)
compatibility decomposition with the combining accents dropped, so "Rogozin" = "ROGÓZIN" and
"ёлка" = "елка". The Russian "й" keeps its breve (it is a letter of its own, not an accented
"и"), and Devanagari marks are never dropped: they are part of the spelling.

Folding is defined per character, which lets a story's text be folded in one C-level pass while
keeping character offsets, so matches point straight back into the original text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass


def _mark_class() -> str:
    """Regex class body listing every combining mark in the Basic Multilingual Plane."""
    marks = [c for c in range(0x300, 0x10000) if unicodedata.category(chr(c)).startswith("M")]
    ranges: list[tuple[int, int]] = []
    for c in marks:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


_MARKS = _mark_class()
#: Invisible characters that may sit inside a word (soft hyphen, zero-width (non-)joiner, word
#: joiner, BOM): part of the word when splitting, deleted when folding.
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
#: A word in original text (a query or a story field).
WORD_RE = re.compile(rf"(?:[^\W_]|[{_MARKS}{_INVISIBLE}])+")
#: Hyphens and dashes: a word written with one ("Su-57", "co-production") also matches the
#: spelling without it ("Su57", "coproduction").
HYPHENS = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d")

# Code points whose accents are dropped: Latin, IPA, Greek, Cyrillic, combining diacritics,
# general punctuation (the invisible joiners), ligatures, full-width forms, and the Devanagari
# letters with a precomposed nukta (folded to the decomposed form NFC itself prefers), and
# Devanagari digits (folded to 0-9: Hindi papers write "एस-४००" as often as "एस-400").
_FOLD_RANGES = (
    (0x00A0, 0x052F),
    (0x0958, 0x095F),
    (0x0966, 0x096F),
    (0x1AB0, 0x1AFF),
    (0x1D00, 0x1FFF),
    (0x2000, 0x206F),
    (0x20D0, 0x20FF),
    (0xFB00, 0xFB4F),
    (0xFE20, 0xFE2F),
    (0xFEFF, 0xFEFF),
    (0xFF00, 0xFFEF),
)
_DROP_RE = re.compile(
    rf"[\u0300-\u0305\u0307-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff"
    rf"\ufe20-\ufe2f{_INVISIBLE}]|(?<!и)\u0306"
)


def _in_fold_ranges(c: str) -> bool:
    code = ord(c)
    return any(lo <= code <= hi for lo, hi in _FOLD_RANGES)


def _is_word(c: str) -> bool:
    """Letter, digit or combining mark (the classes of ``WORD_RE`` without invisibles)."""
    return c.isalnum() or unicodedata.category(c).startswith("M")


def _strip(c: str) -> str:
    """Decompose one case-folded character and drop its accents (only for the folded scripts)."""
    if not _in_fold_ranges(c):
        return c
    digit = unicodedata.decimal(c, None)
    if digit is not None and not c.isascii():
        return str(digit)
    return unicodedata.normalize("NFC", _DROP_RE.sub("", unicodedata.normalize("NFKD", c)))


@functools.cache
def fold_char(c: str) -> str:
    """The folded form of one character.

    A character outside words becomes one space (so folded text has words separated by
    spaces only); a letter, digit or mark becomes zero (invisibles, dropped accents), one or
    more characters.
    """
    if c < "\x80":
        return c.lower() if c.isalnum() else " "
    if c in _INVISIBLE:
        return ""
    if not _is_word(c):
        return " "
    return "".join(x if _is_word(x) else " " for c2 in c.casefold() for x in _strip(c2))


def fold(text: str) -> str:
    """Fold a word (or any text) character by character; the query side of matching."""
    if text.isascii():
        return text.lower()
    return "".join(fold_char(c) for c in unicodedata.normalize("NFC", text))


def _build_tables() -> tuple[dict[str, str], re.Pattern[str], re.Pattern[str]]:
    """Lookup tables for ``fold_text``'s fast paths, derived from ``fold_char``.

    After ``str.casefold`` the remaining work on a word character is: nothing, a 1:1
    replacement (``_ONE``, e.g. é → e, ё → е) or something that changes the length (``_SLOW``,
    e.g. ligatures and decomposed accents), which needs an offset map.
    """
    one: dict[str, str] = {}
    slow: list[str] = list(_INVISIBLE)
    for lo, hi in _FOLD_RANGES:
        for code in range(lo, hi + 1):
            c = chr(code)
            if c in _INVISIBLE or not _is_word(c):
                continue
            folded = "".join(x if _is_word(x) else " " for x in _strip(c))
            if folded == c:
                continue
            if len(folded) == 1:
                one[c] = folded
            else:
                slow.append(c)
    odd = re.compile("[" + "".join(re.escape(c) for c in [*one, *slow]) + "]")
    slow_re = re.compile("[" + "".join(re.escape(c) for c in slow) + "]")
    return one, odd, slow_re


def _codepage_table(codec: str) -> bytes:
    """A byte table folding text encoded in a single-byte code page, within that code page.

    Windows-1252 covers English with typographic quotes and dashes and most Western accents,
    Windows-1251 Russian: encode, translate with one table, decode — three C-level passes.
    ``_UNFOLDABLE`` marks a byte whose folding leaves the code page (such texts take a slower
    path); NUL is kept, as it separates a story's fields.
    """
    table = bytearray([_UNFOLDABLE] * 256)
    for byte in range(256):
        try:
            c = bytes([byte]).decode(codec)
        except UnicodeDecodeError:
            continue
        folded = "\x00" if byte == 0 else fold_char(c)
        try:
            encoded = folded.encode(codec)
        except UnicodeEncodeError:
            continue
        if len(encoded) == 1 and encoded[0] != _UNFOLDABLE:
            table[byte] = encoded[0]
    return bytes(table)


_UNFOLDABLE = 1  # a control character, which folding itself turns into a space
_ONE, _ODD_RE, _SLOW_RE = _build_tables()
_CODEPAGES = tuple((codec, _codepage_table(codec)) for codec in ("cp1252", "cp1251"))
_NON_WORD_RE = re.compile(rf"[^\w{_MARKS} \x00]")
_ASCII_FOLD = bytes(
    (ord(chr(i).lower()) if chr(i).isalnum() else 0 if i == 0 else 32) for i in range(256)
)


@dataclass(frozen=True, slots=True)
class Folded:
    """Folded text: ``text`` has the original's offsets unless ``offsets`` is given, in which
    case ``offsets[i]`` is the original offset of ``text[i]``."""

    text: str
    offsets: tuple[int, ...] | None = None


#: An English possessive: "India's", "Russia’s". Its "s" is not a word of its own, so
#: "India's defence" holds the phrase "India defence", and "Russia's 400" is not S-400.
POSSESSIVE_RE = re.compile(r"(?<=\w)['\u2019\u02bc][sS](?!\w)")
_APOSTROPHES = ("'", "\u2019", "\u02bc")


def blank_possessives(text: str) -> str:
    """``text`` with each possessive "'s" turned into spaces (two, so offsets stay put)."""
    if not any(a in text for a in _APOSTROPHES):
        return text
    return POSSESSIVE_RE.sub("  ", text)


def fold_text(text: str) -> Folded:
    """Fold text for scanning: words folded, everything between them a space, offsets kept.

    Equal to applying ``fold_char`` to every character, except that NUL is kept (it separates
    a story's fields), but done in C-level passes for the common cases: ASCII, Windows-1252
    (typographic English), Windows-1251 (Russian), and scripts whose folding keeps every
    character's length (Devanagari, most other Latin and Cyrillic). Possessives are blanked
    first (see ``POSSESSIVE_RE``).
    """
    text = blank_possessives(text)
    if text.isascii():
        return Folded(text.encode("ascii").translate(_ASCII_FOLD).decode("ascii"))
    for codec, table in _CODEPAGES:
        try:
            folded_bytes = text.encode(codec).translate(table)
        except UnicodeEncodeError:
            continue
        if _UNFOLDABLE not in folded_bytes:
            return Folded(folded_bytes.decode(codec))
        break
    folded = text.casefold()
    if len(folded) == len(text):
        odd = _ODD_RE.search(folded)
        if odd is None or not _SLOW_RE.search(folded, odd.start()):
            if odd is not None:
                folded = _ODD_RE.sub(lambda m: _ONE[m.group()], folded)
            folded = _NON_WORD_RE.sub(" ", folded)
            return Folded(folded.replace("_", " ") if "_" in folded else folded)
    # Rare: a character folds to zero or several characters (ß, ligatures, decomposed accents,
    # invisible joiners): fold one by one and remember where each folded character came from.
    parts: list[str] = []
    offsets: list[int] = []
    for i, c in enumerate(text):
        f = "\x00" if c == "\x00" else fold_char(c)
        parts.append(f)
        offsets.extend([i] * len(f))
    return Folded("".join(parts), tuple(offsets))
