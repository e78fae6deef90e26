"""The query language's grammar: a lexer and a recursive-descent parser producing a small AST.

Precedence, loosest first (as in Lucene/Elasticsearch)::

    query := or
    or    := and ("OR" and)*
    and   := not (["AND"] not)*        adjacent operands are ANDed: "RELOS India"
    not   := ("NOT" | "-") not | near
    near  := primary ("NEAR/n" primary)*
    primary := [field ":"] ( "(" or ")" | word | phrase | @list )

Operators are upper-case only, so "and", "or" and "not" stay ordinary words. Every node keeps its
span in the query, so errors can point at a character and explanations can quote the query.
luqum was considered; its grammar has no NEAR/n, no exact-case marker and reports positions only
as token indices, so a hand-written parser of ~200 lines gives better messages for less.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NoReturn

#: Fields a query may name.
FIELDS = ("body", "feed", "lang", "site", "source", "summary", "title", "url")


class QuerySyntaxError(Exception):
    """A query does not parse; the caller turns it into a ``RuleError`` naming the rule."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position
        self.message = message


@dataclass(frozen=True, slots=True)
class Word:
    """A bare word as written, e.g. ``Su-57``, ``logist*`` or (with ``exact``) ``=RELOS``."""

    text: str
    exact: bool
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Phrase:
    """A quoted phrase; ``slop`` is set for proximity (``"India Russia"~8``)."""

    text: str
    exact: bool
    slop: int | None
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ListRef:
    """A named term list, ``@india_names``."""

    name: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Field:
    """``name:child``: the child is matched only in that field."""

    name: str
    child: Node
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Not:
    """``NOT child`` or ``-child``."""

    child: Node
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class And:
    """All children (explicit ``AND`` or adjacent operands)."""

    children: tuple[Node, ...]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Or:
    """Any child."""

    children: tuple[Node, ...]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Near:
    """``left NEAR/distance right``: both within ``distance`` words of each other, any order."""

    left: Node
    right: Node
    distance: int
    start: int
    end: int


Node = Word | Phrase | ListRef | Field | Not | And | Or | Near


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # ( ) AND OR NOT NEAR MINUS FIELD WORD PHRASE LIST EOF
    text: str
    start: int
    end: int
    number: int | None = None
    exact: bool = False


_FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*:")
_LIST_RE = re.compile(r"@([\w-]*)")
#: Opening quote → the characters that close it.
_QUOTES = {
    '"': '"',
    "\u201c": "\u201d\"",  # “English”
    "\u201e": "\u201c\u201d\"",  # „German“
    "\u201d": "\u201d",  # ”Swedish”
    "\u00ab": "\u00bb",  # «French, Russian»
    "\u00bb": "\u00ab",  # »German«
}
#: En dash, em dash and minus sign: a "-" glued to a word, once a word processor had it.
_DASHES = "\u2013\u2014\u2212"
_WORD_END = re.compile('[\\s()"\u201c\u201d\u201e\u00ab\u00bb]')
_NEAR_RE = re.compile(r"NEAR(?:/(\d+))?$")
#: The widest NEAR: about a paragraph. Wider means "both in the story" (AND), and would make
#: finding every pair slow on a long text that repeats both words.
MAX_NEAR = 100
_OPERATOR_HINTS = {"&&": "AND", "||": "OR", "!": "NOT"}


def _fail(position: int, message: str) -> NoReturn:
    raise QuerySyntaxError(position, message)


def _lex(query: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(query)
    after_field = False
    while True:
        while i < n and query[i].isspace():
            i += 1
        if i >= n:
            toks.append(_Tok("EOF", "", n, n))
            return toks
        c = query[i]
        raw_value = after_field
        after_field = False
        if c in "()":
            toks.append(_Tok(c, c, i, i + 1))
            i += 1
            continue
        if c == "-" or (c in _DASHES and i + 1 < n and not query[i + 1].isspace() and query[i + 1] != ")"):
            # An en dash or minus sign glued to a word is a "-" that a word processor changed.
            if i + 1 >= n or query[i + 1].isspace() or query[i + 1] == ")":
                _fail(i, "'-' must be directly followed by what to exclude, e.g. -sports")
            toks.append(_Tok("MINUS", "-", i, i + 1))
            i += 1
            continue
        if c == "!" and i + 1 < n and not query[i + 1].isspace():
            _fail(i, "'!' is not an operator here: write NOT, or - before the word (-sports)")
        if c in "[{":
            _fail(i, "ranges ([a TO b]) are not supported; to search for brackets, use quotes")
        exact = False
        start = i
        if c == "=":
            if i + 1 >= n or query[i + 1].isspace() or query[i + 1] in "()@=":
                _fail(i, "'=' must be directly followed by a word or phrase, e.g. =RELOS")
            exact = True
            i += 1
            c = query[i]
        if c in _QUOTES:
            # Typographic quotes (“…”, «…», „…“), as pasted from a document, quote a phrase too.
            closers = _QUOTES[c]
            close = next((j for j in range(i + 1, n) if query[j] in closers), -1)
            if close < 0:
                _fail(i, f"unterminated phrase: missing closing '{closers[0]}'")
            end = close + 1
            slop: int | None = None
            if end < n and query[end] == "~":
                m = re.match(r"\d+", query[end + 1 :])
                if m is None:
                    _fail(end, "expected a number after '~', e.g. \"India Russia\"~8")
                if re.match(r"\.\d", query[end + 1 + len(m.group()) :]):
                    _fail(end + 1, "expected a whole number of words after '~', e.g. \"India Russia\"~8")
                slop = int(m.group())
                end += 1 + len(m.group())
            toks.append(_Tok("PHRASE", query[i + 1 : close], start, end, slop, exact))
            i = end
            continue
        if c == "@" and not exact:
            m = _LIST_RE.match(query, i)
            assert m is not None
            if not m.group(1):
                _fail(i, "expected a term list name after '@', e.g. @india_names")
            if query.startswith(":", m.end()):
                _fail(m.end(), f"@{m.group(1)} is a term list, not a field: write title:@{m.group(1)}")
            toks.append(_Tok("LIST", m.group(1), i, m.end()))
            i = m.end()
            continue
        if exact:
            m = _FIELD_RE.match(query, i)
            if m is not None and m.group()[:-1].lower() in FIELDS:
                value = query[m.end() :].split(maxsplit=1)[0] if query[m.end() :].strip() else "…"
                _fail(start, f"the field comes first: write {m.group()}={value}")
        if raw_value and toks[-1].text not in ("site", "url"):  # a site or URL may hold a colon
            m = _FIELD_RE.match(query, i)
            if m is not None and m.group()[:-1].lower() in FIELDS:
                _fail(i, nested_field(m.group()[:-1].lower(), toks[-1].text))
        if not exact and not raw_value:
            m = _FIELD_RE.match(query, i)
            if m is not None:
                name = m.group()[:-1]
                if name.lower() not in FIELDS:
                    _fail(
                        i,
                        f"unknown field '{name}:' (known: {', '.join(FIELDS)});"
                        " to search for a colon, put the words in quotes",
                    )
                if m.end() >= n or query[m.end()].isspace() or query[m.end()] == ")":
                    _fail(m.end(), f"expected a term, phrase or '(' after {name}:")
                toks.append(_Tok("FIELD", name.lower(), i, m.end()))
                i = m.end()
                after_field = True
                continue
        m = _WORD_END.search(query, i)
        end = m.start() if m else n
        if end == i:  # pragma: no cover - every character _WORD_END stops at is handled above
            _fail(i, f"unexpected {query[i]!r}")
        text = query[i:end]
        toks.append(_word_token(text, start, end, exact, bool(toks) and toks[-1].kind == "PHRASE"))
        i = end


def nested_field(inner: str, outer: str) -> str:
    """The error for a field inside another (``title:summary:India``): never true, or ignored."""
    return (
        f"{inner}: inside {outer}:, but each clause looks in one field: write them side by side,"
        f" e.g. {outer}:… OR {inner}:…"
    )


def _word_token(text: str, start: int, end: int, exact: bool, after_phrase: bool = False) -> _Tok:
    """Classify a bare word: operator, NEAR/n, or a search word (checked for unsupported syntax)."""
    if not exact:
        if text in ("AND", "OR", "NOT"):
            return _Tok(text, text, start, end)
        near = _NEAR_RE.match(text)
        if near is not None or text.startswith("NEAR/"):
            if near is None or near.group(1) is None:
                what = "a whole number of words" if text[5:6].isdigit() else "a distance"
                _fail(start, f"NEAR needs {what}, e.g. NEAR/5")
            distance = int(near.group(1))
            if distance > MAX_NEAR:
                _fail(
                    start + 5,
                    f"NEAR/{distance} is further than a passage: at most NEAR/{MAX_NEAR}"
                    " (for anywhere in the story, use AND)",
                )
            return _Tok("NEAR", text, start, end, distance)
        if re.fullmatch(r"NEAR\d+", text):
            _fail(start, f"write NEAR/{text[4:]}, with a slash")
        if text in _OPERATOR_HINTS:
            _fail(start, f"'{text}' is not an operator here: write {_OPERATOR_HINTS[text]}")
    if text.startswith("~") and after_phrase:
        _fail(start, "no space between a phrase and its '~', e.g. \"India Russia\"~8")
    if "^" in text:
        _fail(start + text.index("^"), "boosts ('^') are not supported: every term counts the same")
    if "~" in text:
        _fail(
            start + text.index("~"),
            "'~' works only after a phrase, e.g. \"India Russia\"~8 (fuzzy words are not supported)",
        )
    if "?" in text:
        _fail(start + text.index("?"), "'?' wildcards are not supported: use a trailing *, e.g. logist*")
    return _Tok("WORD", text, start, end, None, exact)


_OPERAND_START = frozenset({"(", "WORD", "PHRASE", "LIST", "FIELD", "NOT", "MINUS"})


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.toks = _lex(query)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect_operand(self, after: str, allowed: frozenset[str] = _OPERAND_START) -> None:
        tok = self.tok
        if tok.kind in allowed:
            return
        if tok.kind == ")" and self.depth == 0:
            _fail(tok.start, "unbalanced ')'")
        _fail(tok.start, f"expected a term or '(' {after}")

    def parse(self) -> Node:
        if self.tok.kind == "EOF":
            _fail(0, "empty query: expected a term")
        self.expect_operand("at the start of the query")
        node = self.parse_or()
        if self.tok.kind == ")":
            _fail(self.tok.start, "unbalanced ')'")
        if self.tok.kind != "EOF":  # pragma: no cover - every other token starts an operand
            _fail(self.tok.start, f"unexpected {self.tok.text!r}")
        return node

    def _chain(self, op: str, sub: Callable[[], Node], implicit: bool) -> Node:
        items = [sub()]
        while True:
            if self.tok.kind == op:
                self.take()
                self.expect_operand(f"after {op}")
            elif not (implicit and self.tok.kind in _OPERAND_START):
                break
            items.append(sub())
        if len(items) == 1:
            return items[0]
        start, end = items[0].start, items[-1].end
        return And(tuple(items), start, end) if op == "AND" else Or(tuple(items), start, end)

    def parse_or(self) -> Node:
        return self._chain("OR", self.parse_and, implicit=False)

    def parse_and(self) -> Node:
        return self._chain("AND", self.parse_not, implicit=True)

    def parse_not(self) -> Node:
        if self.tok.kind in ("NOT", "MINUS"):
            tok = self.take()
            self.expect_operand("after NOT" if tok.kind == "NOT" else "after '-'")
            child = self.parse_not()
            return Not(child, tok.start, child.end)
        return self.parse_near()

    def parse_near(self) -> Node:
        left = self.parse_primary()
        while self.tok.kind == "NEAR":
            tok = self.take()
            if self.tok.kind in ("NOT", "MINUS"):
                _fail(self.tok.start, "NEAR works on terms, phrases, @lists or (… OR …) groups, not on NOT")
            self.expect_operand(f"after {tok.text}")
            right = self.parse_primary()
            assert tok.number is not None
            left = Near(left, right, tok.number, left.start, right.end)
        return left

    def parse_primary(self) -> Node:
        tok = self.tok
        if tok.kind == "FIELD":
            self.take()
            self.expect_operand(f"after {tok.text}:", frozenset({"(", "WORD", "PHRASE", "LIST"}))
            child = self.parse_primary()
            return Field(tok.text, child, tok.start, child.end)
        if tok.kind == "(":
            self.take()
            if self.tok.kind == ")":
                _fail(self.tok.start, "empty parentheses: expected a term or '(' after '('")
            self.expect_operand("after '('")
            self.depth += 1
            inner = self.parse_or()
            self.depth -= 1
            if self.tok.kind != ")":
                _fail(tok.start, "unbalanced '(': no matching ')'")
            close = self.take()
            return replace(inner, start=tok.start, end=close.end)
        self.take()
        if tok.kind == "WORD":
            return Word(tok.text, tok.exact, tok.start, tok.end)
        if tok.kind == "PHRASE":
            return Phrase(tok.text, tok.exact, tok.number, tok.start, tok.end)
        if tok.kind == "LIST":
            return ListRef(tok.text, tok.start, tok.end)
        raise AssertionError(tok)  # pragma: no cover - callers check expect_operand first


def parse(query: str) -> Node:
    """Parse a query into its AST; raises ``QuerySyntaxError`` with a position and a message."""
    return _Parser(query).parse()


def lower_case_operators(query: str) -> list[str]:
    """Bare words that look like operators written in lower case ("or", "near/5"): ordinary
    words to this language, but often meant as operators. For a warning, not an error."""
    try:
        toks = _lex(query)
    except QuerySyntaxError:
        return []
    return [
        t.text
        for t in toks
        if t.kind == "WORD" and not t.exact and (t.text in ("and", "or", "not") or _LOWER_NEAR.match(t.text))
    ]


_LOWER_NEAR = re.compile(r"(?i:near)/\d+$")



def list_names(query: str) -> set[str]:
    """The term lists a query names (none if it does not parse: its error is reported anyway)."""
    try:
        return {t.text for t in _lex(query) if t.kind == "LIST"}
    except QuerySyntaxError:
        return set()


def exclusions_in_alternatives(query: str) -> list[str]:
    """Alternatives of an OR that carry their own exclusion without parentheses (``India OR
    Russia -oil``): by this language's precedence the exclusion applies to that alternative
    alone, where Lucene users may expect it to apply to the whole query. For a warning."""
    try:
        tree = parse(query)
    except QuerySyntaxError:
        return []
    found: list[str] = []

    def walk(node: Node) -> None:
        if isinstance(node, Or):
            for child in node.children:
                src = query[child.start : child.end]
                # "(Russia -oil)" is clear, and so is an explicit "Russia AND NOT oil".
                implicit = not src.startswith("(") and " AND " not in src
                if isinstance(child, And) and any(isinstance(c, Not) for c in child.children) and implicit:
                    found.append(src)
        for child in _children(node):
            walk(child)

    walk(tree)
    return found


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, And | Or):
        return node.children
    if isinstance(node, Field | Not):
        return (node.child,)
    if isinstance(node, Near):
        return (node.left, node.right)
    return ()
