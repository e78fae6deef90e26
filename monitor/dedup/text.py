"""Text → comparable word tokens, shared by identity keys and fingerprints. Pure.

Folding is Unicode-aware: Latin and Cyrillic lose their accents (é → e, ё → е), Devanagari keeps
its vowel signs (they are letters there, not accents).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

#: Combining accents used by Latin, Greek and Cyrillic; Indic vowel signs live elsewhere.
_ACCENTS = re.compile("[\u0300-\u036f]")
#: A number (decimals and thousands kept together) or a word; Indic marks count as word characters.
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_][\w\u0900-\u0dff]*|[\u0900-\u0dff]+")

#: Words that say nothing about which event a story reports. Names of agencies are here because
#: wire copy carries them whatever the event; weekday names are here because they are compared
#: separately (see ``day_mask``).
_STOPWORD_TEXT = """
    a about above after again against ahead all also am amid among an and any are as at be because
    been before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers him his how however i if in into is it
    its itself just may me might more most mr ms much must my new no nor not now of off on once
    only or other our ours out over own per same says said say she should so some such than that
    the their theirs them then there these they this those through to too under until up upon us
    very via was we were what when where which while who whom why will with within would yet you
    your told according report reports reported reportedly
    pti ani ians tass reuters afp ap upi ria interfax
    monday tuesday wednesday thursday friday saturday sunday
    и в во на с со о об от до по за из к ко у для что как а но не же ли бы это этот эта эти его ее
    их при также был была были будет который которая которое которые которого которой которых
    которым сообщил сообщает
    понедельник вторник среду среда четверг пятницу пятница субботу суббота воскресенье
    का की के को में से पर और है हैं था थी थे ने एक यह वह इस उस भी तक लिए कर करने किया किए दी दे
    दिया होगा होगी होंगे हो रहा रही रहे गया गई गए साथ बाद पहले
    सोमवार मंगलवार बुधवार गुरुवार शुक्रवार शनिवार रविवार
"""

#: Weekday names in English, Russian (nominative and "on …" forms) and Hindi, Monday first.
_WEEKDAY_NAMES = (
    ("monday", "понедельник", "सोमवार"),
    ("tuesday", "вторник", "मंगलवार"),
    ("wednesday", "среду", "среда", "बुधवार"),
    ("thursday", "четверг", "गुरुवार"),
    ("friday", "пятницу", "пятница", "शुक्रवार"),
    ("saturday", "субботу", "суббота", "शनिवार"),
    ("sunday", "воскресенье", "रविवार"),
)

#: Words are cut to this many characters: a cheap stemmer that treats ratifies/ratified,
#: Россия/России and समझौता/समझौते alike in all three scripts.
STEM_LENGTH = 5


def fold(text: str) -> str:
    """Lower-case ``text`` and drop Latin/Cyrillic accents, keeping Indic vowel signs."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return unicodedata.normalize("NFC", _ACCENTS.sub("", text))


#: Stopwords in folded form (so "который" matches the folded "которыи").
STOPWORDS = frozenset(fold(word) for word in _STOPWORD_TEXT.split())
_WEEKDAYS = {fold(name): 1 << bit for bit, names in enumerate(_WEEKDAY_NAMES) for name in names}


def words(text: str) -> list[str]:
    """Every word and number of ``text``, folded, in order; nothing dropped or stemmed."""
    found: list[str] = _TOKEN.findall(fold(text))
    return [w.replace(",", "") if "," in w else w for w in found]


def content_terms(word_list: list[str]) -> list[str]:
    """The words that can tell events apart: no stopwords, no single characters, words cut to
    ``STEM_LENGTH`` characters, numbers kept whole."""
    return [w if w[0].isdigit() else w[:STEM_LENGTH] for w in word_list if len(w) > 1 and w not in STOPWORDS]


def day_mask(word_list: list[str]) -> int:
    """Bit mask of the weekdays named in ``word_list`` (Monday = 1 … Sunday = 64), in en/ru/hi.

    News leads say when the event happened ("on Tuesday"); two stories naming only different
    days are usually about different events.
    """
    mask = 0
    for word in word_list:
        mask |= _WEEKDAYS.get(word, 0)
    return mask


def is_google_news(url: str) -> bool:
    """Whether ``url`` is a Google News link (redirect or article page), not the publisher's."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    return host == "news.google.com"


def headline_and_lead(title: str, summary: str, url: str) -> tuple[str, str]:
    """The story's own headline and lead: for a Google News entry, the " - Outlet" suffix is cut
    from the title and the summary is dropped when it only repeats the headline and outlet."""
    if not is_google_news(url) or " - " not in title:
        return title, summary
    headline, _, outlet = title.rpartition(" - ")
    if not headline or len(outlet.split()) > 6:
        return title, summary
    if fold(summary).startswith(fold(headline)):
        summary = ""
    return headline, summary
