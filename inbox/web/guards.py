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
