"""The send rules: what staff (or the app itself) may text, checked and refused in words,
then stored as queued (committed before its job exists) and handed to the outbox.

The words: send_reply (staff, in a conversation), send_new (staff, New message: to a patient
or a number, starting the conversation), send_automatic (the app's STOP / START / HELP
answers), retry; each ends in queue_text = add_queued (the row, in the caller's
transaction) + commit + start_sending (its send job, and the live event)."""

from __future__ import annotations

from collections.abc import Callable

from .. import events
from ..extensions import db
from ..models import (
    DIRECTION_OUT,
    KIND_OPTOUT_CONFIRM,
    KIND_TEXT,
    NUMBER_ACTIVE,
    STATUS_FAILED,
    STATUS_QUEUED,
    STATUS_UNKNOWN,
    Account,
    Clinic,
    Conversation,
    InboxNumber,
    Message,
    Patient,
    User,
    get_scoped,
    utcnow,
)
from . import access, phones, segments
from .conversation_upkeep import (
    find_conversation,
    find_or_add_patient,
    find_or_start_conversation,
    find_patient,
    touch_conversation,
)
from .message_status import publish_status, refresh_failed_flags
from .numbers import active_number
from .outbox import enqueue_send


class SendRefused(Exception):
    """A send staff asked for that cannot happen; the message says why, in words."""


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


def queue_text(
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
    message = add_queued(conv, body, from_number=from_number, kind=kind, sent_by=sent_by)
    if on_staged is not None:
        on_staged(message)
    db.session.commit()
    start_sending(message)
    return message


def add_queued(
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


def start_sending(message: Message) -> None:
    """After the commit: the job, and the live update."""
    enqueue_send(message.id)
    events.publish(
        message.account_id,
        events.message_added(message.conversation_id, message.id),
    )


def send_reply(
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
    if why := access.send_refusal(user):
        raise SendRefused(why)
    number = active_number(account.id)
    if number is None or number.id != conv.inbox_number_id:
        raise SendRefused("This conversation belongs to a number that is no longer active.")
    _refuse_unless_sendable(conv.patient)
    return queue_text(
        conv, body, from_number=number.e164, kind=kind,
        sent_by=user if isinstance(user, User) else None, on_staged=on_staged,
    )  # fmt: skip


def send_automatic(conv: Conversation, body: str, *, kind: str) -> Message | None:
    """A text the app answers with (STOP confirmation, HELP, START): from the conversation's
    number, sent by nobody. An opt-out confirmation is the one text an opted-out patient
    still gets."""
    number = db.session.get(InboxNumber, conv.inbox_number_id) if conv.inbox_number_id else None
    if number is None or number.status != NUMBER_ACTIVE:
        return None
    if conv.patient.opted_out and kind != KIND_OPTOUT_CONFIRM:
        return None
    return queue_text(conv, body, from_number=number.e164, kind=kind)


def send_new(
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
    if why := access.send_refusal(user):
        raise SendRefused(why)
    number = active_number(account.id)
    if number is None:
        raise SendRefused(access.inbox_off_words(account))
    scope = access.clinic_scope(user)
    clinic = get_scoped(Clinic, clinic_id, account.id)
    if clinic is None or clinic.archived or not scope.allows(clinic.id):
        raise SendRefused("Pick the clinic this conversation belongs to.")
    validate_body(body)
    if patient_id:
        patient = get_scoped(Patient, patient_id, account.id)
        if patient is None or not scope.allows(patient.home_clinic_id):
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
        if patient is not None and not scope.allows(patient.home_clinic_id):
            raise SendRefused(OTHER_CLINICS_PATIENT.format(number=phones.display(e164)))
        patient = patient or find_or_add_patient(account.id, e164, home_clinic_id=clinic.id)
    else:
        raise SendRefused("Pick a patient, or type their mobile number.")
    existing = find_conversation(number, patient)
    if existing is not None and not scope.allows(existing.clinic_id):
        # The patient is one of this user's, but their conversation is filed under a clinic
        # the user cannot open: neither read it nor take it away from that clinic's team.
        raise SendRefused(
            OTHER_CLINICS_CONVERSATION.format(
                name=patient.full_name or phones.display(patient.phone)
            )
        )
    conv = existing or find_or_start_conversation(number, patient, clinic_id=clinic.id)
    if conv.clinic_id != clinic.id:
        # The form asks which clinic the conversation belongs to: an existing one is filed
        # there from now on (its list label and clinic filter follow).
        conv.clinic_id = clinic.id
        db.session.flush()
    return send_reply(user=user, conversation_id=conv.id, body=body, on_staged=on_staged)


OTHER_CLINICS_PATIENT = (
    "{number} belongs to a patient of a clinic you do not have access to. Ask an admin to "
    "text them, or to give you access to that clinic."
)


OTHER_CLINICS_CONVERSATION = (
    "{name}'s conversation is filed under a clinic you do not have access to. Ask an admin "
    "to reply there, or to give you access to that clinic."
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
    publish_status(message)
    return message
