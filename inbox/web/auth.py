from __future__ import annotations

import hashlib
import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from ..extensions import limiter
from ..models.audit import AUDIT_SIGNED_IN, AUDIT_SIGNED_OUT
from ..services import audit, practices
from ..services.auth import authenticate, sign_out_everywhere
from ..services.demo import DEMO_LOGINS, DEMO_PASSWORD
from . import cached, security, trail
from .guards import PUBLIC, STAFF, access

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


# One answer whether the email exists or not (and the same work: see services.auth).
BAD_LOGIN = "That email and password do not match an account."


def _email_key() -> str:
    """The throttle's key for the submitted email: normalised, hashed (never stored or
    logged in clear), whether or not such an account exists."""
    email = (request.form.get("email") or "").strip().lower()
    return "email:" + hashlib.sha256(email.encode("utf-8", "replace")).hexdigest()[:32]


def _failed(response) -> bool:
    """Only failed attempts count against the limits: a team logging in all morning from
    one clinic's address is never throttled."""
    return response.status_code == 401


@bp.errorhandler(429)
def _throttled(error):
    """A throttled sign-in says when to try again, on the login page."""
    if request.endpoint != "auth.login":
        return security.too_many_requests()
    return login_page(error=security.throttled_message(), status=429)


def login_page(error: str | None = None, status: int | None = None, form=None):
    form = form or LoginForm()
    demo = DEMO_LOGINS if current_app.config["SHOW_DEMO_LOGINS"] else []
    status = status or (401 if error else 200)
    no_practice = not practices.any_practice()
    if no_practice:
        session.pop("_flashes", None)  # "Please log in" with nothing to log in to
    return (
        render_template(
            "auth/login.html", form=form, error=error, demo=demo, demo_password=DEMO_PASSWORD,
            no_practice=no_practice,
        ),
        status,
    )  # fmt: skip


@bp.route("/login", methods=["GET", "POST"])
@access(PUBLIC)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_EMAIL"],
    key_func=_email_key,
    methods=["POST"],
    deduct_when=_failed,
    scope="login-email",
)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_IP"],
    methods=["POST"],
    deduct_when=_failed,
    scope="login-ip",
)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is None:
            error = BAD_LOGIN
            audit.record_failed_sign_in(form.email.data, trail.origin())
        else:
            # A fresh session at login: nothing from before it survives (no fixation),
            # then the idle clock starts.
            session.clear()
            login_user(user)
            session[cached.ACCOUNT_KEY] = user.account_id
            security.start_session(user)
            trail.note(AUDIT_SIGNED_IN, user=user)
            return redirect(_safe_next(request.args.get("next")) or url_for("home.index"))
    elif request.method == "POST":
        error = "Enter your email and password."
    return login_page(error=error, form=form)


@bp.get("/session/status")
@access(STAFF)
def session_status():
    """How long until idle logoff. Passive: asking does not count as activity."""
    state = security.current_session_state()
    return jsonify(
        remaining=round(state.remaining, 1),
        warning=current_app.config["IDLE_WARNING_SECONDS"],
    )


@bp.post("/session/keepalive")
@access(STAFF)
def keepalive():
    """ "Stay signed in": an ordinary user request, so it renews the idle clock."""
    state = security.current_session_state()
    return jsonify(
        remaining=round(state.remaining, 1),
        warning=current_app.config["IDLE_WARNING_SECONDS"],
        at=int(time.time()),
    )


@bp.post("/logout")
@access(STAFF)
def logout():
    """Log out: this session ends on the server, not only in this browser, and with it the
    user's sessions elsewhere (one generation per user; see services.sessions)."""
    trail.note(AUDIT_SIGNED_OUT)
    sign_out_everywhere(current_user)
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.post("/logout/everywhere")
@access(STAFF)
def logout_everywhere():
    trail.note(AUDIT_SIGNED_OUT, summary="everywhere")
    sign_out_everywhere(current_user)
    logout_user()
    session.clear()
    flash("You are logged out on every device and browser.", "info")
    return redirect(url_for("auth.login"))
