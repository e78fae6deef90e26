"""Text as a terminal shows it: how many columns a string takes."""

from __future__ import annotations

import unicodedata


def display_width(text: str) -> int:
    """Terminal columns of ``text``: combining marks and format characters take none, wide
    (East Asian) characters two."""
    return sum(
        0
        if unicodedata.category(c) in ("Mn", "Me", "Cf")
        else 2
        if unicodedata.east_asian_width(c) in ("W", "F")
        else 1
        for c in text
    )
