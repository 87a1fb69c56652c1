"""Cross-cutting web protections, wired once in create_app():

- idle logoff: every request of a signed-in user is checked against the session's stamps
  (inbox.services.sessions); only user requests renew it, never background traffic;
- htmx-aware sign-in redirects (HX-Redirect instead of a login page swapped into a pane);
- response headers: CSP without inline script or style, framing and sniffing off, no-store
  for signed-in pages;
- the 429 page, and the message the throttled sign-in forms show."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit, urlunsplit

from flask import (
    Flask,
    Request,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import login_url, logout_user
from werkzeug.wrappers import Response

from ..extensions import limiter, login_manager
from ..services.sessions import GENERATION, LAST_ACTIVE, LOGGED_IN, session_state
from .webhooks import URL_PREFIX as WEBHOOK_PATH

log = logging.getLogger(__name__)

# Requests that never count as the user being active: the websocket handshake (it
# reconnects by itself), the warning's own status check and static files.
PASSIVE_ENDPOINTS = {"static", "live.ws", "auth.session_status"}
# Requests that app.js makes by itself (resync after a reconnect, marking a conversation read
# as a text lands in it) say so with this header. It can only shorten a session.
BACKGROUND_HEADER = "X-Background"
# Anonymous endpoints: no session to check.
_PUBLIC_BLUEPRINTS = {"webhooks"}

# The idle clock's resolution: it may run up to this much ahead of the last request.
RENEW_EVERY_SECONDS = 5

IDLE_MESSAGE = "You were signed out after {minutes} minutes without activity."


def idle_seconds() -> float:
    return current_app.config["IDLE_LOGOFF_MINUTES"] * 60


def max_seconds() -> float:
    return current_app.config["SESSION_MAX_HOURS"] * 3600


def is_user_activity() -> bool:
    # endpoint None: nothing matched (a 404, or /ws without the upgrade), not a user's page.
    return (
        request.endpoint is not None
        and request.endpoint not in PASSIVE_ENDPOINTS
        and not request.headers.get(BACKGROUND_HEADER)
    )


def start_session(user, now: float | None = None) -> None:
    """At login, after the session was cleared: the idle clock starts, and the session
    belongs to the user's current generation (see services.sessions.end_sessions)."""
    now = time.time() if now is None else now
    session[LOGGED_IN] = now
    session[LAST_ACTIVE] = now
    session[GENERATION] = user.session_generation or 0


def current_session_state():
    return session_state(
        session.get(LAST_ACTIVE), session.get(LOGGED_IN), time.time(), idle_seconds(), max_seconds()
    )


def to_login(message: str | None = None, status: int = 401) -> Response:
    """Send the browser to the login page: a redirect for a page, HX-Redirect for an htmx
    fragment (else htmx would swap the login form into a pane), a bare 401 otherwise."""
    if message:
        flash(message, "info")
    with_next = login_url("auth.login", next_url=request.url)
    if request.headers.get("HX-Request"):
        # Back to the page after login: a fragment's own address, or for a POST (not a page
        # to go back to) the page it was sent from, when htmx says which.
        shown = urlsplit(request.headers.get("HX-Current-URL", ""))
        if request.method in ("GET", "HEAD"):
            back = with_next
        elif shown.netloc == request.host and shown.path:
            back = login_url("auth.login", next_url=urlunsplit(("", "", *shown[2:4], "")))
        else:
            back = url_for("auth.login")
        response = make_response("", status)
        response.headers["HX-Redirect"] = back
        return response
    if request.endpoint == "live.ws" or request.accept_mimetypes.best == "application/json":
        return make_response(jsonify(error="signed out"), status)
    return redirect(with_next)


def _idle_check():
    if request.blueprint in _PUBLIC_BLUEPRINTS or request.endpoint == "static":
        return None
    # Signed in or not is in the cookie: the check needs no user row (Flask-Login loads it
    # when a view or guard asks). A stale or forged id is refused there, as before.
    if "_user_id" not in session:
        return None
    state = current_session_state()
    if state.expired:
        minutes = current_app.config["IDLE_LOGOFF_MINUTES"]
        logout_user()
        session.clear()
        message = IDLE_MESSAGE.format(minutes=f"{minutes:g}") if state.reason == "idle" else None
        return to_login(message or "Please log in again.")
    if is_user_activity():
        now = time.time()
        # Renewed at most every few seconds: a renewal re-signs and re-sends the cookie, and
        # a page's burst of requests would otherwise pay that on each one.
        if now - session.get(LAST_ACTIVE, 0) >= RENEW_EVERY_SECONDS:
            session[LAST_ACTIVE] = now
        # The server's clock, for app.js's idle warning (X-Idle-Remaining): a renewal never
        # passes the session's hard maximum.
        g.idle_remaining = current_session_state().remaining
    return None


def from_another_site() -> bool:
    """The browser says another site started this request (a link, a redirect or a script
    on its page: Sec-Fetch-Site). Such a GET is answered, but changes nothing: it marks
    nothing read and writes no "viewed" entry, so a foreign page cannot hide a patient's
    text from Unread. Browsers without the header (none current) count as ours."""
    return request.headers.get("Sec-Fetch-Site", "") in ("cross-site", "same-site")


def content_security_policy() -> str:
    ws = ("wss://" if request.scheme == "https" else "ws://") + request.host
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self' {ws}",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        ]
    )


def _headers(response: Response) -> Response:
    h = response.headers
    h.setdefault("Content-Security-Policy", content_security_policy())
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        h.setdefault("Strict-Transport-Security", "max-age=31536000")
    if "idle_remaining" in g:
        h["X-Idle-Remaining"] = f"{g.idle_remaining:.0f}"
    if request.endpoint != "static":
        # Patient data must not linger in the browser's cache (back button after logoff,
        # a shared front-desk computer).
        h["Cache-Control"] = "no-store"
    return response


def _unauthorized():
    """Flask-Login's answer to an anonymous request for a protected view."""
    return to_login(login_manager.login_message)


def throttled_message() -> str:
    """What a throttled sign-in form says: when to try again."""
    limit = limiter.current_limit
    seconds = max(limit.reset_at - time.time(), 1) if limit else 60
    minutes = max(1, round(seconds / 60))
    return f"Too many attempts. Try again in {minutes} {'minute' if minutes == 1 else 'minutes'}."


def too_many_requests(error=None):
    """Any other throttled request (the sign-in forms answer their own, in their pages)."""
    return render_template("errors/error.html", code=429), 429


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, but webhook and API requests (no cookie used) get
    an empty session that is never read from a cookie: no cookie signer is built for them
    (one is, should an error page write to it). Flask opens the session before it routes
    the request, so this goes by the path."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith((WEBHOOK_PATH, "/api/v1/")):
            return self.session_class()  # the API: bearer keys, never a session
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.session_interface = _SessionInterface()
    app.before_request(_idle_check)
    app.after_request(_headers)
    login_manager.unauthorized_handler(_unauthorized)
    app.register_error_handler(429, too_many_requests)
