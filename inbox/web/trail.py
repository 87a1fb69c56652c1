"""The web side of the audit log: who (the signed-in user) and from where (this request).
Views call note() after the service they called has succeeded."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from ..models import AuditEvent, User
from ..services import audit


def origin() -> audit.Origin:
    return audit.Origin(ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))


def note(
    action: str,
    obj: object | None = None,
    *,
    summary: str = "",
    user: User | None = None,
    commit: bool = True,
) -> AuditEvent:
    """Record `action` by `user` (default: the signed-in user) on `obj` (commit=False: with
    the request's next commit)."""
    return audit.record(
        user or current_user, action, obj, summary=summary, origin=origin(), commit=commit
    )
