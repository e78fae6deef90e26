"""Engine creation and schema upgrades (alembic only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from monitor.errors import StoreError

#: alembic/ lives at the top of the repository (the package is installed editable).
ALEMBIC_DIR = Path(__file__).resolve().parents[2] / "alembic"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers (``monitor hits``) run beside the daemon; the busy timeout makes a
    second writer wait instead of failing."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine_for(url: str) -> Engine:
    """An engine for any SQLAlchemy URL; ``postgresql://`` means psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"store: {url!r} is not a database URL") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed, pool_pre_ping=True)
    except (ArgumentError, ImportError, SQLAlchemyError) as exc:
        raise StoreError(f"store: cannot use {parsed.render_as_string()}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Apply alembic migrations up to ``revision`` on ``engine``'s database."""
    from alembic.config import Config
    from alembic.util import CommandError

    from alembic import command

    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except (SQLAlchemyError, CommandError) as exc:
        raise StoreError(f"store: cannot migrate {engine.url.render_as_string()}: {exc}") from exc
