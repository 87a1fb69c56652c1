"""Patients as staff see them: search, profile, upcoming care, and the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import tuple_, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import (
    APPOINTMENT_BOOKED,
    PAPERWORK_COMPLETED,
    PAPERWORK_OUTSTANDING,
    Appointment,
    Conversation,
    Message,
    PaperworkItem,
    Patient,
    User,
    get_scoped,
    scoped,
    utcnow,
)
from . import access, phones, search_text
from .conversations import search_condition
from .message_status import refresh_failed_flags

NAME_CHARS = 80


def get_visible(user: User, patient_id: int | str) -> Patient | None:
    patient = get_scoped(Patient, patient_id, user.account_id)
    if patient is None or not access.clinic_scope(user).allows(patient.home_clinic_id):
        return None
    return patient


def search(user: User, q: str, limit: int = 8) -> list[Patient]:
    """Patients for the New message picker: name prefix, full name or phone digits."""
    q = " ".join((q or "").split())[:80]
    if not q:
        return []
    stmt = scoped(Patient, user.account_id).where(
        search_condition(q), *access.clinic_scope(user).filter(Patient.home_clinic_id)
    )
    return list(
        db.session.scalars(stmt.order_by(Patient.last_name, Patient.first_name).limit(limit))
    )


def upcoming_appointments(patient: Patient, limit: int = 5) -> list[Appointment]:
    return list(
        db.session.scalars(
            scoped(Appointment, patient.account_id)
            .where(
                Appointment.patient_id == patient.id,
                Appointment.starts_at >= utcnow(),
                Appointment.status == APPOINTMENT_BOOKED,
            )
            .order_by(Appointment.starts_at)
            .limit(limit)
        )
    )


def next_appointment(patient: Patient) -> Appointment | None:
    upcoming = upcoming_appointments(patient, limit=1)
    return upcoming[0] if upcoming else None


def outstanding_paperwork(patient: Patient) -> list[PaperworkItem]:
    return list(
        db.session.scalars(
            scoped(PaperworkItem, patient.account_id)
            .where(
                PaperworkItem.patient_id == patient.id,
                PaperworkItem.status == PAPERWORK_OUTSTANDING,
            )
            .order_by(PaperworkItem.requested_at)
        )
    )


def visible_conversation(user: User, patient: Patient) -> Conversation | None:
    from .conversations import visible

    return db.session.scalars(visible(user).where(Conversation.patient_id == patient.id)).first()


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str  # appointment | paperwork | message_in | message_out
    icon: str
    title: str
    detail: str = ""
    clinic_tz: str | None = None


def timeline(
    patient: Patient, user: User, *, include_messages: bool, limit: int = 100
) -> list[TimelineEvent]:
    """Appointments, paperwork and texts merged in time order, newest first. Texts only of
    conversations filed under a clinic the user may open: a conversation the user cannot
    open does not show through the patient's profile."""
    events: list[TimelineEvent] = []
    for a in db.session.scalars(
        scoped(Appointment, patient.account_id).where(Appointment.patient_id == patient.id)
    ):
        events.append(
            TimelineEvent(
                a.starts_at, "appointment", "calendar-event",
                f"{a.service} · {a.status_words}",
                f"{a.clinic.name}" + (f" with {a.provider}" if a.provider else "")
                + (f" · {a.reminder_words}" if a.reminder_words else ""),
                a.clinic.timezone,
            )
        )  # fmt: skip
    for p in db.session.scalars(
        scoped(PaperworkItem, patient.account_id).where(PaperworkItem.patient_id == patient.id)
    ):
        events.append(
            TimelineEvent(p.requested_at, "paperwork", "file-earmark-text", f"{p.name} requested")
        )
        if p.status == PAPERWORK_COMPLETED and p.completed_at:
            events.append(
                TimelineEvent(
                    p.completed_at, "paperwork", "file-earmark-check", f"{p.name} completed"
                )
            )
    if include_messages:
        messages = db.session.scalars(
            scoped(Message, patient.account_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.patient_id == patient.id)
            .where(*access.clinic_scope(user).filter(Conversation.clinic_id))
            .order_by(Message.sent_at.desc())
            .limit(limit)
        )
        for m in messages:
            incoming = m.direction == "in"
            events.append(
                TimelineEvent(
                    m.sent_at,
                    "message_in" if incoming else "message_out",
                    "chat-left-text" if incoming else "send",
                    "Text from patient" if incoming else
                    (m.kind_words or "Text") + " sent"
                    + (f" by {m.sent_by.name}" if m.sent_by else ""),
                    m.body,
                )
            )  # fmt: skip
    events.sort(key=lambda e: e.at, reverse=True)
    return events[:limit]


# ---- the Patients page: the directory, Add patient, edit -------------------------------

DIRECTORY_PAGE = 50


@dataclass(frozen=True)
class PatientForm:
    """What the form sent, as typed (shown again when it is refused)."""

    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    email: str = ""
    date_of_birth: str = ""
    home_clinic_id: str = ""

    @classmethod
    def from_form(cls, form) -> PatientForm:
        return cls(**{f: (form.get(f) or "") for f in cls.__dataclass_fields__})

    @classmethod
    def of(cls, patient: Patient) -> PatientForm:
        return cls(
            first_name=patient.first_name or "",
            last_name=patient.last_name or "",
            phone=phones.display(patient.phone),
            email=patient.email or "",
            date_of_birth=patient.date_of_birth.isoformat() if patient.date_of_birth else "",
            home_clinic_id=str(patient.home_clinic_id or ""),
        )


class PatientRefused(ValueError):
    """A patient record that cannot be saved; the message says why. `existing` is the
    patient who already has that mobile number, when this user may open their profile."""

    def __init__(self, message: str, existing: Patient | None = None) -> None:
        super().__init__(message)
        self.existing = existing


def directory(user: User, q: str = "", after: str = "") -> tuple[list[Patient], str | None]:
    """The user's patients (their clinics'), by last name, a page at a time (keyset on the
    "last first" search key), or those a search finds. Returns the page and the cursor of
    the next one."""
    stmt = scoped(Patient, user.account_id).where(
        *access.clinic_scope(user).filter(Patient.home_clinic_id)
    )
    q = " ".join((q or "").split())[:80]
    if q:
        stmt = stmt.where(search_condition(q))
    key, _, last_id = (after or "").rpartition("|")
    if last_id.isdigit():
        stmt = stmt.where(tuple_(Patient.name_reversed, Patient.id) > tuple_(key, int(last_id)))
    rows = list(
        db.session.scalars(
            stmt.order_by(Patient.name_reversed, Patient.id).limit(DIRECTORY_PAGE + 1)
        )
    )
    more = len(rows) > DIRECTORY_PAGE
    rows = rows[:DIRECTORY_PAGE]
    cursor = f"{rows[-1].name_reversed}|{rows[-1].id}" if more and rows else None
    return rows, cursor


def _checked(user: User, patient: Patient | None, form: PatientForm) -> dict:
    first = " ".join(form.first_name.split())
    last = " ".join(form.last_name.split())
    if not first and not last:
        raise PatientRefused("Enter the patient's first and last name.")
    if len(first) > NAME_CHARS or len(last) > NAME_CHARS:
        raise PatientRefused(f"Keep each name to {NAME_CHARS} characters.")
    try:
        e164 = phones.normalize(form.phone)
    except phones.InvalidPhone as exc:
        raise PatientRefused(str(exc)) from exc
    if not phones.can_receive_sms(e164):
        raise PatientRefused(
            f"{phones.display(e164)} cannot receive text messages. Enter a mobile number."
        )
    email = form.email.strip()
    if email:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            raise PatientRefused(f"“{email}” is not an email address.") from None
    born = None
    if form.date_of_birth.strip():
        try:
            born = date.fromisoformat(form.date_of_birth.strip())
        except ValueError:
            raise PatientRefused("Enter the date of birth as a date.") from None
        if not date(1900, 1, 1) <= born <= utcnow().date():
            raise PatientRefused("That date of birth is not possible. Check the year.")
    clinics = {str(c.id): c for c in access.visible_clinics(user)}
    clinic = clinics.get(form.home_clinic_id.strip())
    if clinic is None:
        raise PatientRefused("Pick the patient's home clinic.")
    _refuse_a_taken_mobile(user, patient.id if patient else None, e164)
    return dict(
        first_name=first, last_name=last, phone=e164, phone_digits=phones.national_digits(e164),
        name_search=search_text.name_key(first, last), email=email or None,
        date_of_birth=born, home_clinic_id=clinic.id,
    )  # fmt: skip


def _refuse_a_taken_mobile(user: User, patient_id: int | None, e164: str) -> None:
    """PatientRefused, naming and linking the patient who has this mobile, if another has."""
    other = db.session.scalars(
        scoped(Patient, user.account_id).where(
            Patient.phone == e164, Patient.id != (patient_id or -1)
        )
    ).first()
    if other is not None:
        visible = get_visible(user, other.id)
        raise PatientRefused(
            f"{phones.display(e164)} is already the mobile of "
            + (f"{other.full_name or 'a patient'}" if visible else "a patient of a clinic you "
               "do not have access to")
            + ". One mobile number belongs to one patient.",
            existing=visible,
        )  # fmt: skip


def save_patient(user: User, patient: Patient | None, form: PatientForm) -> Patient:
    """Add a patient (patient None) or save one; an unknown sender saved with a name becomes
    a patient, and their conversations without a clinic are filed under the home clinic.
    Raises PatientRefused."""
    values = _checked(user, patient, form)
    saved_id = patient.id if patient is not None else None
    if patient is None:
        patient = Patient(account_id=user.account_id)
        db.session.add(patient)
    for name, value in values.items():
        setattr(patient, name, value)
    try:
        if patient.unknown_sender:
            patient.unknown_sender = False
            db.session.flush()
            db.session.execute(
                update(Conversation)
                .where(
                    Conversation.account_id == user.account_id,
                    Conversation.patient_id == patient.id,
                    Conversation.clinic_id.is_(None),
                )
                .values(clinic_id=patient.home_clinic_id)
            )
        db.session.commit()
    except IntegrityError as clash:
        # The same mobile saved by someone else since it was checked (two front desks
        # adding one caller): refused as when it was there first, with a link to them.
        db.session.rollback()
        _refuse_a_taken_mobile(user, saved_id, values["phone"])
        raise PatientRefused(
            "This patient was saved by someone else just now. Try again."
        ) from clash
    return patient


def link_unknown_sender(user: User, stranger: Patient, target: Patient) -> Patient:
    """ "Link to existing patient": the unknown number is the patient's mobile from now on.
    The unknown sender's conversations become the patient's (merged into the patient's
    conversation on the same number, if there is one), an opt-out said from that number
    stays in force, and the unknown record goes. Raises PatientRefused. Commits."""
    if not stranger.unknown_sender:
        raise PatientRefused("Only a number that texted in without a patient record is linked.")
    if target.id == stranger.id or target.unknown_sender:
        raise PatientRefused("Pick a patient with a record to link this number to.")
    convs = list(
        db.session.scalars(
            scoped(Conversation, user.account_id).where(Conversation.patient_id == stranger.id)
        )
    )
    mine = {
        c.inbox_number_id: c
        for c in db.session.scalars(
            scoped(Conversation, user.account_id).where(Conversation.patient_id == target.id)
        )
    }
    opted_out_at = stranger.opted_out_at  # STOP from that number: never texted again
    merged: set[int] = set()  # conversations that took in the stranger's texts
    for conv in convs:
        keep = mine.get(conv.inbox_number_id)
        if keep is None:
            conv.patient_id = target.id
            conv.clinic_id = conv.clinic_id or target.home_clinic_id
            continue
        db.session.execute(
            update(Message)
            .where(Message.conversation_id == conv.id)
            .values(conversation_id=keep.id)
        )
        if conv.last_message_at and (
            keep.last_message_at is None or conv.last_message_at > keep.last_message_at
        ):
            keep.last_message_at = conv.last_message_at
            keep.last_message_preview = conv.last_message_preview
            keep.last_direction = conv.last_direction
        keep.unread = keep.unread or conv.unread
        merged.add(keep.id)
        db.session.delete(conv)
    refresh_failed_flags(merged)
    for model in (Appointment, PaperworkItem):  # anything booked against the number
        db.session.execute(
            update(model).where(model.patient_id == stranger.id).values(patient_id=target.id)
        )
    db.session.flush()
    number = stranger.phone
    db.session.delete(stranger)
    db.session.flush()  # the number is free before the patient takes it
    target.phone, target.phone_digits = number, phones.national_digits(number)
    if opted_out_at is not None:
        target.opted_out_at = opted_out_at
    db.session.flush()
    db.session.execute(
        update(Conversation)
        .where(Conversation.account_id == user.account_id, Conversation.patient_id == target.id)
        .values(opted_out=target.opted_out_at is not None)
    )
    db.session.commit()
    return target


__all__ = [
    "visible_conversation", "get_visible", "next_appointment", "outstanding_paperwork", "search",
    "timeline", "upcoming_appointments", "TimelineEvent", "directory", "save_patient",
    "PatientForm", "PatientRefused", "link_unknown_sender",
]  # fmt: skip
