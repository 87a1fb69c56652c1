"""US area codes by state, from `phonenumbers`' geographic data: for "numbers near
you" when an area code has none available."""

from __future__ import annotations

import re
from functools import cache

import phonenumbers

STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL",
    "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN",
    "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR",
    "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA",
    "Washington": "WA", "Washington D.C.": "DC", "West Virginia": "WV", "Wisconsin": "WI",
    "Wyoming": "WY",
}  # fmt: skip
_ABBR = re.compile(r",\s*([A-Z]{2})$")
# NANP: the first digit 2-9; N11 (211, 411, 911...) are service codes, never area codes.
AREA_CODE = re.compile(r"^[2-9](?!11)\d{2}$")


def _state(description: str) -> str | None:
    if m := _ABBR.search(description):
        return m.group(1)
    return STATES.get(description.strip())


@cache
def table() -> dict[str, tuple[str, str]]:
    """area code -> (state, place) for every geographic US area code."""
    # Imported here: the geocoder's data is ~100 MB per process, and only the Inbox
    # Settings number search needs it (bench/RESULTS.md, memory).
    from phonenumbers import geocoder

    out: dict[str, tuple[str, str]] = {}
    for code in range(201, 990):
        number = phonenumbers.parse(f"+1{code}2345678")
        if not phonenumbers.is_valid_number(number):
            continue
        if phonenumbers.region_code_for_number(number) != "US":
            continue
        place = geocoder.description_for_number(number, "en")
        state = _state(place) if place else None
        if state:
            out[str(code)] = (state, place)
    return out


def describe(area_code: str) -> str:
    state_place = table().get(area_code)
    return state_place[1] if state_place else ""


def nearby(area_code: str) -> list[str]:
    """Other area codes of the same state, same place first."""
    known = table().get(area_code)
    if known is None:
        return []
    state, place = known
    others = [(code, p) for code, (s, p) in table().items() if s == state and code != area_code]
    return [code for code, p in sorted(others, key=lambda cp: (cp[1] != place, cp[0]))]
