"""Persistence: the only package that speaks SQL. ``Store`` is its public face."""

from monitor.store.engine import create_engine_for, upgrade_schema
from monitor.store.repository import Delivery, FeedState, HitRecord, Store

__all__ = ["Delivery", "FeedState", "HitRecord", "Store", "create_engine_for", "upgrade_schema"]
