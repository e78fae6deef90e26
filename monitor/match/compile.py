"""AST → evaluator nodes: resolves fields and @lists, splits words into folded literals, and
expands hyphen and letter–digit spellings so ``Su-57`` finds "Su-57", "Su 57" and "Su57".
"""

from __future__ import annotations

import difflib
import itertools
import re
import unicodedata
from collections.abc import Mapping, Sequence

from monitor.match import syntax as ast
from monitor.match.designations import designation_variants
from monitor.match.evaluate import AllOf, InFields, Lang, Negation, OneOf, Site, Test
from monitor.match.positional import AnyOf, Near, Positional, Proximity, Seq, TermList, WordLeaf
from monitor.match.prefilter import Literals
from monitor.match.tokens import HYPHENS, POSSESSIVE_RE, WORD_RE, fold
from monitor.match.view import DEFAULT_FIELDS, FIELD_INDEX

_DOMAIN_RE = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")
_LANG_RE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")
#: Above this many joinable junctions in one word, only three spellings are generated.
_MAX_JUNCTIONS = 4


class CompileError(Exception):
    """A query is well-formed but cannot be compiled (unknown list, bad wildcard, …)."""

    def __init__(self, position: int, message: str, term_list: tuple[str, int] | None = None) -> None:
        super().__init__(message)
        self.position = position
        self.message = message
        #: (list name, entry index) when the fault is in a term list's entry.
        self.term_list = term_list


def _split_digits(token: str) -> list[str]:
    """Split a word where letters meet digits: "Su57" → ["Su", "57"]; marks stay with letters."""
    return [m.group() for m in re.finditer(r"\d+|[^\d]+", token)]


def _spellings(word: str) -> list[list[str]]:
    """The token sequences a word may appear as in text.

    Words are split on every non-word character; at hyphens and at letter–digit joins the
    parts may also be written together, so every combination of joined/split is a spelling.
    """
    word = POSSESSIVE_RE.sub("", word)  # "India's" is India, as in stories (see tokens)
    # A "word" of nothing but invisible characters or stray accents folds to nothing.
    matches = [m for m in WORD_RE.finditer(word) if fold(m.group()).strip()]
    pieces: list[str] = []
    # Between pieces[i] and pieces[i + 1]: None (always apart), "hyphen" or "digits" (the
    # parts may also be written apart or together).
    junctions: list[str | None] = []
    for i, m in enumerate(matches):
        if i:
            gap = word[matches[i - 1].end() : m.start()]
            junctions.append("hyphen" if gap and all(c in HYPHENS for c in gap) else None)
        parts = _split_digits(m.group())
        pieces.extend(parts)
        junctions.extend(["digits"] * (len(parts) - 1))
    if not pieces:
        return []
    free = [i for i, kind in enumerate(junctions) if kind is not None]
    if len(free) <= _MAX_JUNCTIONS:
        choices = list(itertools.product((False, True), repeat=len(free)))
    else:
        as_written = tuple(junctions[i] == "digits" for i in free)
        choices = [as_written, (False,) * len(free), (True,) * len(free)]
    spellings: list[list[str]] = []
    for choice in choices:
        joined = dict(zip(free, choice, strict=True))
        tokens = [pieces[0]]
        for i, piece in enumerate(pieces[1:]):
            if joined.get(i, False):
                tokens[-1] += piece
            else:
                tokens.append(piece)
        if tokens not in spellings:
            spellings.append(tokens)
    return spellings


class Compiler:
    """Compiles the queries of one rule set against shared literals and term lists."""

    def __init__(self, literals: Literals, term_lists: Mapping[str, Sequence[str]]) -> None:
        self.literals = literals
        self.term_lists = {name.removeprefix("@"): entries for name, entries in term_lists.items()}
        self._lists: dict[str, tuple[Positional, frozenset[int]]] = {}
        #: How many compiled rules use each literal (by id): a hint to its frequency.
        self.uses: dict[int, int] = {}
        #: Literals written with a capital letter somewhere: likely names (see ``literal_cost``).
        self.capitalised: set[int] = set()
        #: Literals of term lists: scanned for up front, as ``TermList`` relies on.
        self.in_lists: set[int] = set()
        self._used: set[int] = set()

    def compile(self, query: str) -> Test:
        """Parse and compile one query (raises ``QuerySyntaxError`` or ``CompileError``)."""
        self._query = query
        self._used = set()
        test = self._test(ast.parse(query), None)
        for lit in self._used:
            self.uses[lit] = self.uses.get(lit, 0) + 1
        return test

    def _src(self, node: ast.Node) -> str:
        return self._query[node.start : node.end]

    # -- boolean structure -------------------------------------------------------------------

    def _test(self, node: ast.Node, field: str | None, src: str | None = None) -> Test:
        # ``src`` is what an explanation quotes: "title:RELOS" rather than "RELOS".
        src = src or self._src(node)
        if isinstance(node, ast.Field):
            if field is not None:  # title:summary:India, title:(site:rt.com): never true, or ignored
                raise CompileError(node.start, ast.nested_field(node.name, field))
            return self._test(node.child, node.name, src)
        if isinstance(node, ast.Not):
            return Negation(self._test(node.child, field), src)
        if isinstance(node, ast.And):
            return AllOf([self._test(c, field) for c in node.children], src)
        if isinstance(node, ast.Or):
            return OneOf([self._test(c, field) for c in node.children], src)
        if field in ("site", "lang"):
            return self._metadata(node, field, src)
        if field is None:
            first, last = DEFAULT_FIELDS
        else:
            first = last = FIELD_INDEX[field]
        return InFields(self._positional(node), first, last, src)

    def _metadata(self, node: ast.Node, field: str, src: str) -> Test:
        """``site:`` and ``lang:`` compare the story's host or language, not its words."""
        values: list[tuple[str, int]]
        if isinstance(node, ast.Word):
            values = [(node.text, node.start)]
        elif isinstance(node, ast.ListRef):
            values = [(entry, node.start) for entry in self._list_entries(node)]
        else:
            raise CompileError(
                node.start,
                f"{field}: takes a single value, e.g. "
                + ("site:thehindu.com" if field == "site" else "lang:ru"),
            )
        tests: list[Test] = []
        domains: list[str] = []
        for raw, pos in values:
            value = raw.strip().lower()
            if field == "site":
                # Accept a pasted URL of a site: keep only its host. A section's path would be
                # dropped, and the clause would match the whole site.
                domain, _, path = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value).partition("/")
                if path.strip("/"):
                    raise CompileError(
                        pos,
                        f"site: takes a whole site, not a section (got {raw!r}): write"
                        f" site:{domain.removeprefix('www.')} AND url:{path.strip('/').split('/')[0]}",
                    )
                domain = domain.removeprefix("www.")
                if not _DOMAIN_RE.fullmatch(domain):
                    raise CompileError(
                        pos, f"site: takes a domain name, e.g. site:thehindu.com (got {raw!r})"
                    )
                domains.append(domain)
            else:
                code = value.replace("_", "-")
                if not _LANG_RE.fullmatch(code):
                    raise CompileError(pos, f"lang: takes a language code, e.g. lang:ru (got {raw!r})")
                tests.append(Lang(code, src))
        if domains:
            return Site(domains, src)
        return tests[0] if len(tests) == 1 else OneOf(tests, src)

    # -- positional nodes --------------------------------------------------------------------

    def _positional(self, node: ast.Node) -> Positional:
        if isinstance(node, ast.Word):
            return self._word(node.text, node.exact, node.start)
        if isinstance(node, ast.Phrase):
            return self._phrase(node)
        if isinstance(node, ast.ListRef):
            return self._list(node)
        if isinstance(node, ast.Near):
            return Near(self._near_operand(node.left), self._near_operand(node.right), node.distance)
        raise AssertionError(node)  # pragma: no cover - _test handles the boolean nodes

    def _near_operand(self, node: ast.Node) -> Positional:
        if isinstance(node, ast.Or):
            return AnyOf([self._near_operand(c) for c in node.children])
        if isinstance(node, ast.Word | ast.Phrase | ast.ListRef | ast.Near):
            return self._positional(node)
        if isinstance(node, ast.Field):
            raise CompileError(
                node.start,
                "a field inside NEAR is not supported: put it before"
                " the whole NEAR, e.g. title:(India NEAR/5 Russia)",
            )
        raise CompileError(
            node.start, "NEAR works on terms, phrases, @lists or (… OR …) groups, not on AND or NOT"
        )

    def _word(self, text: str, exact: bool, pos: int) -> Positional:
        """A bare word (or one word of a phrase): all its spellings, any of which may match."""
        prefix = text.endswith("*")
        body = text[:-1] if prefix else text
        if "*" in body:
            raise CompileError(
                pos + body.index("*"), "wildcards are only supported at the end of a word, e.g. logist*"
            )
        if prefix and (not body or not WORD_RE.match(body[-1])):
            raise CompileError(pos + len(text) - 1, "'*' must follow a letter or digit, e.g. logist*")
        body = unicodedata.normalize("NFC", body)
        spellings = _spellings(body)
        if not spellings:
            raise CompileError(pos, f"{text!r} has no letters or digits to search for")
        if not prefix and body[-1].isdigit() and any(c.isalpha() for c in body):
            # A designation's plural: "S-400s", "MiG-29s".
            spellings += [[*tokens[:-1], tokens[-1] + "s"] for tokens in spellings]
        # S-400 also as "С-400" (and back): only as written with a hyphen or joined up.
        other_alphabet = [t for v in designation_variants(body) for t in _spellings(v)]
        alternatives: list[Positional] = []
        for n, tokens in enumerate(spellings + other_alphabet):
            leaves: list[Positional] = []
            for i, token in enumerate(tokens):
                is_prefix = prefix and i == len(tokens) - 1
                literal = self.literals.add(fold(token), is_prefix)
                if not token.islower() and not token.isdigit():
                    self.capitalised.add(literal.id)
                self._used.add(literal.id)
                leaves.append(WordLeaf(literal, token if exact else None))
            hyphenated = n >= len(spellings)
            alternatives.append(leaves[0] if len(leaves) == 1 else Seq(leaves, hyphenated))
        return alternatives[0] if len(alternatives) == 1 else AnyOf(alternatives)

    def _phrase(self, node: ast.Phrase) -> Positional:
        content_start = node.start + (2 if node.exact else 1)
        units = [
            self._word(m.group(), node.exact, content_start + m.start())
            for m in re.finditer(r"\S+", node.text)
        ]
        if not units:
            raise CompileError(node.start, "empty phrase: put words between the quotes")
        if node.slop is not None:
            return Proximity(units, node.slop)
        return units[0] if len(units) == 1 else Seq(units)

    # -- term lists --------------------------------------------------------------------------

    def _list_entries(self, node: ast.ListRef) -> Sequence[str]:
        entries = self.term_lists.get(node.name)
        if entries is None:
            close = difflib.get_close_matches(node.name, list(self.term_lists), n=1)
            if close:
                hint = f"did you mean @{close[0]}?"
            elif len(self.term_lists) <= 8:
                hint = "known: " + (", ".join(f"@{n}" for n in sorted(self.term_lists)) or "none are defined")
            else:  # dozens of lists: naming them all would bury the message
                hint = f"{len(self.term_lists)} lists are defined, under term_lists"
            raise CompileError(node.start, f"unknown term list @{node.name} ({hint})")
        if not entries:
            raise CompileError(node.start, f"term list @{node.name} is empty")
        return entries

    def _list(self, node: ast.ListRef) -> Positional:
        """An @list: any of its entries, each a word or phrase (``=`` and ``*`` allowed)."""
        cached = self._lists.get(node.name)
        if cached is not None:
            self._used.update(cached[1])
            return cached[0]
        outer, self._used = self._used, set()
        try:
            alternatives: list[Positional] = []
            for index, entry in enumerate(self._list_entries(node)):
                text = entry.strip()
                exact = text.startswith("=")
                try:
                    phrase = ast.Phrase(text.removeprefix("="), exact, None, 0, len(text) + 2)
                    alternatives.append(self._phrase(phrase))
                except CompileError as exc:
                    raise CompileError(
                        node.start,
                        f"term list @{node.name}, entry {entry!r}: {exc.message}",
                        (node.name, index),
                    ) from None
            compiled = alternatives[0] if len(alternatives) == 1 else TermList(alternatives)
            self._lists[node.name] = (compiled, frozenset(self._used))
            self.in_lists.update(self._used)
            return compiled
        finally:
            outer.update(self._used)
            self._used = outer
