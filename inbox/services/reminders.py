"""Reminders from the practice's number: the appointment reminder a periodic job
sends a day ahead, and the paperwork reminder staff send with one click.

A reminder is a message in the patient's conversation, so a reply lands in context.
While the Inbox is off it goes from the account's default sender into a conversation that
only the patient's timeline shows."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select, update

from ..extensions import db
from ..models import (
    APPOINTMENT_BOOKED,
    KIND_PAPERWORK,
    KIND_REMINDER,
    Account,
    Appointment,
    Message,
    Patient,
    User,
    get_scoped,
    utcnow,
)
from ..models.care import (
    REMINDER_QUEUED,
    REMINDER_SKIPPED_NO_SMS,
    REMINDER_SKIPPED_OPTED_OUT,
    REMINDER_SKIPPED_TEXT,
)
from ..timefmt import clock, day_label, local
from . import access, conversation_upkeep, numbers, phones, sending, templates
from . import patients as patient_service
from .sending import SendRefused

log = logging.getLogger(__name__)

DEFAULT_REMINDER = (
    "Hi {first_name}, this is {practice_name} reminding you of your {service} appointment "
    "on {appointment_date} at {appointment_time} ({clinic_name}). Reply to this text if you "
    "need to change it. Reply STOP to opt out."
)
REMINDER_FIELDS = (
    "first_name",
    "practice_name",
    "clinic_name",
    "service",
    "appointment_date",
    "appointment_time",
    "portal_link",
)


def reminder_template(account: Account) -> str:
    return account.reminder_template or DEFAULT_REMINDER


def _tidy(text: str) -> str:
    """Spaces collapsed within each line; line breaks kept, at most one blank line."""
    lines = [" ".join(line.split()) for line in (text or "").strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def save_template(account: Account, text: str) -> None:
    """Settings › Inbox: the account's reminder text. Empty restores the default."""
    text = _tidy(text)
    if len(text) > 480:
        raise SendRefused("Keep the reminder under 480 characters (three texts).")
    if text and (error := templates.field_error(text, REMINDER_FIELDS)):
        raise SendRefused(error)
    account.reminder_template = None if not text or text == DEFAULT_REMINDER else text
    db.session.commit()


def send_at(appt: Appointment) -> datetime:
    """When the reminder goes: the lead time before the start, moved forward to the
    start of the allowed hours when that falls in the clinic's night."""
    cfg = current_app.config
    start_hour, end_hour = cfg["REMINDER_HOURS"]
    tz = ZoneInfo(appt.clinic.timezone)
    due = (appt.starts_at - timedelta(hours=cfg["REMINDER_LEAD_HOURS"])).astimezone(tz)
    if due.hour < start_hour:
        due = due.replace(hour=start_hour, minute=0, second=0, microsecond=0)
    elif due.hour >= end_hour:
        due = (due + timedelta(days=1)).replace(hour=start_hour, minute=0, second=0, microsecond=0)
    return due.astimezone(ZoneInfo("UTC"))


def _in_hours(now: datetime, tz_name: str) -> bool:
    start_hour, end_hour = current_app.config["REMINDER_HOURS"]
    return start_hour <= now.astimezone(ZoneInfo(tz_name)).hour < end_hour


def reminder_text(appt: Appointment, conv) -> str:
    when = local(appt.starts_at, appt.clinic.timezone)
    extra = {
        "service": appt.service,
        "appointment_date": f"{when:%A, %B} {when.day}",
        "appointment_time": f"{when:%-I:%M %p}",
        "clinic_name": appt.clinic.name,
    }
    return templates.fill(reminder_template(conv.account), conv, extra)


@dataclass(frozen=True)
class ReminderRun:
    sent: int = 0
    skipped: int = 0


def send_due(now: datetime | None = None) -> ReminderRun:
    """The periodic job: every booked appointment whose reminder time has come gets
    one reminder, inside the clinic's allowed hours, never to an opted-out patient."""
    now = now or utcnow()
    lead = timedelta(hours=current_app.config["REMINDER_LEAD_HOURS"])
    candidates = db.session.scalars(
        select(Appointment)
        .where(
            Appointment.reminder_status.is_(None),
            Appointment.status == APPOINTMENT_BOOKED,
            Appointment.starts_at > now,
            Appointment.starts_at <= now + lead + timedelta(hours=12),
        )
        .order_by(Appointment.starts_at)
        .limit(2000)
    ).all()
    sent = skipped = 0
    for appt in candidates:
        if send_at(appt) > now or not _in_hours(now, appt.clinic.timezone):
            continue
        outcome = _remind(appt.id)
        sent += outcome == REMINDER_QUEUED
        skipped += outcome not in (None, REMINDER_QUEUED)
    return ReminderRun(sent, skipped)


def _claim(appt_id: int, status: str, message_id: int | None = None) -> bool:
    """One conditional UPDATE: whoever sets the reminder first is the only one."""
    return bool(
        db.session.execute(
            update(Appointment)
            .where(Appointment.id == appt_id, Appointment.reminder_status.is_(None))
            .values(reminder_status=status, reminder_message_id=message_id)
        ).rowcount
    )


def _remind(appt_id: int) -> str | None:
    appt = db.session.get(Appointment, appt_id)
    patient: Patient = db.session.get(Patient, appt.patient_id)
    account: Account = db.session.get(Account, appt.account_id)
    skip = None
    if patient.opted_out:
        skip = REMINDER_SKIPPED_OPTED_OUT
    elif not phones.can_receive_sms(patient.phone):
        skip = REMINDER_SKIPPED_NO_SMS
    if skip:
        claimed = _claim(appt.id, skip)
        db.session.commit()
        return skip if claimed else None
    number = numbers.active_number(account.id) if account.inbox_enabled else None
    sender = (
        number.e164 if number else (account.sms_sender or current_app.config["SMS_DEFAULT_SENDER"])
    )
    conv = conversation_upkeep.find_or_start_conversation(number, patient, clinic_id=appt.clinic_id)
    try:
        message = sending.add_queued(
            conv, reminder_text(appt, conv), from_number=sender, kind=KIND_REMINDER
        )
    except SendRefused:
        db.session.rollback()
        log.warning("appointment %s: the reminder text cannot be sent", appt_id)
        claimed = _claim(appt_id, REMINDER_SKIPPED_TEXT)
        db.session.commit()
        return REMINDER_SKIPPED_TEXT if claimed else None
    if not _claim(appt.id, REMINDER_QUEUED, message.id):
        db.session.rollback()  # another run reminded it a moment ago
        return None
    db.session.commit()
    sending.start_sending(message)
    return REMINDER_QUEUED


# ---- paperwork --------------------------------------------------------------------------


def paperwork_text(conv, forms: list[str]) -> str:
    listed = forms[0] if len(forms) == 1 else ", ".join(forms[:-1]) + " and " + forms[-1]
    noun = "form" if len(forms) == 1 else f"{len(forms)} forms"
    return templates.fill(
        "Hi {first_name}, {practice_name} still needs your " + noun + ": " + listed + ". "
        "You can fill " + ("it" if len(forms) == 1 else "them") + " in here: {portal_link}",
        conv,
    )


REMIND_AGAIN_AFTER = timedelta(hours=24)


def reminded_recently(items: list, now: datetime | None = None) -> datetime | None:
    """When these forms were last texted about, if that was within REMIND_AGAIN_AFTER:
    another reminder then needs a deliberate "Send again"."""
    last = max((i.reminded_at for i in items if i.reminded_at is not None), default=None)
    return recent(last, now)


def recent(last: datetime | None, now: datetime | None = None) -> datetime | None:
    """`last` (the forms' last reminder) if it was within REMIND_AGAIN_AFTER, else None."""
    if last is None or (now or utcnow()) - last >= REMIND_AGAIN_AFTER:
        return None
    return last


def send_paperwork_reminder(*, user: User, patient_id: int | str, again: bool = False) -> Message:
    """One click on the profile or in the conversation: the portal link for every outstanding
    form, into the patient's conversation. Within a day of the last one, only with
    `again` (the button says "Send again" and asks first): two tabs, or the conversation and
    the profile, must not text the same reminder twice by accident."""
    patient = get_scoped(Patient, patient_id, user.account_id)
    if patient is None or not access.clinic_scope(user).allows(patient.home_clinic_id):
        raise LookupError("patient")
    account = user.account
    number = numbers.active_number(account.id)
    if not account.inbox_enabled or number is None:
        raise SendRefused(access.inbox_off_words(account))
    outstanding = patient_service.outstanding_paperwork(patient)
    if not outstanding:
        raise SendRefused(f"{patient.full_name or 'This patient'} has no outstanding paperwork.")
    if not account.portal_url:
        raise SendRefused("Add the patient portal link in Settings › Profile first.")
    last = reminded_recently(outstanding)
    if last is not None and not again:
        tz = patient.home_clinic.timezone if patient.home_clinic else None
        raise SendRefused(
            f"{patient.first_name or 'This patient'} was sent a paperwork reminder "
            f"{day_label(last, tz).lower()} at {clock(last, tz)}. "
            "Use Send again if they need another."
        )
    conv = conversation_upkeep.find_or_start_conversation(
        number, patient, clinic_id=patient.home_clinic_id
    )
    db.session.commit()
    message = sending.send_reply(
        user=user,
        conversation_id=conv.id,
        body=paperwork_text(conv, [p.name for p in outstanding]),
        kind=KIND_PAPERWORK,
    )
    for item in outstanding:
        item.reminded_at = message.sent_at
    db.session.commit()
    return message
