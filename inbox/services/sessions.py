"""How long a login lives: signed out after a spell without user activity, and after a
hard maximum whatever happens. Pure rules over timestamps (seconds since the epoch);
the web layer keeps the two stamps in the signed session cookie."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import User

# Keys in the (signed, HttpOnly) session cookie.
LAST_ACTIVE = "_active_at"
LOGGED_IN = "_login_at"


@dataclass(frozen=True)
class SessionState:
    expired: bool
    remaining: float  # seconds until idle logoff (0 when expired)
    reason: str = ""  # "idle" | "max_age" | "unknown" when expired


def session_state(
    last_active: float | None,
    logged_in: float | None,
    now: float,
    idle_seconds: float,
    max_seconds: float,
) -> SessionState:
    """Where a login stands at `now`. A session without stamps (made before this rule, or
    forged without them) counts as expired: the safe reading."""
    if not isinstance(last_active, int | float) or not isinstance(logged_in, int | float):
        return SessionState(True, 0.0, "unknown")
    if now - logged_in > max_seconds:
        return SessionState(True, 0.0, "max_age")
    remaining = idle_seconds - (now - last_active)
    if remaining <= 0:
        return SessionState(True, 0.0, "idle")
    # Never more than the hard maximum allows either.
    return SessionState(False, min(remaining, max_seconds - (now - logged_in)))


def end_sessions(user: User) -> None:
    """End every session of `user` issued so far: each carries the generation it was issued
    under, and one that no longer matches is signed out. The caller commits."""
    user.session_generation = (user.session_generation or 0) + 1
