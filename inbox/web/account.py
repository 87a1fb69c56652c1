"""Passwords: "Forgot password?", the page behind a one-time link ("Set your password"),
and the signed-in person's own page ("Your account") where they change it."""

from __future__ import annotations

import hashlib
import logging

import redis
from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user

from ..broker import get_queue
from ..extensions import limiter
from ..models import LINK_RESET
from ..models.audit import (
    AUDIT_CHANGED_PASSWORD,
    AUDIT_RESET_PASSWORD,
    AUDIT_SET_PASSWORD,
    AUDIT_SIGNED_IN,
)
from ..services import links
from ..services.passwords import MIN_LENGTH, PasswordRefused
from ..services.sessions import GENERATION
from . import cached, security, trail
from .guards import PUBLIC, STAFF, access

log = logging.getLogger(__name__)

bp = Blueprint("account", __name__)


def _email_key() -> str:
    """The reset throttle's key: the submitted email, normalised and hashed."""
    email = (request.form.get("email") or "").strip().lower()
    return "reset-email:" + hashlib.sha256(email.encode("utf-8", "replace")).hexdigest()[:32]


@bp.errorhandler(429)
def _throttled(error):
    """A throttled reset request or password change says when to try again, on its page."""
    if request.endpoint == "account.forgot_password":
        return forgot_page(request.form.get("email", ""), security.throttled_message(), 429)
    if request.endpoint == "account.show":
        return account_page(security.throttled_message(), 429)
    return security.too_many_requests()


def forgot_page(email: str = "", error: str | None = None, status: int = 200):
    return render_template("account/forgot.html", email=email, error=error), status


@bp.route("/password/forgot", methods=["GET", "POST"])
@access(PUBLIC)
@limiter.limit(
    lambda: current_app.config["RESET_LIMIT_PER_EMAIL"],
    key_func=_email_key,
    methods=["POST"],
    scope="reset-email",
)
@limiter.limit(lambda: current_app.config["RESET_LIMIT_PER_IP"], methods=["POST"], scope="reset-ip")
def forgot_password():
    if request.method == "GET":
        return forgot_page()
    email = " ".join((request.form.get("email") or "").split())[:254]
    if "@" not in email:
        return forgot_page(email, "Enter the email address you log in with.", 422)
    # Whether the email has a login is decided by a worker: this answer, and the time it
    # takes, are the same for every address.
    try:
        get_queue().enqueue(
            "workers.jobs.request_password_reset", email, request.remote_addr,
            request.headers.get("User-Agent"), result_ttl=0,
        )  # fmt: skip
    except redis.RedisError:
        log.warning("could not queue a password reset; doing it in this request")
        links.request_reset(email, request.remote_addr, request.headers.get("User-Agent"))
    return render_template("account/forgot_sent.html", email=email)


def _sign_in(user) -> None:
    """As at login: a fresh session (nothing from before survives), the idle clock, and the
    user's current session generation."""
    session.clear()
    login_user(user)
    session[cached.ACCOUNT_KEY] = user.account_id
    security.start_session(user)


@bp.route("/password/set/<token>", methods=["GET", "POST"])
@access(PUBLIC)
def set_password(token: str):
    try:
        opened = links.open_link(token)
    except links.LinkRefused as exc:
        status = 404 if exc.reason == links.UNKNOWN else 410
        return render_template("account/link_refused.html", reason=str(exc)), status
    error = None
    if request.method == "POST":
        try:
            links.use(token, request.form.get("password", ""), request.form.get("confirm", ""))
        except links.LinkRefused as exc:
            return render_template("account/link_refused.html", reason=str(exc)), 410
        except PasswordRefused as exc:
            error = str(exc)
        else:
            user = opened.user
            _sign_in(user)
            reset = opened.purpose == LINK_RESET
            trail.note(AUDIT_RESET_PASSWORD if reset else AUDIT_SET_PASSWORD, user, user=user)
            trail.note(AUDIT_SIGNED_IN, user=user)
            flash(
                "Your new password is saved and you are logged in."
                if reset
                else f"Your password is set. Welcome to {user.account.name}.",
                "success",
            )
            return redirect(url_for("home.index"))
    return render_template(
        "account/set_password.html",
        opened=opened,
        error=error,
        min_length=MIN_LENGTH,
        reset=opened.purpose == LINK_RESET,
    ), (422 if error else 200)


def _user_key() -> str:
    return f"user:{current_user.get_id()}"


@bp.route("/account", methods=["GET", "POST"])
@access(STAFF)
@limiter.limit(
    lambda: current_app.config["PASSWORD_CHANGE_LIMIT"],
    key_func=_user_key,
    methods=["POST"],
    deduct_when=lambda _response: g.get("wrong_password", False),
    scope="password-change",
)
def show():
    """Your account: who you are, and Change password (asks the current one)."""
    user = current_user._get_current_object()
    error = None
    if request.method == "POST":
        try:
            links.change_password(
                user,
                request.form.get("current_password", ""),
                request.form.get("new_password", ""),
                request.form.get("confirm", ""),
            )
        except PasswordRefused as exc:
            # Only a wrong current password counts against the limit (guessing it from an
            # unattended, signed-in computer); a too-weak new one does not.
            g.wrong_password = isinstance(exc, links.WrongPassword)
            error = str(exc)
        else:
            # Every other session of this person has ended; this one carries on.
            session[GENERATION] = user.session_generation
            trail.note(AUDIT_CHANGED_PASSWORD, user, user=user)
            flash("Your password is changed. You were logged out everywhere else.", "success")
            return redirect(url_for("account.show"))
    return account_page(error)


def account_page(error: str | None = None, status: int | None = None):
    return render_template("account/show.html", error=error, min_length=MIN_LENGTH), (
        status or (422 if error else 200)
    )
