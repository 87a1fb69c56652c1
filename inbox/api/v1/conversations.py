"""REST API v1, conversations and their texts, and sending one (idempotent by key)."""

from __future__ import annotations

import hashlib

from flask import current_app, json
from sqlalchemy.exc import IntegrityError

from ...extensions import db
from ...models import IdempotentRequest, Message, Patient, get_scoped, scoped
from ...models.audit import AUDIT_SENT_TEXT
from ...services import conversations, sending
from ...services.conversations import Cursor
from ...web.guards import API_READ, API_SEND, access
from .. import schemas as s
from ..auth import current_actor
from ..problems import Problem
from .common import (
    bp,
    conversation_json,
    cursor_arg,
    default_clinic_id,
    documented_errors,
    field_problem,
    message_json,
    not_found,
    own,
    record,
    record_read,
)

# ---- conversations ---------------------------------------------------------------------------


@bp.route("/conversations", methods=["GET"])
@access(API_READ)
@bp.arguments(s.ConversationListArgs, location="query", as_kwargs=True)
@bp.response(200, s.ConversationPageSchema)
@documented_errors(401, 403, 422, 429)
def list_conversations(
    limit: int, cursor=None, unread=None, needs_reply=None, clinic_id=None, q: str = ""
):
    """List conversations

    The Inbox's list, newest activity first, with its filters. Empty while the Inbox is
    off."""
    actor = current_actor()
    f = conversations.Filters(
        view="needs_reply" if needs_reply else "all",
        tab={True: "unread", False: "read"}.get(unread, "any"),
        clinic_id=clinic_id,
        q=" ".join((q or "").split())[:80],
    )
    rows, nxt = conversations.list_page(actor, f, cursor_arg(cursor), limit=limit)
    record_read(f"{len(rows)} conversations")
    return {"data": [conversation_json(c) for c in rows], "next_cursor": nxt and nxt.encode()}


@bp.route("/conversations/<int:conversation_id>", methods=["GET"])
@access(API_READ)
@bp.arguments(s.MessagePageArgs, location="query", as_kwargs=True)
@bp.response(200, s.ConversationDetailSchema)
@documented_errors(401, 403, 404, 422, 429)
def get_conversation(conversation_id: int, limit: int, before=None):
    """Get a conversation with its texts

    The newest `limit` texts, oldest first; `before_cursor` pages back. Reading it through
    the API does not mark it read."""
    conv = conversations.get_visible(current_actor(), conversation_id)
    if conv is None:
        raise not_found("conversation")
    before_cursor = Cursor.decode(before) if before else None
    if before and (before_cursor is None or not 0 < before_cursor.id < 2**31):
        raise field_problem("before", "Not a cursor this API gave out.")
    messages, older = conversations.message_page(conv, before_cursor, limit=limit)
    record_read(f"conversation and {len(messages)} texts", conv)
    return {
        **conversation_json(conv),
        "messages": [message_json(m) for m in messages],
        "before_cursor": older and older.encode(),
    }


# ---- messages ----------------------------------------------------------------------------------


def _request_hash(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _replay(prior: IdempotentRequest, request_hash: str):
    if prior.request_hash != request_hash:
        raise Problem(
            "idempotency-key-reused",
            "This Idempotency-Key was already used for a different request. Use a new key "
            "for a new text.",
        )
    response = current_app.response_class(
        prior.response, status=prior.status_code, mimetype="application/json"
    )
    response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.route("/messages", methods=["POST"])
@access(API_SEND)
@bp.arguments(s.IdempotencyHeader, location="headers", as_kwargs=True)
@bp.arguments(s.SendSchema)
@bp.response(201, s.MessageSchema)
@documented_errors(401, 403, 404, 422, 429)
def send_message(data: dict, idempotency_key: str | None = None):
    """Send a text

    To a patient (`patient_id`) or a mobile number (`to`). Refused, with the reason, when
    the Inbox is off, the patient opted out, or the number cannot get texts. With an
    `Idempotency-Key`, a retried request never texts twice: it gets the first answer."""
    actor = current_actor()
    request_hash = _request_hash(data)
    prior_stmt = scoped(IdempotentRequest, actor.account_id).where(
        IdempotentRequest.idempotency_key == idempotency_key
    )
    if idempotency_key:
        prior = db.session.scalars(prior_stmt).first()
        if prior is not None:
            return _replay(prior, request_hash)
    patient_id, to = data.get("patient_id"), data.get("to")
    if bool(patient_id) == bool(to):
        raise field_problem("patient_id", "Give either patient_id or to, not both.")
    clinic_id = data.get("clinic_id")
    if patient_id:
        patient = get_scoped(Patient, patient_id, actor.account_id)
        if patient is None:
            raise field_problem("patient_id", "No such patient in this practice.")
        clinic_id = clinic_id or patient.home_clinic_id
    clinic_id = clinic_id or default_clinic_id()
    if clinic_id is None:
        raise field_problem("clinic_id", "Say which clinic the conversation belongs to.")

    def remember(message: Message) -> None:
        if idempotency_key:
            db.session.add(
                IdempotentRequest(
                    account_id=actor.account_id, api_key_id=actor.api_key_id,
                    idempotency_key=idempotency_key, request_hash=request_hash,
                    message_id=message.id, status_code=201,
                    response=json.dumps(s.MessageSchema().dump(message_json(message))),
                )
            )  # fmt: skip
            db.session.flush()

    try:
        message = sending.send_new(
            user=actor, clinic_id=clinic_id, body=data["body"], patient_id=patient_id,
            phone=to, on_staged=remember,
        )  # fmt: skip
    except sending.SendRefused as exc:
        db.session.rollback()
        raise Problem("refused", str(exc)) from None
    except LookupError:
        db.session.rollback()
        raise not_found("conversation") from None
    except IntegrityError:
        # The same key, sent twice at once: the other request stored its answer first.
        db.session.rollback()
        prior = db.session.scalars(prior_stmt).first()
        if prior is None:
            raise
        return _replay(prior, request_hash)
    record(AUDIT_SENT_TEXT, message, "through the API")
    return message_json(message)


@bp.route("/messages/<int:message_id>", methods=["GET"])
@access(API_READ)
@bp.response(200, s.MessageSchema)
@documented_errors(401, 403, 404, 429)
def get_message(message_id: int):
    """Get a text and its delivery status"""
    message = own(Message, message_id, "text")
    record_read("text", message)
    return message_json(message)


__all__ = ["bp"]
