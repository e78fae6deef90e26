"""What the commands share: loading the config once, opening the store, printing tables."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.config import Settings, load_settings
from monitor.terminal import display_width

if TYPE_CHECKING:
    from monitor.app import App
    from monitor.store import Store


def settings_of(args: argparse.Namespace) -> Settings:
    """The config named by --config, read and validated once per command (kept on ``args``,
    so a command that needs both the store and the settings does not read the file twice)."""
    loaded: Settings | None = getattr(args, "loaded_settings", None)
    if loaded is None:
        loaded = load_settings(Path(args.config))
        args.loaded_settings = loaded
    return loaded


def app_of(args: argparse.Namespace) -> App:
    from monitor.app import App

    return App(settings_of(args))


def store_of(args: argparse.Namespace) -> Store:
    """The store, for commands that inspect it: a new database gets its schema, one at an
    older schema is left for the daemon or `monitor db` to upgrade (see ``require_schema``)."""
    from monitor.store import Store, create_engine_for, require_schema

    store = Store(create_engine_for(settings_of(args).database))
    store.ping()
    require_schema(store.engine)
    return store


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def mask_db(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by the store; here we only print
        return url


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> None:
    """Columns padded by what a terminal shows: Devanagari vowel signs take no column."""

    def cut(text: str, width: int) -> str:
        text = text.replace("\n", " ")
        if not width or display_width(text) <= width:
            return text
        used = end = 0
        while end < len(text) and used + display_width(text[end]) <= width - 1:
            used += display_width(text[end])
            end += 1
        return text[:end] + "…"

    def pad(text: str, size: int) -> str:
        return text + " " * (size - display_width(text))

    sizes = [
        max([len(h)] + [display_width(cut(r[i], w)) for r in rows]) if w else 0
        for i, (h, w) in enumerate(zip(header, widths, strict=True))
    ]
    for row in (header, *rows):
        print(
            "  ".join(
                pad(cut(c, w), s) if w else cut(c, w) for c, w, s in zip(row, widths, sizes, strict=True)
            ).rstrip()
        )
    if not rows:
        print("(none)")
