"""Settings › Integrations: API keys."""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ...models.api import SCOPE_WORDS
from ...models.audit import AUDIT_CREATED_API_KEY, AUDIT_REVOKED_API_KEY
from ...services import api_keys, audit
from .. import trail
from ..guards import MAIN_ADMIN, access
from .blueprint import bp

# ---- Settings › Integrations: API keys -----------------------------------------------------


def _integrations_page(form: dict | None = None, error: str | None = None, created=None):
    account = current_user.account
    response = make_response(
        render_template(
            "settings/integrations.html",
            keys=api_keys.keys(account.id),
            form=form or {"name": "", "scopes": ["read"]},
            error=error,
            created=created,
            scopes=SCOPE_WORDS,
            tz=audit.account_timezone(account),
        ),
        422 if error else 200,
    )
    response.headers["Cache-Control"] = "no-store"  # the new secret is shown once
    return response


@bp.route("/integrations", methods=["GET", "POST"])
@access(MAIN_ADMIN)
def integrations():
    """Settings › Integrations: the practice's API keys, and Create API key (the secret is
    shown once, on the answer to the POST)."""
    if request.method == "GET":
        return _integrations_page()
    form = {"name": request.form.get("name", ""), "scopes": request.form.getlist("scopes")}
    try:
        key, secret = api_keys.create(
            current_user.account_id, form["name"], form["scopes"], created_by=current_user
        )
    except api_keys.KeyRefused as exc:
        return _integrations_page(form=form, error=str(exc))
    trail.note(AUDIT_CREATED_API_KEY, key, summary=f"“{key.name}”, scopes {key.scopes}")
    return _integrations_page(created=(key, secret))


@bp.post("/integrations/<int:key_id>/revoke")
@access(MAIN_ADMIN)
def revoke_api_key(key_id: int):
    key = api_keys.get(current_user.account_id, key_id) or abort(404)
    if api_keys.revoke(key):
        trail.note(AUDIT_REVOKED_API_KEY, key, summary=f"“{key.name}”")
        flash(f"API key “{key.name}” revoked: requests made with it are refused.", "success")
    return redirect(url_for("settings.integrations") + f"#api-key-{key.id}")
