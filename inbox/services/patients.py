"""Patients as staff see them: search, profile, upcoming care, and the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
from .conversations import clinic_scope, search_condition


def get_visible(user: User, patient_id: int | str) -> Patient | None:
    patient = get_scoped(Patient, patient_id, user.account_id)
    allowed = user.visible_clinic_ids()
    if patient is None:
        return None
    if allowed is not None and patient.home_clinic_id not in allowed:
        return None
    return patient


def search(user: User, q: str, limit: int = 8) -> list[Patient]:
    """Patients for the New message picker: name prefix, full name or phone digits."""
    q = " ".join((q or "").split())[:80]
    if not q:
        return []
    stmt = scoped(Patient, user.account_id).where(
        search_condition(q), *clinic_scope(user, Patient.home_clinic_id)
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


def conversation_for(user: User, patient: Patient) -> Conversation | None:
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
            .where(*clinic_scope(user, Conversation.clinic_id))
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


__all__ = [
    "conversation_for", "get_visible", "next_appointment", "outstanding_paperwork", "search",
    "timeline", "upcoming_appointments", "TimelineEvent",
]  # fmt: skip
