"""Vonage's webhooks: inbound texts and delivery receipts. Answer 200 once a message
is stored or known to be a duplicate (or can never be ours); 401 for a bad signature;
400 for a body that can never succeed."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request

from .. import carrier
from ..services import inbound as inbound_texts
from ..services import messaging
from .guards import WEBHOOK, access

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks/vonage")


def _params() -> dict[str, str] | None:
    """Vonage sends GET query strings, POST forms or POST JSON. None: not parseable."""
    data: dict[str, str] = {k: v for k, v in request.args.items()}
    if request.method == "POST":
        if request.is_json:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return None
            data.update({str(k): "" if v is None else str(v) for k, v in body.items()})
        else:
            data.update(request.form.to_dict())
    return data


def _signature_ok(params: dict[str, str]) -> bool:
    settings = messaging.carrier_settings()
    if not settings.signature_secret:
        return True  # signatures not configured (refused in production by config checks)
    if not carrier.verify_signature(settings, params):
        return False
    try:
        age = abs(time.time() - int(params.get("timestamp", "0")))
    except ValueError:
        return False
    return age <= current_app.config["WEBHOOK_MAX_AGE_SECONDS"]


def _handle(handler):
    params = _params()
    if params is None:
        return jsonify(error="unreadable body"), 400
    if not params:
        return "", 200  # Vonage checks the URL with an empty GET
    if not _signature_ok(params):
        return jsonify(error="bad signature"), 401
    params.pop("sig", None)
    result = handler(params)
    if result.outcome == "invalid":
        return jsonify(error=result.detail), 400
    return "", 200


@bp.route("/inbound", methods=["GET", "POST"])
@access(WEBHOOK)
def inbound():
    return _handle(inbound_texts.receive)


@bp.route("/status", methods=["GET", "POST"])
@access(WEBHOOK)
def status():
    return _handle(messaging.apply_receipt)
