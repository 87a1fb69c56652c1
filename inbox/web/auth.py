from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
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

from ..models.audit import AUDIT_SIGNED_IN, AUDIT_SIGNED_OUT
from ..services import audit
from ..services.auth import authenticate
from ..services.demo import DEMO_LOGINS, DEMO_PASSWORD
from . import trail
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


@bp.route("/login", methods=["GET", "POST"])
@access(PUBLIC)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is None:
            error = "That email and password do not match an account."
            audit.record_failed_sign_in(form.email.data, trail.origin())
        else:
            session.clear()  # a fresh session at login: no fixation
            login_user(user)
            trail.note(AUDIT_SIGNED_IN, user=user)
            return redirect(_safe_next(request.args.get("next")) or url_for("home.index"))
    elif request.method == "POST":
        error = "Enter your email and password."
    demo = DEMO_LOGINS if current_app.config["SHOW_DEMO_LOGINS"] else []
    status = 401 if error else 200
    return (
        render_template(
            "auth/login.html", form=form, error=error, demo=demo, demo_password=DEMO_PASSWORD
        ),
        status,
    )


@bp.post("/logout")
@access(STAFF)
def logout():
    trail.note(AUDIT_SIGNED_OUT)
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
