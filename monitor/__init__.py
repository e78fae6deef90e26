"""monitor: a news-monitoring alert service (fetch → parse → normalise → dedup → match → store → notify)."""

__version__ = "0.1.0"
