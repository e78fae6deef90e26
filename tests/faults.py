"""Real faults in a real PostgreSQL, at an exact statement: the server drops the connection
a statement is about to run on (``pg_terminate_backend``), as a restart or a failover would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Engine, event

Admin = psycopg.Connection[tuple[Any, ...]]


def drop_connection_at(
    engine: Engine,
    pg_url: str,
    when: Callable[[str, Any], bool],
    also: Callable[[Admin], None] | None = None,
    admin_url: str | None = None,
) -> list[int]:
    """The first time ``when(statement, parameters)`` holds for a statement about to run on
    ``engine``, the server drops its connection; ``also`` first does more on an admin
    connection (to ``admin_url``, by default ``pg_url``): makes the database read-only, say.
    Returns the list the dropped backend's pid goes into, so a test can tell that the fault
    happened. Once only, even if ``also`` fails (its error then reaches the statement)."""
    dropped: list[int] = []

    def before(_conn: Any, cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if dropped or not when(statement, parameters):
            return
        pid = cursor.connection.info.backend_pid
        dropped.append(pid)
        with psycopg.connect(admin_url or pg_url, autocommit=True) as admin:
            if also is not None:
                also(admin)
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    event.listen(engine, "before_cursor_execute", before)
    return dropped
