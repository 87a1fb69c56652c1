"""Normalized search keys for patients: lower-case, accents folded."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def name_key(first: str, last: str) -> str:
    """'first last|last first', so a prefix search finds either order."""
    first, last = fold(first), fold(last)
    return f"{first} {last}|{last} {first}".strip()
