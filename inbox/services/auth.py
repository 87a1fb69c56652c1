"""Logging in: one generic answer whether the email exists or not."""

from __future__ import annotations

from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from ..extensions import db
from ..models import User

# Checked against when the email is unknown, so both paths cost the same.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def authenticate(email: str, password: str) -> User | None:
    user = db.session.scalars(
        select(User).where(func.lower(User.email) == (email or "").strip().lower())
    ).first()
    if user is None:
        from werkzeug.security import check_password_hash

        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not user.check_password(password or "") or not user.is_active:
        return None
    return user
