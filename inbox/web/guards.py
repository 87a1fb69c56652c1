"""Who may call a route: one declaration per view, which is also what enforces it.

Every endpoint of the app declares its access level with ``@access(LEVEL)`` (and, where
one method needs more than the others, ``@access(LEVEL, POST=OTHER)``). The declaration is
stored on the view function; one ``before_request`` hook (installed by :func:`init_app`,
ahead of CSRF checks) reads it and enforces it, so the declaration cannot drift from the
check. An endpoint without a declaration is refused (fail closed) and the permission-matrix
test names it.

Levels, from open to narrow:

=============  =============================================================================
``PUBLIC``     anyone, signed in or not (the login page, ``static/``)
``WEBHOOK``    no session and no CSRF token: the carrier signs the request and the view
               checks the signature (``intake.signature_ok``); a bad one answers 401
``STAFF``      any signed-in user of any role
``INBOX``      a signed-in user with the Inbox privilege (the Main Admin always has it)
``ADMIN``      the Main Admin or an admin
``MAIN_ADMIN`` only the Main Admin
``API_READ``   the integration API (``/api/v1``): an API key (``Authorization: Bearer``) of
``API_WRITE``  the practice with that scope; no session, no cookie, no CSRF token. Denials
``API_SEND``   are ``application/problem+json``: 401 without a live key, 403 without the
               scope, 429 over the key's rate limit (``inbox.api.auth``)
=============  =============================================================================

Denials, the same everywhere:

- not signed in, HTTP request: ``302`` to the login page (with ``next``), whatever the
  method, so a browser (or htmx, which follows it) lands on the login form;
- not signed in, websocket handshake: ``401`` (a socket cannot follow a redirect);
- signed in without the level's role or privilege: ``403``;
- signed in with the right, but the id belongs to another account or to something this
  user may not see (another clinic, a number no longer active): ``404`` from the view,
  never ``403``, never data (tenant scoping via ``models.get_scoped``);
- an endpoint nobody declared: ``403`` (and a failing test).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, abort, current_app, request
from flask_login import current_user

from ..extensions import csrf

PUBLIC = "public"
WEBHOOK = "webhook"
STAFF = "staff"
INBOX = "inbox"
ADMIN = "admin"
MAIN_ADMIN = "main_admin"
API_READ = "api_read"
API_WRITE = "api_write"
API_SEND = "api_send"
API_LEVELS = {API_READ: "read", API_WRITE: "write", API_SEND: "send"}  # level -> key scope

LEVELS = (PUBLIC, WEBHOOK, STAFF, INBOX, ADMIN, MAIN_ADMIN, API_READ, API_WRITE, API_SEND)

# Whether a signed-in user meets a level (PUBLIC and WEBHOOK never ask).
_ALLOWED: dict[str, Callable[[object], bool]] = {
    STAFF: lambda user: True,
    INBOX: lambda user: user.can_use_inbox,
    ADMIN: lambda user: user.role in ("main_admin", "admin"),
    MAIN_ADMIN: lambda user: user.is_main_admin,
}

# Endpoints whose view function is not ours to decorate.
BUILTIN = {"static": PUBLIC}

ATTR = "access_levels"

F = TypeVar("F", bound=Callable)


def access(level: str, **per_method: str) -> Callable[[F], F]:
    """Declare (and so enforce) who may call this view.

    ``per_method`` narrows one HTTP method: ``@access(STAFF, POST=MAIN_ADMIN)``."""
    levels = {"*": level, **{m.upper(): lv for m, lv in per_method.items()}}
    for value in levels.values():
        if value not in LEVELS:
            raise ValueError(f"unknown access level {value!r}")

    def decorator(view: F) -> F:
        setattr(view, ATTR, levels)
        if level == WEBHOOK or level in API_LEVELS:
            csrf.exempt(view)  # signed by the carrier / a bearer key instead
        return view

    return decorator


def declared(app: Flask, endpoint: str) -> dict[str, str] | None:
    """The declaration of an endpoint: {"*": level, "POST": level, ...}, or None."""
    if endpoint in BUILTIN:
        return {"*": BUILTIN[endpoint]}
    view = app.view_functions.get(endpoint)
    return getattr(view, ATTR, None) if view is not None else None


def level_for(app: Flask, endpoint: str, method: str) -> str | None:
    levels = declared(app, endpoint)
    if levels is None:
        return None
    method = "GET" if method == "HEAD" else method
    return levels.get(method.upper(), levels["*"])


def _is_websocket() -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def enforce() -> None:
    """The before_request hook: the one place access is checked."""
    if request.endpoint is None or request.method == "OPTIONS":
        return  # 404/405 from routing; OPTIONS is answered by Flask without the view
    level = level_for(current_app, request.endpoint, request.method)
    if level is None:
        current_app.logger.error("endpoint %s declares no access level", request.endpoint)
        abort(403)
    if level in (PUBLIC, WEBHOOK):
        return
    if level in API_LEVELS:
        from ..api.auth import require_key

        require_key(API_LEVELS[level])  # raises a problem response when refused
        return
    if not current_user.is_authenticated:
        if _is_websocket():
            abort(401)
        login_manager = current_app.login_manager  # type: ignore[attr-defined]
        abort(login_manager.unauthorized())
    if not _ALLOWED[level](current_user):
        abort(403)


def init_app(app: Flask) -> None:
    """Install the hook. Call before CSRFProtect.init_app so access is decided first."""
    app.before_request(enforce)
