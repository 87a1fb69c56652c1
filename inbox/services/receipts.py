"""Delivery receipts: the carrier's word on a text we sent. Idempotent; a receipt never
moves a text backward (delivered stays delivered), but a text failed only because nobody
confirmed it may still turn out delivered."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection, Row

from .. import carrier, events
from ..extensions import db
from ..models import (
    CARRIER_VONAGE,
    DIRECTION_OUT,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_QUEUED,
    STATUS_SENDING,
    STATUS_SENT,
    STATUS_UNKNOWN,
    Conversation,
    Message,
    Patient,
    utcnow,
)
from . import consent, event_hooks
from .message_status import UNCONFIRMED, refresh_failed_flags
from .webhook_outcomes import Batch, WebhookResult, announce

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


def check_receipt(params: dict[str, str]) -> WebhookResult | None:
    """A receipt that can never be applied (invalid), or None."""
    carrier_id = params.get("messageId") or ""
    if not carrier_id or not params.get("status") or len(carrier_id) > 64:
        return WebhookResult("invalid", detail="messageId and status are required")
    return None


def apply_receipt(params: dict[str, str]) -> WebhookResult:
    """One delivery receipt: a batch of one (see apply_receipt_batch), committed, then its
    pages are old and its live event out."""
    refused = check_receipt(params)
    if refused is not None:
        return refused
    done = apply_receipt_batch([(0, params)], lambda: None, db.session.connection(), alone=True)
    db.session.commit()
    announce(done)
    outcome = done.outcomes.get(0, "ignored")
    detail = "unknown message" if outcome == "ignored" else ""
    return WebhookResult(outcome, done.message_ids.get(0), detail)


@cache
def _receipt_statements() -> dict:
    t, c = Message.__table__, Conversation.__table__
    columns = (
        t.c.id, t.c.account_id, t.c.conversation_id, t.c.direction, t.c.to_number,
        t.c.status, t.c.error_code, t.c.carrier_message_id, c.c.patient_id,
    )  # fmt: skip
    found = select(*columns).join(c, c.c.id == t.c.conversation_id)
    return {
        "by_id": found.where(t.c.id.in_(bindparam("ids", expanding=True))),
        "by_carrier_id": found.where(
            t.c.carrier == CARRIER_VONAGE,
            t.c.carrier_message_id.in_(bindparam("carrier_ids", expanding=True)),
        ),
        "apply": update(t)
        .where(t.c.id == bindparam("ref"))
        .values(
            status=bindparam("status"),
            status_changed_at=bindparam("at", type_=t.c.status_changed_at.type),
            error_code=bindparam("code"),
            error_text=bindparam("reason"),
            carrier_message_id=bindparam("carrier_id"),
        ),
    }


def _ours(row, params: dict[str, str]) -> bool:
    """Our reference names this text only if the receipt is about the number we texted."""
    try:
        return row is not None and carrier.from_wire(params.get("msisdn", "")) == row.to_number
    except ValueError:
        return False


def _texts_named(items: list[tuple[int, dict[str, str]]], conn: Connection) -> dict[int, Row]:
    """The text each receipt names (by receipt row id): by our reference (its id, for the
    number we texted), else by the carrier's id. Two queries at most."""
    sql = _receipt_statements()
    refs = {}
    for row_id, params in items:
        ref = params.get("client-ref") or ""
        if ref.isdigit() and int(ref) <= 2**31 - 1:
            refs[row_id] = int(ref)
    found = {
        row.id: row for row in conn.execute(sql["by_id"], {"ids": sorted(set(refs.values()))})
    } if refs else {}  # fmt: skip
    texts = {}
    for row_id, params in items:
        row = found.get(refs.get(row_id))
        if _ours(row, params):
            texts[row_id] = row
    rest = sorted({params["messageId"] for row_id, params in items if row_id not in texts})
    if rest:
        by_carrier = {}
        for row in conn.execute(sql["by_carrier_id"], {"carrier_ids": rest}):
            by_carrier.setdefault(row.carrier_message_id, row)
        for row_id, params in items:
            if row_id not in texts and params["messageId"] in by_carrier:
                texts[row_id] = by_carrier[params["messageId"]]
    return texts


def _write(
    changes: dict[int, dict], rows: dict[int, Row], marks: set[int], conn: Connection, done: Batch
) -> None:
    """The new statuses in one statement, the failure marks they move, and their news: an
    event webhook and a live event each, and the accounts whose list pages show a mark."""
    conn.execute(_receipt_statements()["apply"], list(changes.values()))
    refresh_failed_flags(marks, conn)
    hooks = []
    for ref, change in changes.items():
        row = rows[ref]
        hooks.append(event_hooks.status_changed(
            row.account_id, ref, row.conversation_id, change["status"], change["code"]
        ))  # fmt: skip
        done.events.append(
            (row.account_id, events.status_changed(row.conversation_id, ref, change["status"]))
        )
        if row.conversation_id in marks:
            done.accounts.add(row.account_id)  # its list pages show the mark
    done.webhooks += event_hooks.emit(hooks, conn)


def apply_receipt_batch(
    items: list[tuple[int, dict[str, str]]],
    claim: Callable[[], None],
    conn: Connection,
    *,
    alone: bool = False,
) -> Batch:
    """The one writer of delivery receipts, for many at a time (a single receipt is a batch
    of one). Each is applied to the text it names: by our reference (its id, for the number
    we texted), else by the carrier's id; idempotent on (text, status), never moving a text
    backward, but a text failed only because nobody confirmed it may still turn out
    delivered. A failure keeps its code and reason and marks the conversation; err-code 9
    (the handset refuses our texts) opts the patient out, in the same transaction.
    The intake's batches (on a connection of their own) leave two kinds without an outcome,
    for the one-at-a-time way, where the receipt is held first (so a copy of it is known
    as one) and then applied `alone` on the session's connection: a receipt naming no text
    of ours, and an opt-out (consent writes through the session). Part of the caller's
    transaction on `conn`; it commits nothing, and calls claim() before it writes.
    Receipts checked at the door (check_receipt) only."""
    done = Batch()
    if not items:
        return done
    texts = _texts_named(items, conn)
    current: dict[int, tuple[str, str | None]] = {}  # a text's status and code so far
    changes: dict[int, dict] = {}
    marks: set[int] = set()  # conversations whose failure mark may change
    opt_outs: list[int] = []
    now = utcnow()
    for row_id, params in items:
        row = texts.get(row_id)
        if row is None or row.direction != DIRECTION_OUT:
            if alone:
                done.outcomes[row_id] = "ignored"
            continue
        done.message_ids[row_id] = row.id
        status = _RECEIPT_STATUS.get((params.get("status") or "").lower())
        code = params.get("err-code") or ""
        if status == STATUS_FAILED and code == OPTED_OUT_ERR_CODE:
            if not alone:
                del done.message_ids[row_id]
                continue
            opt_outs.append(row.patient_id)  # news even when the text has its status
        was, was_code = current.get(row.id, (row.status, row.error_code))
        settled = was == STATUS_FAILED and was_code == UNCONFIRMED
        if status is None or (
            not settled and (status == was or _RANK[status] < _RANK.get(was, 0) or was in _FINAL)
        ):
            done.outcomes[row_id] = "duplicate"
            continue
        failed = status == STATUS_FAILED
        reason = carrier.RECEIPT_ERRORS.get(code, "The carrier could not deliver it")
        current[row.id] = (status, code if failed else None)
        changes[row.id] = {
            "ref": row.id, "status": status, "at": now,
            "code": code if failed else None, "reason": reason if failed else None,
            "carrier_id": row.carrier_message_id or params["messageId"],
        }  # fmt: skip
        if failed or settled:
            marks.add(row.conversation_id)
        done.outcomes[row_id] = "stored"
    if not changes and not opt_outs:
        return done
    claim()  # the writes start here
    if changes:
        _write(changes, {row.id: row for row in texts.values()}, marks, conn, done)
    for patient_id in dict.fromkeys(opt_outs):
        published = consent.opt_out_from_receipt(db.session.get(Patient, patient_id))
        if published is not None:
            done.after.append(published)
    return done
