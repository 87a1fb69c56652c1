"""The messaging rules: queue a text, send it (from a job), take in a patient's
reply, apply a delivery receipt."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import redis
from flask import current_app
from rq import Retry
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError

from .. import carrier, events
from ..broker import get_queue
from ..extensions import db
from ..models import (
    DIRECTION_IN,
    DIRECTION_OUT,
    NUMBER_ACTIVE,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_QUEUED,
    STATUS_RECEIVED,
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
from . import phones, segments

log = logging.getLogger(__name__)

MAX_BODY_CHARS = 1000
PREVIEW_CHARS = 140
SEND_RETRY = Retry(max=5, interval=[2, 10, 30, 120, 300])


class SendRefused(Exception):
    """A send staff asked for that cannot happen; the message says why, in words."""


def carrier_settings() -> carrier.CarrierSettings:
    return carrier.CarrierSettings.from_config(current_app.config)


def active_number(account_id: int) -> InboxNumber | None:
    return db.session.scalars(
        select(InboxNumber).where(
            InboxNumber.account_id == account_id, InboxNumber.status == NUMBER_ACTIVE
        )
    ).first()


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def _touch_conversation(conv: Conversation, message: Message) -> None:
    """Keep the list's columns in step with the newest message of the thread."""
    if conv.last_message_at is None or message.sent_at >= conv.last_message_at:
        conv.last_message_at = message.sent_at
        prefix = "You: " if message.direction == DIRECTION_OUT else ""
        conv.last_message_preview = _preview(prefix + message.body)
        conv.last_direction = message.direction


# ---- outbound ------------------------------------------------------------------------


def validate_body(body: str) -> segments.SegmentInfo:
    text = (body or "").strip()
    if not text:
        raise SendRefused("Write a message before sending.")
    if len(text) > MAX_BODY_CHARS:
        raise SendRefused(f"That message is too long: keep it under {MAX_BODY_CHARS} characters.")
    info = segments.count(text)
    if info.too_long:
        raise SendRefused(
            f"That message would go out as {info.segments} texts; "
            f"the limit is {segments.MAX_SEGMENTS}. Please shorten it."
        )
    return info


def queue_outbound(*, user: User, conversation_id: int, body: str) -> Message:
    """Validate, store the message as queued with its conversation, commit, enqueue."""
    account: Account = user.account
    conv = get_scoped(Conversation, conversation_id, user.account_id)
    if conv is None:
        raise LookupError("conversation")
    if not account.inbox_enabled:
        raise SendRefused("The Inbox is turned off for this account.")
    if not user.can_use_inbox:
        raise SendRefused("You do not have the Inbox privilege.")
    number = active_number(account.id)
    if number is None or number.id != conv.inbox_number_id:
        raise SendRefused("This conversation belongs to a number that is no longer active.")
    patient = conv.patient
    if patient.opted_out:
        raise SendRefused(
            f"{patient.full_name or phones.display(patient.phone)} replied STOP and has "
            "opted out of texts. They can text START to opt back in."
        )
    if not phones.can_receive_sms(patient.phone):
        raise SendRefused(f"{phones.display(patient.phone)} cannot receive text messages.")
    info = validate_body(body)
    text = body.strip()
    message = Message(
        account_id=account.id,
        conversation_id=conv.id,
        direction=DIRECTION_OUT,
        body=text,
        from_number=number.e164,
        to_number=patient.phone,
        status=STATUS_QUEUED,
        segments=info.segments,
        encoding=info.encoding,
        sent_by_user_id=user.id,
        sent_at=utcnow(),
    )
    db.session.add(message)
    _touch_conversation(conv, message)
    db.session.commit()
    enqueue_send(message.id)
    events.publish(account.id, {"type": "message", "conversation_id": conv.id, "id": message.id})
    return message


def compose(
    *,
    user: User,
    clinic_id: int | str | None,
    body: str,
    patient_id: int | str | None = None,
    phone: str | None = None,
) -> Message:
    """New message: to a patient picked by name, or to a typed number; opens (or starts)
    that patient's conversation on the inbox number, filed under the chosen clinic."""
    account: Account = user.account
    number = active_number(account.id)
    if not account.inbox_enabled or number is None:
        raise SendRefused("The Inbox is turned off for this account.")
    allowed = user.visible_clinic_ids()
    clinic = get_scoped(Clinic, clinic_id, account.id)
    if clinic is None or (allowed is not None and clinic.id not in allowed):
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
        patient = patient_for(account.id, e164, home_clinic_id=clinic.id)
    else:
        raise SendRefused("Pick a patient, or type their mobile number.")
    conv = conversation_for(number, patient, clinic_id=clinic.id)
    return queue_outbound(user=user, conversation_id=conv.id, body=body)


def patient_for(account_id: int, e164: str, **new_fields) -> Patient:
    """The account's patient with this mobile number, created (with new_fields) if none."""
    patient = db.session.scalars(scoped(Patient, account_id).where(Patient.phone == e164)).first()
    if patient is None:
        patient = Patient(
            account_id=account_id, phone=e164, phone_digits=phones.national_digits(e164),
            **new_fields,
        )  # fmt: skip
        db.session.add(patient)
        db.session.flush()
    return patient


def conversation_for(
    number: InboxNumber, patient: Patient, *, clinic_id: int | None
) -> Conversation:
    """The patient's thread on this number, started (under clinic_id) if there is none."""
    conv = db.session.scalars(
        select(Conversation).where(
            Conversation.inbox_number_id == number.id, Conversation.patient_id == patient.id
        )
    ).first()
    if conv is None:
        conv = Conversation(
            account_id=number.account_id,
            inbox_number_id=number.id,
            patient_id=patient.id,
            clinic_id=clinic_id,
            opted_out=patient.opted_out,
        )
        db.session.add(conv)
        db.session.flush()
    return conv


def enqueue_send(message_id: int) -> bool:
    """Hand the message to a worker. If Redis is down the row stays queued for the sweep."""
    try:
        get_queue().enqueue(
            "workers.jobs.send_message",
            message_id,
            job_id=f"send-message-{message_id}",
            retry=SEND_RETRY,
            failure_ttl=7 * 24 * 3600,
        )
        return True
    except redis.RedisError:
        log.warning("could not enqueue message %s; it stays queued", message_id)
        return False


class RetryLater(Exception):
    """Raised inside the send job so RQ retries it with backoff."""


def deliver(message_id: int, *, final_attempt: bool = False) -> str:
    """Send one queued message through the carrier; return its new status.

    A message is claimed (queued -> sending) with one conditional UPDATE, so two
    workers never send the same row."""
    claimed = db.session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == STATUS_QUEUED)
        .values(status=STATUS_SENDING, status_changed_at=utcnow())
    ).rowcount
    db.session.commit()
    message = db.session.get(Message, message_id)
    if message is None:
        return "missing"
    if not claimed:
        return message.status
    conv = message.conversation
    patient = conv.patient
    if patient.opted_out:
        return _fail(message, "OPTOUT", "The patient opted out before this text went out.")
    try:
        result = carrier.send_sms(
            carrier_settings(),
            from_e164=message.from_number,
            to_e164=message.to_number,
            text=message.body,
            unicode=message.encoding == segments.UCS2,
            client_ref=str(message.id),
            callback_url=current_app.config["PUBLIC_BASE_URL"] + "/webhooks/vonage/status",
        )
    except carrier.CarrierError as exc:
        if exc.outcome_unknown:
            message.status = STATUS_UNKNOWN
            message.error_text = exc.reason
            message.status_changed_at = utcnow()
            db.session.commit()
            _publish_status(message)
            return message.status
        if exc.transient and not final_attempt:
            message.status = STATUS_QUEUED
            message.error_text = exc.reason
            db.session.commit()
            raise RetryLater(exc.reason) from exc
        return _fail(message, exc.code, exc.reason)
    message.carrier_message_id = result.message_ids[0] if result.message_ids else None
    message.segments = result.parts or message.segments
    message.error_code = message.error_text = None
    db.session.commit()
    # A delivery receipt may already have landed while we waited for the answer:
    # only a message still `sending` becomes `sent`.
    db.session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status == STATUS_SENDING)
        .values(status=STATUS_SENT, status_changed_at=utcnow())
    )
    db.session.commit()
    db.session.refresh(message)
    if message.conversation.has_failed:
        refresh_failed_flag(message.conversation)
        db.session.commit()
    _publish_status(message)
    return message.status


def _fail(message: Message, code: str | None, reason: str) -> str:
    message.status = STATUS_FAILED
    message.error_code = code
    message.error_text = reason
    message.status_changed_at = utcnow()
    message.conversation.has_failed = True
    db.session.commit()
    _publish_status(message)
    return message.status


def refresh_failed_flag(conv: Conversation) -> None:
    """The list's failure mark: some outbound text of this thread is still failed."""
    conv.has_failed = bool(
        db.session.scalar(
            select(
                exists().where(Message.conversation_id == conv.id, Message.status == STATUS_FAILED)
            )
        )
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
    refresh_failed_flag(conv)
    db.session.commit()
    enqueue_send(message.id)
    _publish_status(message)
    return message


def _publish_status(message: Message) -> None:
    events.publish(
        message.account_id,
        {
            "type": "status",
            "conversation_id": message.conversation_id,
            "id": message.id,
            "status": message.status,
        },
    )


# ---- inbound -------------------------------------------------------------------------


@dataclass(frozen=True)
class InboundResult:
    outcome: str  # stored | duplicate | ignored | invalid
    message_id: int | None = None
    detail: str = ""


def receive(params: dict[str, str]) -> InboundResult:
    """A patient's text from the inbound webhook. Idempotent on the carrier message id."""
    msisdn, to, carrier_id = params.get("msisdn"), params.get("to"), params.get("messageId")
    if not msisdn and not to and not carrier_id:
        # Vonage GETs the webhook URL with no parameters to check it answers.
        return InboundResult("ignored", detail="empty check request")
    if not msisdn or not to or not carrier_id:
        return InboundResult("invalid", detail="msisdn, to and messageId are required")
    try:
        patient_phone, our_number = carrier.from_wire(msisdn), carrier.from_wire(to)
    except ValueError:
        return InboundResult("invalid", detail="msisdn or to is not a phone number")
    text = params.get("text") or ""
    if len(carrier_id) > 64 or len(text) > 10_000:
        return InboundResult("invalid", detail="field too long")
    number = db.session.scalars(
        select(InboxNumber).where(
            InboxNumber.e164 == our_number, InboxNumber.status == NUMBER_ACTIVE
        )
    ).first()
    if number is None:
        return InboundResult("ignored", detail="not one of our active numbers")
    account = db.session.get(Account, number.account_id)
    if account is None or not account.inbox_enabled:
        return InboundResult("ignored", detail="inbox disabled")
    existing = db.session.scalar(
        select(Message.id).where(
            Message.carrier == "vonage", Message.carrier_message_id == carrier_id
        )
    )
    if existing:
        return InboundResult("duplicate", existing)

    patient = patient_for(account.id, patient_phone, unknown_sender=True)
    conv = conversation_for(number, patient, clinic_id=patient.home_clinic_id)
    sent_at: datetime = carrier.parse_timestamp(params.get("message-timestamp")) or utcnow()
    info = segments.count(text)
    message = Message(
        account_id=account.id,
        conversation_id=conv.id,
        direction=DIRECTION_IN,
        body=text,
        from_number=patient_phone,
        to_number=our_number,
        status=STATUS_RECEIVED,
        carrier_message_id=carrier_id,
        segments=max(info.segments, 1),
        encoding=info.encoding,
        sent_at=sent_at,
    )
    db.session.add(message)
    _touch_conversation(conv, message)
    conv.unread = True
    try:
        db.session.commit()
    except IntegrityError:
        # The same webhook, delivered twice at once: the other request stored it.
        db.session.rollback()
        existing = db.session.scalar(
            select(Message.id).where(
                Message.carrier == "vonage", Message.carrier_message_id == carrier_id
            )
        )
        if existing:
            return InboundResult("duplicate", existing)
        raise
    events.publish(
        account.id,
        {"type": "message", "conversation_id": conv.id, "id": message.id, "direction": "in"},
    )
    return InboundResult("stored", message.id)


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
_RECEIPT_STATUS = {
    "accepted": STATUS_SENT,
    "buffered": STATUS_SENT,
    "delivered": STATUS_DELIVERED,
    "failed": STATUS_FAILED,
    "rejected": STATUS_FAILED,
    "expired": STATUS_FAILED,
}


def apply_receipt(params: dict[str, str]) -> InboundResult:
    carrier_id = params.get("messageId") or ""
    status = _RECEIPT_STATUS.get((params.get("status") or "").lower())
    if not carrier_id or not params.get("status"):
        return InboundResult("invalid", detail="messageId and status are required")
    message = None
    client_ref = params.get("client-ref") or ""
    if client_ref.isdigit():
        message = db.session.get(Message, int(client_ref))
        # The reference is ours only if the receipt is about the number we texted.
        try:
            if message and carrier.from_wire(params.get("msisdn", "")) != message.to_number:
                message = None
        except ValueError:
            message = None
    if message is None:
        message = db.session.scalars(
            select(Message).where(
                Message.carrier == "vonage", Message.carrier_message_id == carrier_id
            )
        ).first()
    if message is None or message.direction != DIRECTION_OUT:
        return InboundResult("ignored", detail="unknown message")
    if status is None or _RANK[status] < _RANK.get(message.status, 0):
        return InboundResult("duplicate", message.id)
    if status == message.status:
        return InboundResult("duplicate", message.id)
    if message.status in (STATUS_DELIVERED, STATUS_FAILED):
        return InboundResult("duplicate", message.id)
    message.status = status
    message.status_changed_at = utcnow()
    if status == STATUS_FAILED:
        code = params.get("err-code") or ""
        message.error_code = code
        message.error_text = carrier.RECEIPT_ERRORS.get(code, "The carrier could not deliver it")
        message.conversation.has_failed = True
    if message.carrier_message_id is None:
        message.carrier_message_id = carrier_id
    db.session.commit()
    _publish_status(message)
    return InboundResult("stored", message.id)
