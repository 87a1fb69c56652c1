"""Who may call a view. Foreign or invisible ids answer 404, never 403."""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required


def inbox_required(view):
    """Logged in, with the Inbox privilege (403 otherwise)."""

    @login_required
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.can_use_inbox:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def main_admin_required(view):
    """Only the Main Admin (403 for everyone else): Inbox Settings and billing."""

    @login_required
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_main_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def admin_required(view):
    """The Main Admin or an admin: teammates and their privileges."""

    @login_required
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user.role not in ("main_admin", "admin"):
            abort(403)
        return view(*args, **kwargs)

    return wrapped
