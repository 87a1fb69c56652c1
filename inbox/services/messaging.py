"""The outbound rules: queue a text (the row is committed before its job exists),
send it from a job under the account's rate limit, retry what failed for a passing
reason, sweep the outbox for texts a dead worker or a Redis outage left behind, and
apply delivery receipts.

The guarantee: every text staff send is sent at most once, except when the carrier
connection broke after the request left (the outcome is then unknown): such a text is
marked "Not confirmed" and is never re-sent on its own; a later receipt settles it,
and if none comes it is failed with Retry offered to staff."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

import redis
from flask import current_app
from rq import Queue, Retry
from sqlalchemy import (
    ARRAY,
    DateTime,
    Integer,
    Text,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import joinedload

from .. import carrier, events
from ..broker import (
    forget_job,
    get_queue,
    in_queue,
    job_status,
    scheduled_for,
    take_queued_jobs,
)
from ..extensions import db
from ..models import (
    DIRECTION_OUT,
    KIND_OPTOUT_CONFIRM,
    KIND_TEXT,
    NUMBER_ACTIVE,
    PLAN_ACCELERATOR,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_QUEUED,
    STATUS_SENDING,
    STATUS_SENT,
    STATUS_UNKNOWN,
    Account,
    Clinic,
    Conversation,
    InboxNumber,
    Message,
    Patient,
    User,
    get_scoped,
    scoped,
    utcnow,
)
from ..models.conversations import KIND_WORDS
from . import consent, event_hooks, phones, segments, throttle

log = logging.getLogger(__name__)

PREVIEW_CHARS = 140
UNCONFIRMED = "UNCONFIRMED"  # error_code of a text no receipt ever confirmed


class SendRefused(Exception):
    """A send staff asked for that cannot happen; the message says why, in words."""


def inbox_off_words(account: Account) -> str:
    """Why nothing can be texted: the plan, when the plan is the reason."""
    if account.plan != PLAN_ACCELERATOR:
        return (
            "The Inbox is part of the Accelerator Plan, and this practice is on the "
            f"{account.plan_name} (Settings › Billing)."
        )
    return "The Inbox is turned off for this account."


def carrier_settings() -> carrier.CarrierSettings:
    return carrier.CarrierSettings.from_config(current_app.config)


def active_number(account_id: int) -> InboxNumber | None:
    return db.session.scalars(
        select(InboxNumber).where(
            InboxNumber.account_id == account_id, InboxNumber.status == NUMBER_ACTIVE
        )
    ).first()


def list_preview(body: str, direction: str, kind: str = KIND_TEXT) -> str:
    """The list row's preview: a staff text is "You: ...", an automatic one says what it is
    (an opt-out confirmation was not written by anyone on the team)."""
    if direction != DIRECTION_OUT:
        return _preview(body)
    return _preview(f"{KIND_WORDS.get(kind, 'You')}: {body}")


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def touch_conversation(conv: Conversation, message: Message) -> None:
    """Keep the list's columns in step with the newest message of the thread."""
    if conv.last_message_at is None or message.sent_at >= conv.last_message_at:
        conv.last_message_at = message.sent_at
        conv.last_message_preview = list_preview(message.body, message.direction, message.kind)
        conv.last_direction = message.direction


@cache
def _touch_threads_statement(dialect: str):
    """On PostgreSQL one UPDATE for all the threads, from arrays (its counter trigger runs
    once per statement, so once per batch); on SQLite an executemany, whose row triggers
    run per row either way."""
    t = Conversation.__table__
    at_type = t.c.last_message_at.type
    if dialect == "postgresql":
        v = select(
            func.unnest(bindparam("conv_ids", type_=ARRAY(Integer))).label("conv_id"),
            func.unnest(bindparam("ats", type_=ARRAY(DateTime(timezone=True)))).label("at"),
            func.unnest(bindparam("previews", type_=ARRAY(Text))).label("preview"),
            func.unnest(bindparam("dirs", type_=ARRAY(Text))).label("dir"),
        ).subquery("v")
        src = {"conv_id": v.c.conv_id, "at": v.c.at, "preview": v.c.preview, "dir": v.c.dir}
    else:
        src = {
            "conv_id": bindparam("conv_id"),
            "at": bindparam("at", type_=at_type),
            "preview": bindparam("preview"),
            "dir": bindparam("dir"),
        }
    newer = or_(t.c.last_message_at.is_(None), t.c.last_message_at <= src["at"])
    return (
        update(t)
        .where(t.c.id == src["conv_id"])
        .values(
            unread=bindparam("unread"),
            last_message_at=case((newer, src["at"]), else_=t.c.last_message_at),
            last_message_preview=case((newer, src["preview"]), else_=t.c.last_message_preview),
            last_direction=case((newer, src["dir"]), else_=t.c.last_direction),
        )
    )


def touch_threads(
    newest: list[tuple[int, datetime, str, str]], *, unread: bool, conn: Connection
) -> None:
    """touch_conversation() for many threads, on the caller's connection: each
    (conversation id, sent_at, body, direction) is its thread's newest text of a batch,
    and moves the list's columns only if it is newer than what the thread shows. The
    caller tells the page cache which accounts changed."""
    if not newest:
        return
    previews = [list_preview(body, direction) for _, _, body, direction in newest]
    statement = _touch_threads_statement(conn.dialect.name)
    if conn.dialect.name == "postgresql":
        conn.execute(
            statement,
            {
                "conv_ids": [conv_id for conv_id, *_ in newest],
                "ats": [at for _, at, *_ in newest],
                "previews": previews,
                "dirs": [d for *_, d in newest],
                "unread": unread,
            },
        )
    else:
        conn.execute(
            statement,
            [
                {"conv_id": conv_id, "at": at, "preview": preview, "dir": d, "unread": unread}
                for (conv_id, at, _, d), preview in zip(newest, previews, strict=True)
            ],
        )


# ---- outbound ------------------------------------------------------------------------


def validate_body(body: str) -> segments.SegmentInfo:
    text = (body or "").strip()
    if not text:
        raise SendRefused("Write a message before sending.")
    info = segments.count(text)
    # The counter under the box speaks in texts, and so does the refusal: one limit, one
    # reason (6 texts are at most 918 characters; the request itself is capped at 64 KB).
    if info.too_long:
        raise SendRefused(
            f"That message would go out as {info.segments} texts; "
            f"the limit is {segments.MAX_SEGMENTS}. Please shorten it."
        )
    return info


def _refuse_unless_sendable(patient: Patient) -> None:
    if patient.opted_out:
        raise SendRefused(
            f"{patient.full_name or phones.display(patient.phone)} replied STOP and has "
            "opted out of texts. They can text START to opt back in."
        )
    if not phones.can_receive_sms(patient.phone):
        raise SendRefused(f"{phones.display(patient.phone)} cannot receive text messages.")


def queue_message(
    conv: Conversation,
    body: str,
    *,
    from_number: str,
    kind: str = KIND_TEXT,
    sent_by: User | None = None,
    on_staged: Callable[[Message], None] | None = None,
) -> Message:
    """Store the text as queued (committed), then hand it to a worker and tell the tabs.
    The caller has checked that it may be sent. `on_staged` adds the caller's own rows to
    the same transaction (the API's idempotency record)."""
    message = stage_message(conv, body, from_number=from_number, kind=kind, sent_by=sent_by)
    if on_staged is not None:
        on_staged(message)
    db.session.commit()
    dispatch(message)
    return message


def stage_message(
    conv: Conversation,
    body: str,
    *,
    from_number: str,
    kind: str = KIND_TEXT,
    sent_by: User | None = None,
) -> Message:
    """The queued row, added and flushed in the caller's transaction (not committed)."""
    info = validate_body(body)
    message = Message(
        account_id=conv.account_id,
        conversation_id=conv.id,
        direction=DIRECTION_OUT,
        body=body.strip(),
        from_number=from_number,
        to_number=conv.patient.phone,
        status=STATUS_QUEUED,
        segments=info.segments,
        encoding=info.encoding,
        sent_by_user_id=sent_by.id if sent_by else None,
        sent_at=utcnow(),
        status_changed_at=utcnow(),
        kind=kind,
    )
    db.session.add(message)
    db.session.flush()
    touch_conversation(conv, message)
    return message


def dispatch(message: Message) -> None:
    """After the commit: the job, and the live update."""
    enqueue_send(message.id)
    events.publish(
        message.account_id,
        {"type": "message", "conversation_id": message.conversation_id, "id": message.id},
    )


def queue_outbound(
    *,
    user: User,
    conversation_id: int,
    body: str,
    kind: str = KIND_TEXT,
    on_staged: Callable[[Message], None] | None = None,
) -> Message:
    """A text staff wrote: every refusal is a SendRefused with the reason in words."""
    account: Account = user.account
    conv = get_scoped(Conversation, conversation_id, user.account_id)
    if conv is None:
        raise LookupError("conversation")
    if not account.inbox_enabled:
        raise SendRefused(inbox_off_words(account))
    if not user.can_use_inbox:
        raise SendRefused("You do not have the Inbox privilege.")
    number = active_number(account.id)
    if number is None or number.id != conv.inbox_number_id:
        raise SendRefused("This conversation belongs to a number that is no longer active.")
    _refuse_unless_sendable(conv.patient)
    return queue_message(
        conv, body, from_number=number.e164, kind=kind,
        sent_by=user if isinstance(user, User) else None, on_staged=on_staged,
    )  # fmt: skip


def queue_automatic(conv: Conversation, body: str, *, kind: str) -> Message | None:
    """A text the app answers with (STOP confirmation, HELP, START): from the thread's
    number, sent by nobody. An opt-out confirmation is the one text an opted-out patient
    still gets."""
    number = db.session.get(InboxNumber, conv.inbox_number_id) if conv.inbox_number_id else None
    if number is None or number.status != NUMBER_ACTIVE:
        return None
    if conv.patient.opted_out and kind != KIND_OPTOUT_CONFIRM:
        return None
    return queue_message(conv, body, from_number=number.e164, kind=kind)


def compose(
    *,
    user: User,
    clinic_id: int | str | None,
    body: str,
    patient_id: int | str | None = None,
    phone: str | None = None,
    on_staged: Callable[[Message], None] | None = None,
) -> Message:
    """New message: to a patient picked by name, or to a typed number; opens (or starts)
    that patient's conversation on the inbox number, filed under the chosen clinic."""
    account: Account = user.account
    number = active_number(account.id)
    if not account.inbox_enabled or number is None:
        raise SendRefused(inbox_off_words(account))
    allowed = user.visible_clinic_ids()
    clinic = get_scoped(Clinic, clinic_id, account.id)
    if clinic is None or clinic.archived or (allowed is not None and clinic.id not in allowed):
        raise SendRefused("Pick the clinic this conversation belongs to.")
    validate_body(body)
    if patient_id:
        patient = get_scoped(Patient, patient_id, account.id)
        if patient is None or (allowed is not None and patient.home_clinic_id not in allowed):
            raise SendRefused("That patient was not found.")
    elif phone and phone.strip():
        try:
            e164 = phones.normalize(phone)
        except phones.InvalidPhone as exc:
            raise SendRefused(str(exc)) from exc
        if not phones.can_receive_sms(e164):
            raise SendRefused(f"{phones.display(e164)} cannot receive text messages.")
        if e164 == number.e164:
            raise SendRefused(
                f"{phones.display(e164)} is your practice's own Inbox number, not a patient's."
            )
        patient = find_patient(account.id, e164)
        if patient is not None and allowed is not None and patient.home_clinic_id not in allowed:
            raise SendRefused(OTHER_CLINICS_PATIENT.format(number=phones.display(e164)))
        patient = patient or patient_for(account.id, e164, home_clinic_id=clinic.id)
    else:
        raise SendRefused("Pick a patient, or type their mobile number.")
    existing = find_conversation(number, patient)
    if existing is not None and allowed is not None and existing.clinic_id not in allowed:
        # The patient is one of this user's, but their conversation is filed under a clinic
        # the user cannot open: neither read it nor take it away from that clinic's team.
        raise SendRefused(
            OTHER_CLINICS_CONVERSATION.format(
                name=patient.full_name or phones.display(patient.phone)
            )
        )
    conv = existing or conversation_for(number, patient, clinic_id=clinic.id)
    if conv.clinic_id != clinic.id:
        # The form asks which clinic the conversation belongs to: an existing one is filed
        # there from now on (its list label and clinic filter follow).
        conv.clinic_id = clinic.id
        db.session.flush()
    return queue_outbound(user=user, conversation_id=conv.id, body=body, on_staged=on_staged)


OTHER_CLINICS_PATIENT = (
    "{number} belongs to a patient of a clinic you do not have access to. Ask an admin to "
    "text them, or to give you access to that clinic."
)
OTHER_CLINICS_CONVERSATION = (
    "{name}'s conversation is filed under a clinic you do not have access to. Ask an admin "
    "to reply there, or to give you access to that clinic."
)


def find_patient(account_id: int, e164: str) -> Patient | None:
    """The account's patient with this mobile number, if any."""
    return db.session.scalars(scoped(Patient, account_id).where(Patient.phone == e164)).first()


def patient_for(account_id: int, e164: str, **new_fields) -> Patient:
    """The account's patient with this mobile number, created (with new_fields) if none."""
    patient = find_patient(account_id, e164)
    if patient is None:
        patient = Patient(
            account_id=account_id, phone=e164, phone_digits=phones.national_digits(e164),
            **new_fields,
        )  # fmt: skip
        db.session.add(patient)
        db.session.flush()
    return patient


def find_conversation(number: InboxNumber | None, patient: Patient) -> Conversation | None:
    """The patient's thread on this number (None: the account's default sender), if any."""
    return db.session.scalars(
        select(Conversation).where(
            Conversation.inbox_number_id.is_(None)
            if number is None
            else Conversation.inbox_number_id == number.id,
            Conversation.patient_id == patient.id,
        )
    ).first()


def conversation_for(
    number: InboxNumber | None, patient: Patient, *, clinic_id: int | None
) -> Conversation:
    """The patient's thread on this number (None: the account's default sender, used
    for reminders while the Inbox is off), started under clinic_id if there is none."""
    conv = find_conversation(number, patient)
    if conv is None:
        conv = Conversation(
            account_id=patient.account_id,
            inbox_number_id=number.id if number else None,
            patient_id=patient.id,
            clinic_id=clinic_id,
            opted_out=patient.opted_out,
        )
        db.session.add(conv)
        db.session.flush()
    return conv


def send_retry() -> Retry:
    """Backoff for passing failures, with jitter so a burst of failures does not come
    back as a burst of retries."""
    intervals = current_app.config["SEND_RETRY_INTERVALS"]
    return Retry(
        max=len(intervals), interval=[round(i * random.uniform(0.8, 1.3), 2) for i in intervals]
    )


_SEND_JOB = "workers.jobs.send_message"


def _send_job_options(message_id: int) -> dict:
    """A send job's options, but its timeout (whose keyword differs between RQ's calls)."""
    return {
        "job_id": send_job_id(message_id),
        "retry": send_retry(),
        "failure_ttl": 7 * 24 * 3600,
        "result_ttl": 0,  # nothing reads a sent text's job back: fewer Redis writes per text
    }


_SEND_JOB_TIMEOUT = 120


def enqueue_send(message_id: int, *, delay: float = 0.0) -> bool:
    """Hand the message to a worker (after `delay` seconds: the scheduler enqueues it).
    If Redis is down the row stays queued for the sweep."""
    if delay <= 0:
        return enqueue_sends([message_id])
    try:
        get_queue().enqueue_in(
            timedelta(seconds=delay),
            _SEND_JOB,
            message_id,
            job_timeout=_SEND_JOB_TIMEOUT,
            **_send_job_options(message_id),
        )
        return True
    except redis.RedisError:
        log.warning("could not enqueue message %s; it stays queued for the sweep", message_id)
        return False


def enqueue_sends(message_ids: Sequence[int]) -> bool:
    """Hand these messages to the workers, in order, in one round trip to Redis. If Redis
    is down the rows stay queued for the sweep."""
    if not message_ids:
        return True
    jobs = [
        Queue.prepare_data(_SEND_JOB, (mid,), timeout=_SEND_JOB_TIMEOUT, **_send_job_options(mid))
        for mid in message_ids
    ]
    try:
        get_queue().enqueue_many(jobs)  # one pipeline
        return True
    except redis.RedisError:
        log.warning("could not enqueue messages %s; they stay queued for the sweep", message_ids)
        return False


_SEND_JOB_PREFIX = "send-message-"


def send_job_id(message_id: int) -> str:
    return f"{_SEND_JOB_PREFIX}{message_id}"


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
        job_ids = take_queued_jobs(_SEND_JOB_PREFIX, config["SEND_BATCH"])
    except redis.RedisError:
        return 0
    ids = [int(job_id.removeprefix(_SEND_JOB_PREFIX)) for job_id in job_ids]
    if not ids:
        return 0
    retry_delay = config["SEND_RETRY_INTERVALS"][0]
    deadline = time.monotonic() + config["SEND_BATCH_SECONDS"]
    if not throttle.limited():
        try:
            statuses, untried = _send_batch(ids, deadline)
        except RetryLater as exc:
            _hand_back(exc.untried, failed=exc.message_id, delay=retry_delay)
            return ids.index(exc.message_id)
        except Exception:
            db.session.rollback()
            log.exception("sending messages %s failed; they are tried again", ids)
            for message_id in ids:  # a text already settled ends its job at once
                enqueue_send(message_id, delay=retry_delay)
            return 0
        _hand_back(untried)  # a slow carrier: let other workers help
        return len(statuses)
    for done, message_id in enumerate(ids):
        if time.monotonic() > deadline:  # waiting for send slots: let other workers help
            _hand_back(ids[done:])
            return done
        try:
            deliver(message_id)
        except Exception as exc:
            db.session.rollback()
            if not isinstance(exc, RetryLater):
                log.exception("sending message %s failed; it is tried again", message_id)
            _hand_back(ids[done + 1 :], failed=message_id, delay=retry_delay)
            return done
    return len(ids)


def _hand_back(untried: Iterable[int], *, failed: int | None = None, delay: float = 0) -> None:
    """Texts a batch took and did not settle go back to the queue: the one that failed
    (if any) due after `delay` seconds, the ones not tried at once."""
    if failed is not None:
        enqueue_send(failed, delay=delay)
    enqueue_sends(list(untried))


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
    thread_has_failed: bool


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
    threads, patients, accounts and numbers)."""
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
                thread_has_failed=conv.has_failed,
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
            statuses[c.id] = _fail(db.session.get(Message, c.id), *c.refusal)
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
                statuses[c.id] = _unconfirmed(message, exc.reason)
            elif exc.transient and not final_attempt:
                message.status = STATUS_QUEUED
                message.error_text = exc.reason
                message.status_changed_at = utcnow()
                db.session.commit()
                untried = tuple(later.id for later in claimed[i + 1 :])
                raise RetryLater(exc.reason, c.id, untried) from exc
            else:
                statuses[c.id] = _fail(message, exc.code, exc.reason)
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
    refresh_failed_flags({c.conversation_id for c, _ in sent if c.thread_has_failed})
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


def _unconfirmed(message: Message, reason: str) -> str:
    message.status = STATUS_UNKNOWN
    message.error_code = None
    message.error_text = reason
    message.status_changed_at = utcnow()
    _emit_status(message)
    db.session.commit()
    _publish_status(message)
    return message.status


def _fail(message: Message, code: str | None, reason: str) -> str:
    message.status = STATUS_FAILED
    message.error_code = code
    message.error_text = reason
    message.status_changed_at = utcnow()
    message.conversation.has_failed = True
    _emit_status(message)
    db.session.commit()
    _publish_status(message)
    return message.status


def _emit_status(message: Message) -> None:
    """The event webhooks of a text's new status, in the caller's transaction."""
    event_hooks.emit(
        [
            event_hooks.status_changed(
                message.account_id,
                message.id,
                message.conversation_id,
                message.status,
                message.error_code,
            )
        ]
    )


def refresh_failed_flags(conversation_ids: Collection[int]) -> None:
    """The list's failure mark, in the session's transaction: does some outbound text of
    each of these threads still fail? (One statement; loaded threads see it after the
    commit.)"""
    if not conversation_ids:
        return
    db.session.execute(
        update(Conversation)
        .where(Conversation.id.in_(conversation_ids))
        .values(
            has_failed=exists().where(
                Message.conversation_id == Conversation.id,
                Message.status == STATUS_FAILED,
            )
        )
        .execution_options(synchronize_session=False)
    )


def retry(*, user: User, message_id: int) -> Message:
    """Send a failed (or unconfirmed) text again, as the same message."""
    message = get_scoped(Message, message_id, user.account_id)
    if message is None or message.direction != DIRECTION_OUT:
        raise LookupError("message")
    if message.status not in (STATUS_FAILED, STATUS_UNKNOWN):
        raise SendRefused("Only a failed text can be sent again.")
    conv = message.conversation
    number = active_number(user.account_id)
    if not user.account.inbox_enabled or number is None or number.id != conv.inbox_number_id:
        raise SendRefused("This conversation belongs to a number that is no longer active.")
    if conv.patient.opted_out:
        raise SendRefused("The patient has opted out of texts; it cannot be sent again.")
    message.status = STATUS_QUEUED
    message.error_code = message.error_text = None
    message.status_changed_at = utcnow()
    refresh_failed_flags([conv.id])
    db.session.commit()
    enqueue_send(message.id)
    _publish_status(message)
    return message


def status_event(
    account_id: int, conversation_id: int, message_id: int, status: str
) -> tuple[int, dict]:
    """The live event of a text's new status, for its account's open inboxes."""
    return account_id, {
        "type": "status",
        "conversation_id": conversation_id,
        "id": message_id,
        "status": status,
    }


def _status_event(message: Message) -> tuple[int, dict]:
    return status_event(message.account_id, message.conversation_id, message.id, message.status)


def _publish_status(message: Message) -> None:
    events.publish(*_status_event(message))


# ---- the outbox sweep -----------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    requeued: int = 0  # queued with no live job (Redis was down, the job was lost)
    worker_lost: int = 0  # claimed by a worker that died: outcome unknown
    unconfirmed: int = 0  # unknown for too long with no receipt: failed, Retry offered


def sweep_outbox(now: datetime | None = None) -> SweepResult:
    """Run every minute (rq cron). Nothing staff sent is left waiting forever."""
    cfg = current_app.config
    now = now or utcnow()
    requeued = worker_lost = unconfirmed = 0
    queued_cutoff = now - timedelta(seconds=cfg["SWEEP_QUEUED_AFTER_SECONDS"])
    sending_cutoff = now - timedelta(seconds=cfg["SWEEP_SENDING_AFTER_SECONDS"])
    unknown_cutoff = now - timedelta(seconds=cfg["UNCONFIRMED_AFTER_SECONDS"])
    stale_queued = db.session.execute(
        select(Message.id, Message.status_changed_at)
        .where(
            Message.direction == DIRECTION_OUT,
            Message.status == STATUS_QUEUED,
            or_(
                Message.status_changed_at.is_(None),
                Message.status_changed_at < queued_cutoff,
            ),
        )
        .order_by(Message.id)
        .limit(5000)
    ).all()
    for message_id, changed_at in stale_queued:
        job_id = send_job_id(message_id)
        try:
            status = job_status(job_id)
            if status == "deferred":
                continue
            if status == "scheduled":
                due = scheduled_for(job_id)
                if due is not None and due >= queued_cutoff:
                    continue  # its retry is due later (or has just come due)
                # Overdue: no scheduler put it back (none running, or it died). Or in no
                # registry: RQ's scheduler removes the due ids it read a moment before,
                # so a retry of the same id scheduled in between is dropped, and nothing
                # would ever enqueue it. Send anyway: the claim keeps it to one send.
            if status == "queued" and in_queue(job_id):
                continue  # waiting its turn
            if status in ("queued", "started") and changed_at and changed_at >= sending_cutoff:
                continue  # a worker has it (just popped it, or waiting for a send slot)
            forget_job(job_id)  # finished, failed, lost, or its worker died
        except redis.RedisError:
            break  # Redis is still down: the next sweep tries again
        if enqueue_send(message_id):
            requeued += 1
    stale_sending = db.session.scalars(
        select(Message).where(
            Message.direction == DIRECTION_OUT,
            Message.status == STATUS_SENDING,
            Message.status_changed_at < sending_cutoff,
        )
    ).all()
    for message in stale_sending:
        # A send never takes this long: its worker died mid-send. The request may have
        # left; never re-send on our own.
        _unconfirmed(message, "The app stopped while sending; it may or may not have gone out")
        worker_lost += 1
    stale_unknown = db.session.scalars(
        select(Message).where(
            Message.direction == DIRECTION_OUT,
            Message.status == STATUS_UNKNOWN,
            Message.status_changed_at < unknown_cutoff,
        )
    ).all()
    for message in stale_unknown:
        _fail(
            message,
            UNCONFIRMED,
            "Vonage never confirmed this text, so it may not have arrived. "
            "Retry sends it again (the patient may get it twice).",
        )
        unconfirmed += 1
    return SweepResult(requeued, worker_lost, unconfirmed)


# ---- delivery receipts ----------------------------------------------------------------

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


@dataclass(frozen=True)
class WebhookResult:
    """What a webhook did: stored | held | duplicate | ignored | invalid."""

    outcome: str
    message_id: int | None = None
    detail: str = ""


@dataclass
class Batch:
    """What a batch of webhooks did: each handled row's outcome; after the commit, the
    accounts whose list pages changed (page cache) and the live events to publish. Rows
    without an outcome go the one-at-a-time way."""

    outcomes: dict[int, str] = field(default_factory=dict)
    events: list[tuple[int, dict]] = field(default_factory=list)
    accounts: set[int] = field(default_factory=set)
    webhooks: int = 0  # event webhook deliveries written (a job to queue after the commit)

    def add(self, other: Batch) -> None:
        self.outcomes.update(other.outcomes)
        self.events.extend(other.events)
        self.accounts |= other.accounts
        self.webhooks += other.webhooks


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
    account_id, event = _status_event(message)  # read before the commit expires it
    _emit_status(message)
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
                (row.account_id, {"type": "status", "conversation_id": row.conversation_id,
                                  "id": ref, "status": change["status"]})
            )  # fmt: skip
        done.webhooks += event_hooks.emit(hooks, conn)
    return done
