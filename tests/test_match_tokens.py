"""Words and folding: Unicode word boundaries, case and accent folding, and the fast fold paths."""

from __future__ import annotations

import random

import pytest

from monitor.match.designations import designation_variants
from monitor.match.tokens import WORD_RE, fold, fold_char, fold_text

WORDS = [
    ("India–Russia ties", ["India", "Russia", "ties"]),
    ("भारत-रूस रक्षा समझौता", ["भारत", "रूस", "रक्षा", "समझौता"]),
    ("भारत और रूस ने समझौते पर हस्ताक्षर किए।", ["भारत", "और", "रूस", "ने", "समझौते", "पर",
                                           "हस्ताक्षर", "किए"]),
    ("Россия и Индия: «материально-техническое» обеспечение",
     ["Россия", "и", "Индия", "материально", "техническое", "обеспечение"]),
    ("Su-57, S-400 and Su57", ["Su", "57", "S", "400", "and", "Su57"]),
    ("India's RELOS (2024)", ["India", "s", "RELOS", "2024"]),
    ("snake_case", ["snake", "case"]),
    ("Bra\u00adhMos", ["Bra\u00adhMos"]),
]


@pytest.mark.parametrize(("text", "words"), WORDS)
def test_words_keep_combining_marks_and_split_on_punctuation(text: str, words: list[str]) -> None:
    """Devanagari vowel signs and viramas stay inside words; hyphens, dashes, quotes split."""
    assert WORD_RE.findall(text) == words


FOLDS = [
    ("RELOS", "relos"),
    ("Rogózin", "rogozin"),
    ("ЁЛКА", "елка"),
    ("Йемен", "йемен"),
    ("Straße", "strasse"),
    ("ﬁnal", "final"),
    ("Ｓｕ", "su"),
    ("रक्षा", "रक्षा"),  # Devanagari marks are spelling, never dropped
    ("BrahMos", "brahmos"),
    ("Bra\u00adhMos", "brahmos"),
    ("е\u0301", "е"),  # a stress mark, as in Russian dictionaries
    ("एस-४००", "एस 400"),  # Devanagari digits are digits: "४००" is 400
    ("२०२६", "2026"),
]


@pytest.mark.parametrize(("word", "folded"), FOLDS)
def test_fold_ignores_case_and_accents_but_not_devanagari_marks(word: str, folded: str) -> None:
    """Folding removes case and Latin/Cyrillic accents, keeps й and every Devanagari mark."""
    assert fold(word) == folded


SAMPLES = [
    "plain ASCII text, with punctuation; and digits 2026!",
    "typographic “quotes” – dashes — and ellipses… in English",
    "Café déjà vu: Rogózin, Müller, Ødegaard",
    "Россия и Индия подписали соглашение. Ёлка!",
    "भारत-रूस रक्षा समझौता। क़िला",
    "रूस से एस-४०० की दो स्क्वाड्रन २०२६ में",
    "ligatures ﬁ and ß and İstanbul",
    "decomposed e\u0301 and joiners क्\u200dष and soft hy\u00adphen",
    "mixed Russian Москва and Hindi दिल्ली and English Delhi",
    "field\x00separator stays",
]


def _reference(text: str) -> str:
    return "".join("\x00" if c == "\x00" else fold_char(c) for c in text)


@pytest.mark.parametrize("text", SAMPLES)
def test_fast_fold_paths_equal_the_per_character_definition(text: str) -> None:
    """Every fast path of fold_text gives what folding each character separately gives."""
    folded = fold_text(text)
    assert folded.text == _reference(text)
    if folded.offsets is None:
        assert len(folded.text) == len(text)
    else:
        assert len(folded.offsets) == len(folded.text)


def test_fast_fold_paths_on_random_text() -> None:
    """Random mixes of scripts and punctuation fold the same on every path."""
    alphabet = ("abcXYZ019 -–—.,'’“”«»_\u00a0éÉüßﬁ" "ёЁйЙабвгдеЖЗ" "कखगरषक्षािीुू्ँंः।"
                "\u0301\u0308\u200d\u00ad")
    rng = random.Random(7)
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert fold_text(text).text == _reference(text), repr(text)


def test_folded_text_separates_words_by_spaces_only() -> None:
    """Everything that is not part of a word folds to a space, so " word " finds whole words."""
    assert fold_text("«India–Russia», S-400!").text == " india russia   s 400 "


@pytest.mark.parametrize(
    ("word", "variants"),
    [
        ("S-400", ["С-400"]),
        ("Su-30MKI", ["Су-30МКИ"]),
        ("Kh-101", ["Х-101"]),
        ("Yak-130", ["Як-130"]),
        ("Su-57E", ["Су-57Е", "Су-57Э"]),  # the export E is Э in Russian
        ("АЛ-31ФП", ["AL-31FP"]),
        ("Х-101", ["Kh-101"]),
        ("BrahMos", []),  # no digits: a name, not a designation
        ("C-17", []),  # Latin c has no single Cyrillic reading: no guess
        ("Tejas-Mk1A", []),  # a letter group longer than four letters
        ("2025", []),
    ],
)
def test_designations_are_transliterated_letter_by_letter(word: str, variants: list[str]) -> None:
    """Short letter groups with digits are model designations and exist in both alphabets."""
    assert designation_variants(word) == variants
