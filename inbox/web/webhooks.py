"""Vonage's webhooks: inbound texts and delivery receipts.

Answers: 200 once the webhook is stored (together with the others its process received
meanwhile, see services/intake) or held for the drain, or is a copy of one (Vonage's
retry, a replay of a signed request); 401 for a bad or missing signature, or one older
than the carrier's retry span; 400 for a body that can never succeed; 413 for a body over
WEBHOOK_MAX_BYTES; 503 when it could be neither stored nor held (Vonage retries). Never a
500 for anything a sender can put in a request. Nothing from the request is logged."""

from __future__ import annotations

import logging
import re

from flask import Blueprint, abort, current_app, jsonify, request

from ..extensions import limiter
from ..models import KIND_INBOUND, KIND_RECEIPT
from ..services import intake
from .guards import WEBHOOK, access

URL_PREFIX = "/webhooks/vonage/"
bp = Blueprint("webhooks", __name__, url_prefix=URL_PREFIX.rstrip("/"))


@limiter.request_filter
def _not_limited() -> bool:
    """Signed by the carrier, and a 429 would only delay a patient's text: no rate limit
    counts webhooks, and the limiter skips its lookup of limits for them."""
    return request.blueprint == bp.name


log = logging.getLogger(__name__)

# Vonage's own fields are plain ASCII; only the patient's words may be anything else.
_FREE_TEXT = {"text", "keyword"}
_ASCII_FIELD = re.compile(r"[\x20-\x7e]{0,256}")
_MAX_DB_ID = 2**31 - 1  # INTEGER primary keys (PostgreSQL's int4)


@bp.before_request
def size_limit():
    limit = current_app.config["WEBHOOK_MAX_BYTES"]
    request.max_content_length = limit
    if len(request.query_string) > limit:
        abort(413)


def _readable(value: str) -> bool:
    """A string, without NUL (PostgreSQL refuses it in text) and without lone surrogates
    (unencodable)."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _params() -> dict[str, str] | None:
    """Vonage sends GET query strings, POST forms or POST JSON. None: not a body we can
    ever use (unparseable, not an object, unreadable characters, malformed ids)."""
    data: dict[str, str] = {k: v for k, v in request.args.items()}
    if request.method == "POST":
        if request.is_json:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return None
            data.update({str(k): "" if v is None else str(v) for k, v in body.items()})
        else:
            data.update(request.form.to_dict())
    for key, value in data.items():
        if not _readable(key) or not _readable(value):
            return None
        if key not in _FREE_TEXT and not _ASCII_FIELD.fullmatch(value):
            return None
    # Our client-ref is a message id: a number past a database integer is not ours (and
    # used to reach the database as an out-of-range id: a 500).
    ref = data.get("client-ref", "")
    if ref.isdigit() and int(ref) > _MAX_DB_ID:
        return None
    return data


def _handle(kind: str):
    params = _params()
    if params is None:
        return jsonify(error="unreadable body"), 400
    if not params:
        return "", 200  # Vonage checks the URL with an empty GET
    if not intake.signature_ok(kind, params):
        return jsonify(error="bad signature"), 401
    params.pop("sig", None)
    refused = intake.check(kind, params)
    if refused is not None:
        if refused.outcome == "invalid":
            return jsonify(error=refused.detail), 400
        return "", 200
    try:
        if intake.receive(kind, params) == "duplicate":
            # Vonage's retry, or a replay of a signed request: nothing is done twice.
            log.info("a copy of a webhook already stored or held (%s)", request.path)
    except intake.NotHeld:
        log.warning("webhook could not be stored or held (%s)", request.path)
        return jsonify(error="busy, try again"), 503, {"Retry-After": "1"}
    return "", 200


@bp.route("/inbound", methods=["GET", "POST"])
@access(WEBHOOK)
def inbound():
    return _handle(KIND_INBOUND)


@bp.route("/status", methods=["GET", "POST"])
@access(WEBHOOK)
def status():
    return _handle(KIND_RECEIPT)
