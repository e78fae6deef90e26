"""The query language: compile rules once, then match stories, explain results, cut snippets.

See docs/query-language.md for the language itself. Pure: imports no store, config or network.
"""

from __future__ import annotations

from monitor.match.explain import Explanation, snippet
from monitor.match.ruleset import RuleSet, compile_query, compile_rules

__all__ = ["Explanation", "RuleSet", "compile_query", "compile_rules", "snippet"]
