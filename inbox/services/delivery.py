"""Delivery: a send job takes its text (and the jobs waiting behind it) and sends them
through the carrier under the account's rate limit. Each text is claimed (queued ->
sending) by one conditional UPDATE that checks, as of that moment, that it may still go
out, so two workers never send the same row; the carrier's answers are written together."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import redis
from flask import current_app
from sqlalchemy import bindparam, case, exists, or_, select, update
from sqlalchemy.orm import joinedload

from .. import carrier, events
from ..broker import take_queued_jobs
from ..extensions import db
from ..models import (
    KIND_OPTOUT_CONFIRM,
    NUMBER_ACTIVE,
    STATUS_QUEUED,
    STATUS_SENDING,
    STATUS_SENT,
    Account,
    Conversation,
    InboxNumber,
    Message,
    Patient,
    utcnow,
)
from . import event_hooks, segments, throttle
from .message_status import mark_failed, mark_unconfirmed, refresh_failed_flags, status_event
from .numbers import carrier_settings
from .outbox import SEND_JOB_PREFIX, enqueue_send, hand_back

log = logging.getLogger(__name__)


def deliver_waiting() -> int:
    """Run by a send job after its own text: take the send jobs waiting at the head of the
    queue (up to SEND_BATCH) and deliver their texts here, oldest first. RQ's bookkeeping
    (some fifty Redis round trips a job) is then paid once for the batch, not once a text.

    With no rate limit the batch is read in one query, each text claimed by one
    autocommitted statement and the results written in one, so the database work per text
    is one round trip. With a limit each text waits for its own slot and goes through
    deliver(), as any job's. Opt-outs and exactly-once hold either way: every text is
    claimed by a conditional UPDATE (queued -> sending) that checks the opt-out and the
    Inbox as of that moment, just before it goes out. Returns how many were sent or settled.

    A text that needs a retry gets its own job, due after the first retry interval; the
    ones not tried go back to the queue. Each text is claimed just before its send, so if
    this worker dies, the texts it took are queued rows with no job, which the outbox sweep
    enqueues again, but for the one in flight (left `sending`: the sweep marks it
    unconfirmed, never re-sent on its own) and those sent but not yet recorded (their
    delivery receipts settle them)."""
    config = current_app.config
    try:
        job_ids = take_queued_jobs(SEND_JOB_PREFIX, config["SEND_BATCH"])
    except redis.RedisError:
        return 0
    ids = [int(job_id.removeprefix(SEND_JOB_PREFIX)) for job_id in job_ids]
    if not ids:
        return 0
    retry_delay = config["SEND_RETRY_INTERVALS"][0]
    deadline = time.monotonic() + config["SEND_BATCH_SECONDS"]
    if not throttle.limited():
        try:
            statuses, untried = _send_batch(ids, deadline)
        except RetryLater as exc:
            hand_back(exc.untried, failed=exc.message_id, delay=retry_delay)
            return ids.index(exc.message_id)
        except Exception:
            db.session.rollback()
            log.exception("sending messages %s failed; they are tried again", ids)
            for message_id in ids:  # a text already settled ends its job at once
                enqueue_send(message_id, delay=retry_delay)
            return 0
        hand_back(untried)  # a slow carrier: let other workers help
        return len(statuses)
    for done, message_id in enumerate(ids):
        if time.monotonic() > deadline:  # waiting for send slots: let other workers help
            hand_back(ids[done:])
            return done
        try:
            deliver(message_id)
        except Exception as exc:
            db.session.rollback()
            if not isinstance(exc, RetryLater):
                log.exception("sending message %s failed; it is tried again", message_id)
            hand_back(ids[done + 1 :], failed=message_id, delay=retry_delay)
            return done
    return len(ids)


class RetryLater(Exception):
    """Raised inside the send job so RQ retries it with backoff. `message_id` is the text
    that failed; `untried` the texts of its batch after it, not tried and still queued."""

    def __init__(self, reason: str, message_id: int = 0, untried: tuple[int, ...] = ()) -> None:
        super().__init__(reason)
        self.message_id = message_id
        self.untried = untried


@dataclass(frozen=True)
class _Claimed:
    """What a claimed text's send needs, read before the claim's commit expires the rows."""

    id: int
    account_id: int
    conversation_id: int
    from_number: str
    to_number: str
    body: str
    unicode: bool
    segments: int
    refusal: tuple[str, str] | None  # (code, reason) when it must not go out after all
    conversation_has_failed: bool


def deliver(message_id: int, *, final_attempt: bool = False) -> str:
    """Send one queued message through the carrier; return its new status.

    The account's rate limit is waited for first; then the message is claimed
    (queued -> sending) with one conditional UPDATE, so two workers never send the
    same row, and a job that runs twice sends once."""
    row = db.session.execute(
        select(Message.status, Message.account_id).where(Message.id == message_id)
    ).first()
    if row is None:
        return "missing"
    if row.status != STATUS_QUEUED:
        return row.status
    account_id = row.account_id
    db.session.rollback()  # hold no transaction while waiting for a send slot
    try:
        throttle.wait_for_send_slot(account_id)
    except (redis.RedisError, throttle.SlotTimeout) as exc:
        raise RetryLater(f"no send slot: {exc}", message_id) from exc
    statuses, _ = _send_claimed(_claim([message_id]), final_attempt=final_attempt)
    if message_id in statuses:
        return statuses[message_id]
    status = db.session.scalar(select(Message.status).where(Message.id == message_id))
    db.session.rollback()
    return status  # another job claimed it first


def _claim(ids: list[int]) -> list[_Claimed]:
    """queued -> sending for those of `ids` still queued (one conditional UPDATE), and what
    their sends need (one query); committed before anything is sent."""
    claimed = db.session.scalars(
        update(Message)
        .where(Message.id.in_(ids), Message.status == STATUS_QUEUED)
        .values(status=STATUS_SENDING, status_changed_at=utcnow())
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not claimed:
        db.session.rollback()
        return []
    out = _snapshots(claimed)
    db.session.commit()
    return out


def _snapshots(ids: list[int], *, queued_only: bool = False) -> list[_Claimed]:
    """What the sends of these texts need, in id order: one query (the texts, their
    conversations, patients, accounts and numbers)."""
    only = [Message.status == STATUS_QUEUED] if queued_only else []
    messages = db.session.scalars(
        select(Message)
        .where(Message.id.in_(ids), *only)
        .order_by(Message.id)
        .options(
            joinedload(Message.conversation).joinedload(Conversation.account),
            joinedload(Message.conversation).joinedload(Conversation.inbox_number),
        )
    ).all()
    out = []
    for m in messages:
        conv = m.conversation
        refusal = None
        if conv.patient.opted_out and m.kind != KIND_OPTOUT_CONFIRM:
            refusal = ("OPTOUT", "The patient opted out before this text went out.")
        elif conv.inbox_number_id is not None and (
            not conv.account.inbox_enabled
            or conv.inbox_number is None
            or conv.inbox_number.status != NUMBER_ACTIVE
        ):
            refusal = ("INBOX_OFF", "The Inbox was turned off before this text went out.")
        out.append(
            _Claimed(
                id=m.id,
                account_id=m.account_id,
                conversation_id=m.conversation_id,
                from_number=m.from_number,
                to_number=m.to_number,
                body=m.body,
                unicode=m.encoding == segments.UCS2,
                segments=m.segments,
                refusal=refusal,
                conversation_has_failed=conv.has_failed,
            )
        )
    return out


@cache
def _claim_if_sendable():
    """queued -> sending for one text, only if it may still go out: the patient has not
    opted out (but for the opt-out confirmation) and its number is still the account's
    active one with the Inbox on. The checks of _snapshots, as of the claim."""
    t = Message.__table__
    conv, patient = Conversation.__table__, Patient.__table__
    number, account = InboxNumber.__table__, Account.__table__
    sendable = exists().where(
        conv.c.id == t.c.conversation_id,
        or_(
            t.c.kind == KIND_OPTOUT_CONFIRM,
            ~exists().where(patient.c.id == conv.c.patient_id, patient.c.opted_out_at.is_not(None)),
        ),
        or_(
            conv.c.inbox_number_id.is_(None),
            exists().where(
                number.c.id == conv.c.inbox_number_id,
                number.c.status == NUMBER_ACTIVE,
                account.c.id == conv.c.account_id,
                account.c.inbox_enabled.is_(True),
            ),
        ),
    )
    return (
        update(t)
        .where(t.c.id == bindparam("message_id"), t.c.status == STATUS_QUEUED, sendable)
        .values(
            status=STATUS_SENDING,
            status_changed_at=bindparam("now", type_=t.c.status_changed_at.type),
        )
    )


def _send_batch(ids: list[int], deadline: float) -> tuple[dict[int, str], list[int]]:
    """The texts of a batch with no rate limit: read together, each claimed just before its
    send (one autocommitted statement on a connection kept for the batch, so a killed worker
    leaves at most the text in flight unconfirmed), the results written together. Returns
    the statuses and the texts left queued for lack of time."""
    candidates = _snapshots(ids, queued_only=True)
    db.session.rollback()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:

        def claim(c: _Claimed) -> bool:
            if c.refusal:
                return False
            params = {"message_id": c.id, "now": utcnow()}
            return conn.execute(_claim_if_sendable(), params).rowcount == 1

        return _send_claimed(candidates, final_attempt=False, deadline=deadline, claim=claim)


def _send_claimed(
    claimed: list[_Claimed],
    *,
    final_attempt: bool,
    deadline: float | None = None,
    claim: Callable[[_Claimed], bool] | None = None,
) -> tuple[dict[int, str], list[int]]:
    """Send texts one after another, then write every result in one statement. The texts
    are claimed already, or each by `claim` just before its send (a text it refuses, taken
    by another job or no longer sendable, goes the careful way: `deliver`). Returns each
    text's new status, and the unclaimed texts left queued because the deadline (a
    monotonic time) passed. A passing failure (not on the final attempt) puts the text back
    to `queued` and raises RetryLater with the ones after it."""
    settings = carrier_settings()
    callback_url = current_app.config["PUBLIC_BASE_URL"] + "/webhooks/vonage/status"
    statuses: dict[int, str] = {}
    sent: list[tuple[_Claimed, carrier.SendResult]] = []
    for i, c in enumerate(claimed):
        if deadline is not None and time.monotonic() > deadline:
            statuses.update(_record_sent(sent))
            return statuses, [later.id for later in claimed[i:]]
        if claim is not None and not claim(c):
            statuses.update(_record_sent(sent))
            sent = []
            try:
                statuses[c.id] = deliver(c.id)
            except RetryLater as exc:
                untried = tuple(later.id for later in claimed[i + 1 :])
                raise RetryLater(str(exc), c.id, untried) from exc
            continue
        if c.refusal:
            statuses[c.id] = mark_failed(db.session.get(Message, c.id), *c.refusal)
            continue
        try:
            result = carrier.send_sms(
                settings,
                from_e164=c.from_number,
                to_e164=c.to_number,
                text=c.body,
                unicode=c.unicode,
                client_ref=str(c.id),
                callback_url=callback_url,
            )
        except carrier.CarrierError as exc:
            statuses.update(_record_sent(sent))
            sent = []
            message = db.session.get(Message, c.id)
            if exc.outcome_unknown:
                statuses[c.id] = mark_unconfirmed(message, exc.reason)
            elif exc.transient and not final_attempt:
                message.status = STATUS_QUEUED
                message.error_text = exc.reason
                message.status_changed_at = utcnow()
                db.session.commit()
                untried = tuple(later.id for later in claimed[i + 1 :])
                raise RetryLater(exc.reason, c.id, untried) from exc
            else:
                statuses[c.id] = mark_failed(message, exc.code, exc.reason)
            continue
        sent.append((c, result))
    statuses.update(_record_sent(sent))
    return statuses, []


_SENT = (
    update(Message.__table__)
    .where(Message.__table__.c.id == bindparam("message_id"))
    .values(
        carrier_message_id=bindparam("carrier_id"),
        segments=bindparam("parts"),
        # `sent` only while the row is still `sending`: a delivery receipt may have landed
        # while we waited for the answer, and a failure's reason stays with it (clearing it
        # here left "failed" with no reason: a flake of the err-code 9 test, and a text
        # staff could not act on).
        error_code=case(
            (Message.__table__.c.status == STATUS_SENDING, None),
            else_=Message.__table__.c.error_code,
        ),
        error_text=case(
            (Message.__table__.c.status == STATUS_SENDING, None),
            else_=Message.__table__.c.error_text,
        ),
        status=case(
            (Message.__table__.c.status == STATUS_SENDING, STATUS_SENT),
            else_=Message.__table__.c.status,
        ),
        status_changed_at=case(
            (
                Message.__table__.c.status == STATUS_SENDING,
                bindparam("now", type_=Message.__table__.c.status_changed_at.type),
            ),
            else_=Message.__table__.c.status_changed_at,
        ),
    )
)


def _record_sent(sent: list[tuple[_Claimed, carrier.SendResult]]) -> dict[int, str]:
    """The carrier's answers for texts it accepted: one statement and one commit for all,
    then their live status events."""
    if not sent:
        return {}
    now = utcnow()
    db.session.execute(
        _SENT,
        [
            {
                "message_id": c.id,
                "carrier_id": result.message_ids[0] if result.message_ids else None,
                "parts": result.parts or c.segments,
                "now": now,
            }
            for c, result in sent
        ],
    )
    ids = [c.id for c, _ in sent]
    statuses = dict(
        db.session.execute(select(Message.id, Message.status).where(Message.id.in_(ids))).all()
    )
    refresh_failed_flags({c.conversation_id for c, _ in sent if c.conversation_has_failed})
    event_hooks.emit(
        [
            event_hooks.status_changed(c.account_id, c.id, c.conversation_id, statuses[c.id])
            for c, _ in sent
        ]
    )
    db.session.commit()
    events.publish_many(
        [status_event(c.account_id, c.conversation_id, c.id, statuses[c.id]) for c, _ in sent]
    )
    return statuses
