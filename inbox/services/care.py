"""Appointments and paperwork, kept by the practice's staff on a patient's profile: booked,
moved and cancelled in the clinic's own time zone; forms requested and marked completed.
They feed the 24-hour reminder (services.reminders) and the paperwork reminder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

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
from ..models.care import APPOINTMENT_STATUS_WORDS
from ..timefmt import local
from .access import visible_clinics
from .csv_rows import Row

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


# ---- the one writer of appointments in bulk (CSV import, API) -----------------------------

DEFAULT_SERVICE = "Appointment"
_UPDATABLE = (
    "patient_id", "clinic_id", "starts_at", "duration_minutes", "service", "provider",
    "status", "external_id",
)  # fmt: skip


def write_appointments(account_id: int, rows: Sequence[Row]) -> None:
    """Write checked and matched rows (`action` add / update, `target_id` for updates):
    one executemany insert, and one executemany update per set of columns. `values` holds
    patient_id, clinic_id and starts_at (UTC), and any of the other columns; "moved": an
    update that changes the start or the clinic, whose reminder state starts afresh (it is
    reminded for its new time, once); "reminder_status": the reminder state a new or moved
    appointment starts with (None: to be reminded). Does not commit."""
    table = Appointment.__table__
    now = utcnow()
    adds = [{
        "account_id": account_id, "patient_id": r.values["patient_id"],
        "clinic_id": r.values["clinic_id"], "starts_at": r.values["starts_at"],
        "duration_minutes": r.values.get("duration_minutes", 60),
        "service": r.values.get("service", DEFAULT_SERVICE),
        "provider": r.values.get("provider", ""),
        "status": r.values.get("status", APPOINTMENT_BOOKED),
        "external_id": r.values.get("external_id"),
        "reminder_status": r.values.get("reminder_status"),
        "created_at": now, "updated_at": now,
    } for r in rows if r.action == "add"]  # fmt: skip
    if adds:
        db.session.execute(insert(table), adds)
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row.action != "update":
            continue
        names = tuple(f for f in _UPDATABLE if f in row.values)
        moved = bool(row.values.get("moved"))
        params = {f"v_{f}": row.values[f] for f in names} | {"b_id": row.target_id}
        if moved:
            params["v_reminder_status"] = row.values.get("reminder_status")
        groups.setdefault((names, moved), []).append(params)
    for (names, moved), params in groups.items():
        values = {f: bindparam(f"v_{f}") for f in names}
        if moved:
            values |= {"reminder_status": bindparam("v_reminder_status"),
                       "reminder_message_id": None}  # fmt: skip
        db.session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.account_id == account_id)
            .values(updated_at=now, **values),
            params,
        )


# ---- the API: appointments and paperwork kept in step with the practice's own system ------

API_DURATION = (5, 1440)  # minutes: the practice's system may book any length


@dataclass
class Upserted:
    """What one record of a batch did: created / updated, or skipped with the reason (and
    `conflict` when it collides with another record rather than being malformed)."""

    index: int
    status: str = "skipped"
    id: int | None = None
    error: str = ""
    conflict: bool = False


def upsert_appointments(user: User, records: Sequence[Mapping[str, Any]]) -> list[Upserted]:
    """See _upsert_appointments. Two requests creating the same external_id at once: the
    second one's insert meets the unique index, and it runs again as an update."""
    try:
        return _upsert_appointments(user, records)
    except IntegrityError:
        db.session.rollback()
        return _upsert_appointments(user, records)


def _patients_named(
    account_id: int, records: Sequence[Mapping[str, Any]]
) -> tuple[set[int], dict[str, int]]:
    """The practice's patients the records name: the ids that are theirs, and their own
    system's ids (external_id -> id). One query for each kind named."""
    wanted_ids = {r.get("patient_id") for r in records if r.get("patient_id") is not None}
    wanted_ext = {str(r["patient_external_id"]) for r in records if r.get("patient_external_id")}
    patient_ids: set[int] = set()
    by_external: dict[str, int] = {}
    if wanted_ids:
        patient_ids = set(
            db.session.scalars(
                select(Patient.id).where(
                    Patient.account_id == account_id, Patient.id.in_(wanted_ids)
                )
            )
        )
    if wanted_ext:
        by_external = dict(
            db.session.execute(
                select(Patient.external_id, Patient.id).where(
                    Patient.account_id == account_id, Patient.external_id.in_(wanted_ext)
                )
            ).all()
        )
    return patient_ids, by_external


def _appointment_fields(record: Mapping[str, Any], clinics: Mapping[int, Clinic]) -> dict | str:
    """One API record's appointment columns (but whose, and its id), or why not in words."""
    clinic = clinics.get(record.get("clinic_id"))  # type: ignore[arg-type]
    if clinic is None:
        return "No such clinic in this practice."
    starts = record.get("starts_at")
    if not isinstance(starts, datetime) or starts.tzinfo is None:
        return "Give starts_at as a date and time with its offset or Z."
    service = " ".join(str(record.get("service") or "").split())
    if not service or len(service) > SERVICE_CHARS:
        return f"Say what the appointment is for, in 1 to {SERVICE_CHARS} characters."
    provider = " ".join(str(record.get("provider") or "").split())
    if len(provider) > PROVIDER_CHARS:
        return f"Keep the provider's name to {PROVIDER_CHARS} characters."
    duration = record.get("duration_minutes") or 60
    if not API_DURATION[0] <= duration <= API_DURATION[1]:
        return f"duration_minutes goes from {API_DURATION[0]} to {API_DURATION[1]}."
    status = record.get("status") or APPOINTMENT_BOOKED
    if status not in APPOINTMENT_STATUS_WORDS:
        return f"status is one of {', '.join(APPOINTMENT_STATUS_WORDS)}."
    return {
        "clinic_id": clinic.id, "starts_at": starts.astimezone(UTC), "duration_minutes": duration,
        "service": service, "provider": provider, "status": status,
    }  # fmt: skip


def _upsert_appointments(user: User, records: Sequence[Mapping[str, Any]]) -> list[Upserted]:
    """Create or update appointments by the practice's own id (external_id), in bulk: one
    query for the ones already there, one for their patients, an executemany insert and
    an executemany update. A moved appointment is reminded for its new time, once (its
    reminder state starts afresh), as when staff move it. Times are absolute (any offset),
    stored in UTC; past ones are kept as history (the reminder sweep only looks ahead). A
    single upsert is a batch of one; the writes are write_appointments', as the import's."""
    account_id = user.account_id
    clinics = {c.id: c for c in visible_clinics(user)}
    externals = [str(r.get("external_id") or "") for r in records]
    existing = {
        row.external_id: row
        for row in db.session.execute(
            select(
                Appointment.id, Appointment.external_id, Appointment.starts_at,
                Appointment.clinic_id, Appointment.patient_id,
            ).where(Appointment.account_id == account_id, Appointment.external_id.in_(externals))
        )
    }  # fmt: skip
    patient_ids, by_external = _patients_named(account_id, records)
    results: list[Upserted] = []
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for index, record in enumerate(records):
        result = Upserted(index)
        results.append(result)
        external = externals[index].strip()
        if not external or len(external) > 64:
            result.error = "Give the appointment's external_id (1 to 64 characters)."
            continue
        if external in seen:
            result.error = f"Same external_id as item {seen[external]} of this batch."
            result.conflict = True
            continue
        seen[external] = index
        if record.get("patient_id") is not None:
            patient_id = record["patient_id"] if record["patient_id"] in patient_ids else None
        elif record.get("patient_external_id"):
            patient_id = by_external.get(str(record["patient_external_id"]))
        else:
            result.error = "Say whose appointment it is: patient_id or patient_external_id."
            continue
        if patient_id is None:
            result.error = "No such patient in this practice."
            continue
        fields = _appointment_fields(record, clinics)
        if isinstance(fields, str):
            result.error = fields
            continue
        row = Row(index, [], values={"patient_id": patient_id, "external_id": external, **fields})
        before = existing.get(external)
        if before is None:
            row.action, result.status = "add", "created"
        else:
            row.action, row.target_id = "update", before.id
            when_where = (fields["starts_at"], fields["clinic_id"])
            row.values["moved"] = (before.starts_at, before.clinic_id) != when_where
            result.status, result.id = "updated", before.id
        rows.append(row)
    write_appointments(account_id, rows)
    db.session.commit()
    created = [r for r in results if r.status == "created"]
    if created:
        ids = dict(
            db.session.execute(
                select(Appointment.external_id, Appointment.id).where(
                    Appointment.account_id == account_id,
                    Appointment.external_id.in_([externals[r.index].strip() for r in created]),
                )
            ).all()
        )
        for r in created:
            r.id = ids.get(externals[r.index].strip())
    return results


def upsert_paperwork(patient: Patient, external_id: str, name: str) -> tuple[PaperworkItem, bool]:
    """A form requested by the practice's own system, by its id: created, or renamed.
    Returns the item and whether it was created. Raises CareRefused."""
    name = " ".join((name or "").split())
    if not name:
        raise CareRefused("Name the form, like “Medical history”.")
    if len(name) > FORM_CHARS:
        raise CareRefused(f"Keep the form's name to {FORM_CHARS} characters.")
    item = db.session.scalars(
        scoped(PaperworkItem, patient.account_id).where(PaperworkItem.external_id == external_id)
    ).first()
    created = item is None
    if item is None:
        item = PaperworkItem(
            account_id=patient.account_id, patient_id=patient.id, external_id=external_id
        )
        db.session.add(item)
    elif item.patient_id != patient.id:
        raise CareRefused("That external_id belongs to another patient's form.")
    item.name = name
    db.session.commit()
    return item, created
