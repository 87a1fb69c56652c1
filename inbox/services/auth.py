"""Logging in: one generic answer whether the email exists or not, after the same work."""

from __future__ import annotations

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models import User

# Checked against when the email is unknown, so both paths cost one hash check of the
# same kind (werkzeug's default, scrypt): the answer's timing does not tell whether an
# account exists.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def authenticate(email: str, password: str) -> User | None:
    user = db.session.scalars(
        select(User).where(func.lower(User.email) == (email or "").strip().lower())
    ).first()
    # A login with no password yet (its set-password link not used) costs the same check.
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    matches = check_password_hash(stored, password or "")
    if user is None or not user.password_hash or not matches or not user.is_active:
        return None
    return user
