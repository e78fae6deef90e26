"""Persistence: the only package that speaks SQL. ``Store`` is its public face."""

from monitor.store.engine import (
    create_engine_for,
    database_away,
    database_words,
    require_schema,
    upgrade_schema,
)
from monitor.store.repository import (
    ClusterView,
    Delivery,
    FeedState,
    HealthChange,
    HitRecord,
    OutboxEntry,
    SavedStory,
    Store,
    TargetRoute,
    Unseen,
)

__all__ = [
    "ClusterView",
    "Delivery",
    "FeedState",
    "HealthChange",
    "HitRecord",
    "OutboxEntry",
    "SavedStory",
    "Store",
    "TargetRoute",
    "Unseen",
    "create_engine_for",
    "database_away",
    "database_words",
    "require_schema",
    "upgrade_schema",
]
