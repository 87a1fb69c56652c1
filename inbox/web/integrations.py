"""Settings › Integrations › Webhooks: the practice's event webhook endpoints (Main Admin
only). Thin: the rules live in services.hook_endpoints."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..extensions import db
from ..models import DELIVERY_PENDING, EVENT_TYPES
from ..models.audit import (
    AUDIT_ADDED_WEBHOOK,
    AUDIT_DELETED_WEBHOOK,
    AUDIT_EDITED_WEBHOOK,
    AUDIT_ENABLED_WEBHOOK,
    AUDIT_RESENT_WEBHOOK,
    AUDIT_ROTATED_WEBHOOK_SECRET,
    AUDIT_TESTED_WEBHOOK,
)
from ..services import event_hooks, hook_endpoints
from . import trail
from .guards import MAIN_ADMIN, access

bp = Blueprint("hooks", __name__, url_prefix="/settings/integrations/webhooks")


def _form() -> dict:
    return {
        "url": request.form.get("url", "").strip(),
        "events": request.form.getlist("events"),
        "include_text": request.form.get("include_text") == "on",
    }


def _endpoint(endpoint_id: int):
    return hook_endpoints.get_endpoint(current_user.account_id, endpoint_id) or abort(404)


def _list_page(form: dict | None = None, error: str | None = None):
    return render_template(
        "settings/webhooks.html",
        endpoints=hook_endpoints.list_endpoints(current_user.account_id),
        form=form or {"url": "", "events": list(EVENT_TYPES), "include_text": False},
        error=error,
        event_types=EVENT_TYPES,
        event_words=event_hooks.EVENT_WORDS,
    ), (422 if error else 200)


def _endpoint_page(endpoint, form: dict | None = None, error: str | None = None):
    log = hook_endpoints.deliveries(endpoint)
    return render_template(
        "settings/webhook.html",
        endpoint=endpoint,
        form=form
        or {
            "url": endpoint.url,
            "events": endpoint.event_list,
            "include_text": endpoint.include_text,
        },
        error=error,
        deliveries=log,
        waiting=any(d.state == DELIVERY_PENDING for d in log),
        event_types=EVENT_TYPES,
        event_words=event_hooks.EVENT_WORDS,
    ), (422 if error else 200)


@bp.route("", methods=["GET", "POST"])
@access(MAIN_ADMIN)
def index():
    """The endpoints, and Add endpoint."""
    if request.method == "GET":
        return _list_page()
    form = _form()
    try:
        endpoint = hook_endpoints.create_endpoint(current_user.account, **form)
    except hook_endpoints.EndpointRefused as exc:
        return _list_page(form, str(exc))
    trail.note(AUDIT_ADDED_WEBHOOK, summary=f"{endpoint.url} ({', '.join(endpoint.event_list)})")
    flash("Endpoint added. Copy its signing secret into the receiving system.", "success")
    return redirect(url_for("hooks.endpoint", endpoint_id=endpoint.id))


@bp.route("/<int:endpoint_id>", methods=["GET", "POST"])
@access(MAIN_ADMIN)
def endpoint(endpoint_id: int):
    """One endpoint: its settings, signing secret, state and delivery log."""
    hook = _endpoint(endpoint_id)
    if request.method == "GET":
        return _endpoint_page(hook)
    form = _form()
    try:
        changes = hook_endpoints.update_endpoint(hook, **form)
    except hook_endpoints.EndpointRefused as exc:
        db.session.rollback()
        return _endpoint_page(hook, form, str(exc))
    if changes:
        trail.note(AUDIT_EDITED_WEBHOOK, summary=f"{hook.url}: {', '.join(changes)}")
    flash("Endpoint saved.", "success")
    return redirect(url_for("hooks.endpoint", endpoint_id=hook.id))


@bp.get("/<int:endpoint_id>/log")
@access(MAIN_ADMIN)
def log(endpoint_id: int):
    """The delivery log alone (the page refreshes it while deliveries are waiting)."""
    hook = _endpoint(endpoint_id)
    deliveries = hook_endpoints.deliveries(hook)
    return render_template(
        "settings/_webhook_log.html",
        endpoint=hook,
        deliveries=deliveries,
        waiting=any(d.state == DELIVERY_PENDING for d in deliveries),
    )


@bp.post("/<int:endpoint_id>/delete")
@access(MAIN_ADMIN)
def delete(endpoint_id: int):
    hook = _endpoint(endpoint_id)
    url = hook.url
    hook_endpoints.delete_endpoint(hook)
    trail.note(AUDIT_DELETED_WEBHOOK, summary=url)
    flash("Endpoint deleted. It gets no more events.", "success")
    return redirect(url_for("hooks.index"))


@bp.post("/<int:endpoint_id>/rotate")
@access(MAIN_ADMIN)
def rotate(endpoint_id: int):
    hook = _endpoint(endpoint_id)
    hook_endpoints.rotate_secret(hook)
    trail.note(AUDIT_ROTATED_WEBHOOK_SECRET, summary=hook.url)
    flash("New signing secret made. Deliveries from now on are signed with it.", "success")
    return redirect(url_for("hooks.endpoint", endpoint_id=hook.id) + "#secret")


@bp.post("/<int:endpoint_id>/enable")
@access(MAIN_ADMIN)
def enable(endpoint_id: int):
    hook = _endpoint(endpoint_id)
    hook_endpoints.enable_endpoint(hook)
    trail.note(AUDIT_ENABLED_WEBHOOK, summary=hook.url)
    flash("Endpoint enabled. New events are sent to it again.", "success")
    return redirect(url_for("hooks.endpoint", endpoint_id=hook.id))


@bp.post("/<int:endpoint_id>/test")
@access(MAIN_ADMIN)
def test(endpoint_id: int):
    hook = _endpoint(endpoint_id)
    hook_endpoints.send_test(hook)
    trail.note(AUDIT_TESTED_WEBHOOK, summary=hook.url)
    flash("Test event queued. Its result appears in the delivery log below.", "success")
    return redirect(url_for("hooks.endpoint", endpoint_id=hook.id) + "#deliveries")


@bp.post("/<int:endpoint_id>/deliveries/<int:delivery_id>/resend")
@access(MAIN_ADMIN)
def resend(endpoint_id: int, delivery_id: int):
    hook = _endpoint(endpoint_id)
    delivery = hook_endpoints.get_delivery(current_user.account_id, delivery_id)
    if delivery is None or delivery.endpoint_id != hook.id:
        abort(404)
    hook_endpoints.resend(delivery)
    trail.note(AUDIT_RESENT_WEBHOOK, summary=f"{delivery.event} to {hook.url}")
    flash(f"{delivery.event} queued again.", "success")
    return redirect(url_for("hooks.endpoint", endpoint_id=hook.id) + "#deliveries")
