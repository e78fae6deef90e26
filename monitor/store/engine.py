"""Engine creation and schema upgrades (alembic only)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from monitor.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

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


#: Seconds to wait for PostgreSQL to accept a connection (unless the URL sets ``connect_timeout``).
_CONNECT_TIMEOUT = 10


def create_engine_for(url: str) -> Engine:
    """An engine for any SQLAlchemy URL; ``postgresql://`` means psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"store: {url!r} is not a database URL") from exc
    connect_args: dict[str, object] = {}
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        # libpq waits for ever on a server that does not answer (a failover under way): a
        # poll or a delivery pass would hang with it, and a stop with them.
        connect_args["connect_timeout"] = _CONNECT_TIMEOUT
    try:
        engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    except (ArgumentError, ImportError, SQLAlchemyError) as exc:
        raise StoreError(f"store: cannot use {parsed.render_as_string()}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    return config


def _revisions(engine: Engine) -> tuple[str | None, str | None, set[str]]:
    """The database's schema revision (None: no schema yet), the newest this code knows, and
    every revision it knows."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreError(f"store: cannot read the schema of {engine.url.render_as_string()}: {exc}") from exc
    return current, script.get_current_head(), {rev.revision for rev in script.walk_revisions()}


def _newer(engine: Engine, current: str) -> StoreError:
    return StoreError(
        f"store: {engine.url.render_as_string()} has schema revision {current}, which this version"
        " of monitor does not know: a newer monitor has migrated it; upgrade monitor here too"
    )


def require_schema(engine: Engine) -> None:
    """For commands that read (``hits``, ``feeds``, ``backtest``…): create the schema of a new
    database, but never upgrade one that is in use. The daemon or another worker may be running
    the code the schema was made for, so an upgrade is asked for, not done behind its back."""
    current, head, known = _revisions(engine)
    if current == head:
        return
    if current is None:
        upgrade_schema(engine)  # a new, empty database: nobody to disturb
        return
    if current not in known:
        raise _newer(engine, current)
    raise StoreError(
        f"store: {engine.url.render_as_string()} has schema revision {current}, this version of"
        f" monitor needs {head}: run `monitor db upgrade` (the daemon also upgrades it when it starts)"
    )


#: The PostgreSQL advisory lock held while migrating ("monitor" in ASCII).
_MIGRATION_LOCK = 0x6D6F6E69746F72


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Apply alembic migrations up to ``revision`` on ``engine``'s database."""
    from alembic.util import CommandError

    from alembic import command

    current, _, known = _revisions(engine)
    if current is not None and current not in known:
        raise _newer(engine, current)
    config = _alembic_config()
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Workers started together on a new database would each create the tables and
                # all but one fail; the lock queues them, and the later ones find the schema made.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except (SQLAlchemyError, CommandError) as exc:
        raise StoreError(f"store: cannot migrate {engine.url.render_as_string()}: {exc}") from exc


def database_words(exc: SQLAlchemyError) -> str:
    """The database's own words for an error ("terminating connection due to administrator
    command"), without SQLAlchemy's statement, parameters and link: one line for a log."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def database_away(exc: DBAPIError) -> bool:
    """Whether the database was away or busy (a dropped or refused connection, a lock, a
    failover's server not yet writable), rather than refusing what was written: the same
    work succeeds once it is back."""
    read_only = getattr(exc.orig, "sqlstate", None) == "25006"
    return isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated or read_only
