"""Notes on a config that loads but may not do what its author meant (an unused term list, a
rule that needs none of its words, a lower-case "or"). ``monitor check`` prints them under the
item they are about; the daemon logs them when it starts and on every reload, where a config
edited for ``systemctl reload`` is seen by no one running ``check``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from monitor.config import Settings
from monitor.match import RuleSet
from monitor.match.syntax import exclusions_in_alternatives, list_names, lower_case_operators


@dataclass(frozen=True, slots=True)
class Note:
    """One note: what it is about (``kind`` and ``name``), and what to know."""

    kind: Literal["term_lists", "rule", "target"]
    name: str
    text: str

    def __str__(self) -> str:
        about = "term lists" if self.kind == "term_lists" else f"{self.kind} {self.name!r}"
        return f"{about}: {self.text}"


def config_notes(settings: Settings, rules: RuleSet) -> list[Note]:
    """Every note on ``settings`` (whose rules compiled to ``rules``), in config order."""
    notes: list[Note] = []
    used = {name for rule in settings.rules for name in list_names(rule.query)}
    unused = [f"@{name}" for name in settings.term_lists if name not in used]
    if unused:
        notes.append(Note("term_lists", "", f"no rule uses {', '.join(unused)}"))
    wordless = set(rules.wordless())
    for rule in rules.rules:
        if rule.name in wordless:
            notes.append(
                Note(
                    "rule",
                    rule.name,
                    "it can match a story that has none of its words (only NOT, site: or lang:"
                    " decide it), so it alerts on every story they let through; if that is not meant,"
                    " add the words it is about, e.g. RELOS AND NOT oil rather than NOT oil",
                )
            )
        for alternative in exclusions_in_alternatives(rule.query):
            shown = " ".join(alternative.split())
            notes.append(
                Note(
                    "rule",
                    rule.name,
                    f"in '{shown}', one alternative of an OR, the exclusion applies to that"
                    " alternative alone; to exclude from all of them, write (… OR …) -word",
                )
            )
        words = [w for w in lower_case_operators(rule.query) if not w.isupper()]
        if words:
            notes.append(
                Note(
                    "rule",
                    rule.name,
                    f"{', '.join(repr(w) for w in dict.fromkeys(words))} in lower case is a word to"
                    " search for, not an operator (operators are upper case: AND, OR, NOT, NEAR/5)",
                )
            )
    for target in settings.notifications:
        wanted = [r.priority for r in settings.rules if target.rules is None or r.name in target.rules]
        floor = target.min_priority
        if wanted and floor is not None and max(wanted) < floor:
            notes.append(
                Note(
                    "target",
                    target.name,
                    f"min_priority {floor} is above the priority of every rule it takes:"
                    " it receives no alerts",
                )
            )
    return notes
