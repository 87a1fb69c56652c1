"""Appointments and paperwork, kept by the practice's staff on a patient's profile: booked,
moved and cancelled in the clinic's own time zone; forms requested and marked completed.
They feed the 24-hour reminder (services.reminders) and the paperwork reminder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from ..extensions import db
from ..models import (
    APPOINTMENT_BOOKED,
    APPOINTMENT_CANCELLED,
    PAPERWORK_COMPLETED,
    PAPERWORK_OUTSTANDING,
    Appointment,
    Clinic,
    PaperworkItem,
    Patient,
    User,
    get_scoped,
    scoped,
    utcnow,
)
from ..timefmt import local
from .conversations import visible_clinics

SERVICE_CHARS = 120
PROVIDER_CHARS = 120
FORM_CHARS = 160
DURATIONS = (15, 30, 45, 60, 75, 90, 120, 180)


class CareRefused(ValueError):
    """An appointment or form that cannot be saved; the message says why."""


@dataclass(frozen=True)
class AppointmentForm:
    """What the form sent, as typed (shown again when it is refused)."""

    clinic_id: str = ""
    day: str = ""
    at: str = ""
    service: str = ""
    provider: str = ""
    duration: str = "60"

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> AppointmentForm:
        return cls(
            clinic_id=form.get("clinic_id", ""),
            day=form.get("day", ""),
            at=form.get("time", ""),
            service=form.get("service", ""),
            provider=form.get("provider", ""),
            duration=form.get("duration", "60"),
        )

    @classmethod
    def of(cls, appt: Appointment) -> AppointmentForm:
        when = local(appt.starts_at, appt.clinic.timezone)
        return cls(
            clinic_id=str(appt.clinic_id),
            day=when.date().isoformat(),
            at=when.strftime("%H:%M"),
            service=appt.service,
            provider=appt.provider or "",
            duration=str(appt.duration_minutes),
        )


def get_appointment(patient: Patient, appointment_id: int | str) -> Appointment | None:
    appt = get_scoped(Appointment, appointment_id, patient.account_id)
    return appt if appt is not None and appt.patient_id == patient.id else None


def get_paperwork(patient: Patient, paperwork_id: int | str) -> PaperworkItem | None:
    item = get_scoped(PaperworkItem, paperwork_id, patient.account_id)
    return item if item is not None and item.patient_id == patient.id else None


def may_see_appointment(user: User, appt: Appointment) -> bool:
    """An appointment at a clinic the user has no access to is not theirs to see or change."""
    return any(c.id == appt.clinic_id for c in visible_clinics(user))


def _starts_at(form: AppointmentForm, clinic: Clinic) -> datetime:
    try:
        day = date.fromisoformat(form.day.strip())
    except ValueError:
        raise CareRefused("Pick the appointment's date.") from None
    try:
        at = time.fromisoformat(form.at.strip())
    except ValueError:
        raise CareRefused("Pick the appointment's time, like 3:00 PM.") from None
    zone = ZoneInfo(clinic.timezone)
    starts = datetime.combine(day, at, tzinfo=zone)
    if starts.astimezone(zone).replace(tzinfo=None) != datetime.combine(day, at):
        # A time the clocks skip (spring forward): it does not exist in that zone.
        raise CareRefused(
            f"{at:%-I:%M %p} does not exist on that day in {clinic.name}'s time zone."
        )
    return starts.astimezone(ZoneInfo("UTC"))


def _checked(user: User, form: AppointmentForm) -> tuple[Clinic, datetime, str, str, int]:
    clinics = {str(c.id): c for c in visible_clinics(user)}
    clinic = clinics.get(form.clinic_id.strip())
    if clinic is None:
        raise CareRefused("Pick the clinic the appointment is at.")
    starts = _starts_at(form, clinic)
    if starts <= utcnow():
        raise CareRefused("That time has already passed. Pick a time still to come.")
    service = " ".join(form.service.split())
    if not service:
        raise CareRefused("Say what the appointment is for, like “Botox consultation”.")
    if len(service) > SERVICE_CHARS:
        raise CareRefused(f"Keep the service to {SERVICE_CHARS} characters.")
    provider = " ".join(form.provider.split())
    if len(provider) > PROVIDER_CHARS:
        raise CareRefused(f"Keep the provider's name to {PROVIDER_CHARS} characters.")
    try:
        duration = int(form.duration or 60)
    except ValueError:
        duration = 0
    if duration not in DURATIONS:
        raise CareRefused("Pick how long the appointment is.")
    return clinic, starts, service, provider, duration


def add_appointment(user: User, patient: Patient, form: AppointmentForm) -> Appointment:
    """Book an appointment (its reminder goes out 24 hours ahead). Raises CareRefused."""
    clinic, starts, service, provider, duration = _checked(user, form)
    appt = Appointment(
        account_id=patient.account_id, patient_id=patient.id, clinic_id=clinic.id,
        starts_at=starts, service=service, provider=provider, duration_minutes=duration,
        status=APPOINTMENT_BOOKED,
    )  # fmt: skip
    db.session.add(appt)
    db.session.commit()
    return appt


def update_appointment(user: User, appt: Appointment, form: AppointmentForm) -> bool:
    """Save changes. A moved appointment is reminded for its new time, once: its reminder
    state starts afresh. Returns whether it moved. Raises CareRefused."""
    if appt.status != APPOINTMENT_BOOKED:
        raise CareRefused("A cancelled appointment cannot be changed. Book a new one instead.")
    clinic, starts, service, provider, duration = _checked(user, form)
    moved = starts != appt.starts_at or clinic.id != appt.clinic_id
    appt.clinic_id, appt.starts_at = clinic.id, starts
    appt.service, appt.provider, appt.duration_minutes = service, provider, duration
    if moved:
        appt.reminder_status = None
        appt.reminder_message_id = None
    db.session.commit()
    return moved


def cancel_appointment(appt: Appointment) -> None:
    """Cancelled: never reminded (the reminder job only takes booked appointments)."""
    if appt.status != APPOINTMENT_BOOKED:
        raise CareRefused("That appointment is not booked any more.")
    appt.status = APPOINTMENT_CANCELLED
    db.session.commit()


def add_paperwork(patient: Patient, name: str) -> PaperworkItem:
    name = " ".join((name or "").split())
    if not name:
        raise CareRefused("Name the form, like “Medical history”.")
    if len(name) > FORM_CHARS:
        raise CareRefused(f"Keep the form's name to {FORM_CHARS} characters.")
    already = db.session.scalar(
        scoped(PaperworkItem, patient.account_id)
        .where(
            PaperworkItem.patient_id == patient.id,
            PaperworkItem.status == PAPERWORK_OUTSTANDING,
            db.func.lower(PaperworkItem.name) == name.lower(),
        )
        .with_only_columns(PaperworkItem.id)
    )
    if already is not None:
        raise CareRefused(f"“{name}” is already outstanding for this patient.")
    item = PaperworkItem(account_id=patient.account_id, patient_id=patient.id, name=name)
    db.session.add(item)
    db.session.commit()
    return item


def complete_paperwork(item: PaperworkItem) -> bool:
    """Mark a form completed (the paperwork reminder stops asking for it). False when it
    already was."""
    if item.status == PAPERWORK_COMPLETED:
        return False
    item.status = PAPERWORK_COMPLETED
    item.completed_at = utcnow()
    db.session.commit()
    return True


def describe(appt: Appointment) -> str:
    """An appointment in words for flash messages and the audit log."""
    when = local(appt.starts_at, appt.clinic.timezone)
    return f"{appt.service}, {when:%a, %b} {when.day} at {when:%-I:%M %p}, {appt.clinic.name}"
