"""Delivery receipts: the carrier's word on a text we sent. Idempotent; a receipt never
moves a text backward (delivered stays delivered), but a text failed only because nobody
confirmed it may still turn out delivered."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from .. import carrier, events
from ..extensions import db
from ..models import (
    DIRECTION_OUT,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_QUEUED,
    STATUS_SENDING,
    STATUS_SENT,
    STATUS_UNKNOWN,
    Message,
    utcnow,
)
from . import consent, event_hooks
from .message_status import UNCONFIRMED, emit_status_webhook, refresh_failed_flags, status_event_of
from .webhook_outcomes import Batch, WebhookResult

# A receipt never moves a message backward: delivered stays delivered.
_RANK = {
    STATUS_QUEUED: 0,
    STATUS_SENDING: 1,
    STATUS_UNKNOWN: 2,
    STATUS_SENT: 2,
    STATUS_DELIVERED: 3,
    STATUS_FAILED: 3,
}
# The same order on screen, where an answer rendered a moment ago must not take a status
# back (static/js/app.js): failed and unconfirmed texts have no rank there, as a retry
# starts again from queued.
SHOWN_RANK = {s: r for s, r in _RANK.items() if s not in (STATUS_FAILED, STATUS_UNKNOWN)}


_RECEIPT_STATUS = {
    "accepted": STATUS_SENT,
    "buffered": STATUS_SENT,
    "delivered": STATUS_DELIVERED,
    "failed": STATUS_FAILED,
    "rejected": STATUS_FAILED,
    "expired": STATUS_FAILED,
}


_FINAL = (STATUS_DELIVERED, STATUS_FAILED)


OPTED_OUT_ERR_CODE = "9"  # the handset's owner opted out of texts from this number


def _receipt_message(params: dict[str, str]) -> Message | None:
    client_ref = params.get("client-ref") or ""
    if client_ref.isdigit():
        message = db.session.get(Message, int(client_ref))
        # The reference is ours only if the receipt is about the number we texted.
        try:
            if message and carrier.from_wire(params.get("msisdn", "")) == message.to_number:
                return message
        except ValueError:
            pass
    return db.session.scalars(
        select(Message).where(
            Message.carrier == "vonage", Message.carrier_message_id == params["messageId"]
        )
    ).first()


def check_receipt(params: dict[str, str]) -> WebhookResult | None:
    """A receipt that can never be applied (invalid), or None."""
    carrier_id = params.get("messageId") or ""
    if not carrier_id or not params.get("status") or len(carrier_id) > 64:
        return WebhookResult("invalid", detail="messageId and status are required")
    return None


def apply_receipt(params: dict[str, str]) -> WebhookResult:
    """A delivery receipt. Idempotent on (message, status); never moves a message
    backward, except that a text failed only because nobody confirmed it may still
    turn out delivered."""
    refused = check_receipt(params)
    if refused is not None:
        return refused
    carrier_id = params["messageId"]
    status = _RECEIPT_STATUS.get((params.get("status") or "").lower())
    message = _receipt_message(params)
    if message is None or message.direction != DIRECTION_OUT:
        return WebhookResult("ignored", detail="unknown message")
    code = params.get("err-code") or ""
    opted_out = None  # committed with the receipt's own changes, one transaction
    if status == STATUS_FAILED and code == OPTED_OUT_ERR_CODE:
        opted_out = consent.opt_out_from_receipt(message.conversation.patient)
    settled_unconfirmed = message.status == STATUS_FAILED and message.error_code == UNCONFIRMED
    unchanged = (
        status is None
        or (status == message.status and not settled_unconfirmed)
        or (
            not settled_unconfirmed
            and (
                _RANK[status] < _RANK.get(message.status, 0)
                or message.status in (STATUS_DELIVERED, STATUS_FAILED)
            )
        )
    )
    if unchanged:
        if opted_out is not None:  # the message has its status; the opt-out is news
            db.session.commit()
            opted_out()
        return WebhookResult("duplicate", message.id)
    message.status = status
    message.status_changed_at = utcnow()
    message.error_code = message.error_text = None
    if status == STATUS_FAILED:
        message.error_code = code
        message.error_text = carrier.RECEIPT_ERRORS.get(code, "The carrier could not deliver it")
        message.conversation.has_failed = True
    elif settled_unconfirmed:
        refresh_failed_flags([message.conversation_id])
    if message.carrier_message_id is None:
        message.carrier_message_id = carrier_id
    account_id, event = status_event_of(message)  # read before the commit expires it
    emit_status_webhook(message)
    db.session.commit()
    events.publish(account_id, event)
    if opted_out is not None:
        opted_out()
    return WebhookResult("stored", event["id"])


@cache
def _receipt_statements() -> dict:
    t = Message.__table__
    return {
        "messages": select(
            t.c.id,
            t.c.account_id,
            t.c.conversation_id,
            t.c.direction,
            t.c.to_number,
            t.c.status,
            t.c.error_code,
            t.c.carrier_message_id,
        ).where(t.c.id.in_(bindparam("ids", expanding=True))),  # fmt: skip
        "apply": update(t)
        .where(t.c.id == bindparam("ref"))
        .values(
            status=bindparam("status"),
            status_changed_at=bindparam("at", type_=t.c.status_changed_at.type),
            error_code=None,
            error_text=None,
            carrier_message_id=bindparam("carrier_id"),
        ),
    }


def apply_receipt_batch(
    items: list[tuple[int, dict[str, str]]], claim: Callable[[], None], conn: Connection
) -> Batch:
    """The common receipts of many texts in two statements: accepted / delivered for a
    text we sent (found by our client-ref, to the number we texted). Failures, settling
    an unconfirmed text, and receipts without our reference go through apply_receipt().
    Part of the caller's transaction on `conn`; it commits nothing, and calls claim()
    before it writes."""
    done = Batch()
    wanted: list[tuple[int, dict[str, str], int, str]] = []
    for row_id, params in items:
        status = _RECEIPT_STATUS.get((params.get("status") or "").lower())
        ref = params.get("client-ref") or ""
        if status in (None, STATUS_FAILED):  # check_receipt() passed at the door
            continue
        if not ref.isdigit() or int(ref) > 2**31 - 1:
            continue
        wanted.append((row_id, params, int(ref), status))
    if not wanted:
        return done
    sql = _receipt_statements()
    found = {
        row.id: row
        for row in conn.execute(sql["messages"], {"ids": sorted({ref for _, _, ref, _ in wanted})})
    }
    current: dict[int, str] = {}
    changes: dict[int, dict] = {}
    now = utcnow()
    for row_id, params, ref, status in wanted:
        row = found.get(ref)
        try:
            ours = row is not None and carrier.from_wire(params.get("msisdn", "")) == row.to_number
        except ValueError:
            ours = False
        if not ours or row.direction != DIRECTION_OUT:
            continue  # apply_receipt() looks it up by the carrier's id
        if row.status == STATUS_FAILED and row.error_code == UNCONFIRMED:
            continue  # settling an unconfirmed text: apply_receipt()
        was = current.get(ref, row.status)
        if status == was or _RANK[status] < _RANK.get(was, 0) or was in _FINAL:
            done.outcomes[row_id] = "duplicate"
            continue
        current[ref] = status
        changes[ref] = {
            "ref": ref, "status": status, "at": now,
            "carrier_id": row.carrier_message_id or params["messageId"],
        }  # fmt: skip
        done.outcomes[row_id] = "stored"
    if changes:
        claim()  # the writes start here
        conn.execute(sql["apply"], list(changes.values()))
        hooks = []
        for ref, change in changes.items():
            row = found[ref]
            hooks.append(
                event_hooks.status_changed(
                    row.account_id, ref, row.conversation_id, change["status"]
                )
            )
            done.events.append(
                (row.account_id, events.status_changed(row.conversation_id, ref, change["status"]))
            )
        done.webhooks += event_hooks.emit(hooks, conn)
    return done
