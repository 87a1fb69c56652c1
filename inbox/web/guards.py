"""Who may call a view. Foreign or invisible ids answer 404, never 403."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort
from flask_login import current_user, login_required


def _requires(allowed: Callable[[object], bool]):
    """A decorator: logged in, and allowed(user), else 403."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not allowed(current_user):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


# Staff with the Inbox privilege: the inbox, its fragments and the websocket.
inbox_required = _requires(lambda user: user.can_use_inbox)
# Only the Main Admin: Inbox Settings and billing.
main_admin_required = _requires(lambda user: user.is_main_admin)
# The Main Admin or an admin: teammates and their privileges.
admin_required = _requires(lambda user: user.role in ("main_admin", "admin"))
