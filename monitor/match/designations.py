"""Model designations in the other alphabet: a query for ``S-400`` also finds "С-400".

Russian outlets write Russian weapon designations in Cyrillic (С-400, Су-57, МиГ-29К, Х-101),
Indian and international ones in Latin; an analyst writes one of the two. A designation is a
word of short letter groups and digits, so it can be transliterated letter by letter without a
dictionary. Ordinary words are left alone: only a word with digits and letter groups of at most
four letters counts, and a letter with no single reading (Latin c, h, j, q, w, x, y) means no
variant rather than a guess.
"""

from __future__ import annotations

import re

_LATIN_TO_CYRILLIC = {
    "kh": "х", "zh": "ж", "ch": "ч", "sh": "ш", "ts": "ц", "ya": "я", "yu": "ю",
    "a": "а", "b": "б", "d": "д", "e": "е", "f": "ф", "g": "г", "i": "и", "k": "к", "l": "л",
    "m": "м", "n": "н", "o": "о", "p": "п", "r": "р", "s": "с", "t": "т", "u": "у", "v": "в",
    "z": "з",
}  # fmt: skip
_CYRILLIC_TO_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "ы": "y", "э": "e", "ю": "yu", "я": "ya",
}  # fmt: skip
#: Letter groups, digit groups and hyphens only, at least one of each kind of group.
_DESIGNATION_RE = re.compile(r"(?=.*\d)(?=.*[^\W\d_])(?:[^\W\d_]{1,4}|\d+|[-\u2010-\u2015])+")
_LETTERS_RE = re.compile(r"[^\W\d_]+")


def _convert(group: str, table: dict[str, str]) -> str | None:
    """One letter group in the other alphabet, keeping case; None if a letter has no reading."""
    out: list[str] = []
    i = 0
    while i < len(group):
        for size in (2, 1):
            piece = group[i : i + size]
            mapped = table.get(piece.lower()) if len(piece) == size else None
            if mapped is not None:
                out.append(mapped.capitalize() if piece[0].isupper() else mapped)
                i += size
                break
        else:
            return None
    return "".join(out)


#: Latin letters with a second Cyrillic reading: the export suffix E is written Э (Су-57Э).
_SECOND_READING = {"e": "э", "E": "Э"}


def designation_variants(word: str) -> list[str]:
    """The word in the other alphabet if it looks like a designation (``Su-30MKI`` →
    ``Су-30МКИ``, ``Х-101`` → ``Kh-101``, ``Su-57E`` → ``Су-57Е`` and ``Су-57Э``), else nothing."""
    if not _DESIGNATION_RE.fullmatch(word):
        return []
    groups = _LETTERS_RE.findall(word)
    if all(g.isascii() for g in groups):
        table = _LATIN_TO_CYRILLIC
    elif all(all("\u0400" <= c <= "\u04ff" for c in g) for g in groups):
        table = _CYRILLIC_TO_LATIN
    else:
        return []
    converted = [_convert(g, table) for g in groups]
    if any(c is None for c in converted):
        return []
    replacements = iter(converted)
    variant = _LETTERS_RE.sub(lambda _: next(replacements) or "", word)
    if table is _LATIN_TO_CYRILLIC and any(c in _SECOND_READING for c in word):
        # Only a whole-word reading change, not every combination: е and э in one designation
        # do not mix in practice.
        second = "".join(_SECOND_READING.get(c, v) for c, v in zip(word, variant, strict=False))
        if len(variant) == len(word) and second != variant:
            return [variant, second]
    return [variant]
