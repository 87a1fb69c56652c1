"""Logging in: one generic answer whether the email exists or not, after the same work."""

from __future__ import annotations

import functools

from flask import current_app
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from .. import events
from ..extensions import db
from ..models import User
from .sessions import end_sessions


@functools.cache
def _dummy_hash(method: str) -> str:
    """Checked against when the email is unknown, so both paths cost one hash check of the
    same kind (PASSWORD_HASH_METHOD): the answer's timing does not tell whether an account
    exists."""
    return generate_password_hash("not-a-real-password", method=method)


def authenticate(email: str, password: str) -> User | None:
    user = db.session.scalars(
        select(User).where(func.lower(User.email) == (email or "").strip().lower())
    ).first()
    # A login with no password yet (its set-password link not used) costs the same check.
    stored = (
        user.password_hash
        if user is not None and user.password_hash
        else _dummy_hash(current_app.config["PASSWORD_HASH_METHOD"])
    )
    matches = check_password_hash(stored, password or "")
    if user is None or not user.password_hash or not matches or not user.is_active:
        return None
    return user


def sign_out_everywhere(user: User) -> None:
    """End every session of this user on every device (logout included: a copy of the
    cookie taken before must not outlive it), and close their open live sockets."""
    end_sessions(user)
    db.session.commit()
    sessions_ended(user)


def sessions_ended(user: User) -> None:
    """After the commit that ended a user's sessions: their open live sockets close now
    (each checks its session's generation), not at the next patient text."""
    events.publish(user.account_id, events.access_changed(user.id))
