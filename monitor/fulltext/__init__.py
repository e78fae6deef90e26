"""Full article text for stories whose feed says too little: policy, polite fetching, extraction.

``needs_full_text`` decides whether a story's page is worth a request, ``ArticleFetcher`` fetches
it behind a per-host gate and ``extract_text`` keeps only the main text, so the rules see the
article and never the site's menus.
"""

from __future__ import annotations

from monitor.fulltext.article import ArticleFetcher, ArticleOutcome
from monitor.fulltext.extract import extract_text, page_title_and_language
from monitor.fulltext.policy import FullTextMode, needs_full_text

__all__ = [
    "ArticleFetcher",
    "ArticleOutcome",
    "FullTextMode",
    "extract_text",
    "needs_full_text",
    "page_title_and_language",
]
