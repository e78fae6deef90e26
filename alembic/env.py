"""Alembic environment: metadata from the package, URL from the caller or the config."""

from __future__ import annotations

import os

from sqlalchemy import Connection

from alembic import context
from monitor.store.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    if os.environ.get("MONITOR_DATABASE_URL"):
        return os.environ["MONITOR_DATABASE_URL"]
    from monitor.config import DEFAULT_CONFIG, load_settings

    return load_settings(os.environ.get("MONITOR_CONFIG", str(DEFAULT_CONFIG))).database


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from monitor.store.engine import create_engine_for

    with create_engine_for(_url()).begin() as conn:
        _run(conn)
