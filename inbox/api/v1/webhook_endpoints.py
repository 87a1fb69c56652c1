"""REST API v1, a practice's event webhook endpoints."""

from __future__ import annotations

from ...extensions import db
from ...models import WebhookEndpoint
from ...models.audit import AUDIT_ADDED_WEBHOOK, AUDIT_DELETED_WEBHOOK, AUDIT_EDITED_WEBHOOK
from ...services import hook_endpoints
from ...web.guards import API_READ, API_WRITE, access
from .. import schemas as s
from ..auth import current_actor
from ..problems import Problem
from .common import bp, documented_errors, own, record

# ---- event webhook endpoints -----------------------------------------------------------------


def endpoint_json(e: WebhookEndpoint) -> dict:
    return {
        "id": e.id, "url": e.url, "events": e.event_list, "include_text": e.include_text,
        "enabled": e.enabled, "disabled_reason": e.disabled_reason, "created_at": e.created_at,
    }  # fmt: skip


def _refused(exc: hook_endpoints.EndpointRefused) -> Problem:
    db.session.rollback()
    return Problem("refused", str(exc))


@bp.route("/webhook-endpoints", methods=["GET"])
@access(API_READ)
@bp.response(200, s.WebhookEndpointListSchema)
@documented_errors(401, 403, 429)
def list_webhook_endpoints():
    """List event webhook endpoints

    The URLs this practice's events are sent to (Settings › Integrations › Webhooks)."""
    return {"data": [endpoint_json(e) for e in hook_endpoints.list_endpoints(
        current_actor().account_id)]}  # fmt: skip


@bp.route("/webhook-endpoints", methods=["POST"])
@access(API_WRITE)
@bp.arguments(s.WebhookEndpointFieldsSchema)
@bp.response(201, s.WebhookEndpointCreatedSchema)
@documented_errors(401, 403, 422, 429)
def create_webhook_endpoint(data: dict):
    """Add an event webhook endpoint

    Deliveries follow the Standard Webhooks specification, signed with the secret in this
    answer (shown only here). Outside development the URL must be https and public."""
    try:
        endpoint = hook_endpoints.create_endpoint(current_actor().account, **data)
    except hook_endpoints.EndpointRefused as exc:
        raise _refused(exc) from None
    record(AUDIT_ADDED_WEBHOOK, None,
           f"{endpoint.url} ({', '.join(endpoint.event_list)}), through the API")  # fmt: skip
    return endpoint_json(endpoint) | {"secret": endpoint.secret}


@bp.route("/webhook-endpoints/<int:endpoint_id>", methods=["GET"])
@access(API_READ)
@bp.response(200, s.WebhookEndpointSchema)
@documented_errors(401, 403, 404, 429)
def get_webhook_endpoint(endpoint_id: int):
    """Get an event webhook endpoint"""
    return endpoint_json(own(WebhookEndpoint, endpoint_id, "webhook endpoint"))


@bp.route("/webhook-endpoints/<int:endpoint_id>", methods=["PATCH"])
@access(API_WRITE)
@bp.arguments(s.WebhookEndpointUpdateSchema)
@bp.response(200, s.WebhookEndpointSchema)
@documented_errors(401, 403, 404, 422, 429)
def update_webhook_endpoint(data: dict, endpoint_id: int):
    """Change an event webhook endpoint (fields left out stay as they are)"""
    endpoint = own(WebhookEndpoint, endpoint_id, "webhook endpoint")
    try:
        changes = hook_endpoints.update_endpoint(
            endpoint, url=data.get("url", endpoint.url),
            events=data.get("events", endpoint.event_list),
            include_text=data.get("include_text", endpoint.include_text),
        )  # fmt: skip
    except hook_endpoints.EndpointRefused as exc:
        raise _refused(exc) from None
    if changes:
        record(AUDIT_EDITED_WEBHOOK, None,
               f"{endpoint.url}: {', '.join(changes)}, through the API")  # fmt: skip
    return endpoint_json(endpoint)


@bp.route("/webhook-endpoints/<int:endpoint_id>", methods=["DELETE"])
@access(API_WRITE)
@bp.response(204)
@documented_errors(401, 403, 404, 429)
def delete_webhook_endpoint(endpoint_id: int):
    """Delete an event webhook endpoint (its deliveries go with it)"""
    endpoint = own(WebhookEndpoint, endpoint_id, "webhook endpoint")
    url = endpoint.url
    hook_endpoints.delete_endpoint(endpoint)
    record(AUDIT_DELETED_WEBHOOK, None, f"{url}, through the API")
    return ""
