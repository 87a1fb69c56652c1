"""Normalized search keys for patients: lower-case, accents and apostrophes folded."""

from __future__ import annotations

import unicodedata

# O'Brien, O’Brien and OBrien are one name to whoever types it (migration a1c3e5f7b9d2
# folded the keys stored before).
APOSTROPHES = "'\u2019\u02bc`\u00b4"


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    kept = "".join(c for c in decomposed if not unicodedata.combining(c) and c not in APOSTROPHES)
    return kept.casefold().strip()


def name_key(first: str, last: str) -> str:
    """'first last|last first', so a prefix search finds either order."""
    first, last = fold(first), fold(last)
    return f"{first} {last}|{last} {first}".strip()
