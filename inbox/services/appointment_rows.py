"""The rows of an appointments CSV, as booking systems export their schedule: the patient
(by the practice's Patient ID or mobile number), the clinic, the start in the clinic's own
time zone, the service, the provider, and the booking's own id. Re-importing updates and
never books twice: rows are matched on the Appointment ID when that column is mapped, else
on the same patient, clinic and start. A moved appointment is reminded for its new time,
once (as when moved on the profile); a cancelled one never."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select, tuple_

from ..extensions import db
from ..models import (
    APPOINTMENT_BOOKED,
    APPOINTMENT_CANCELLED,
    APPOINTMENT_COMPLETED,
    Appointment,
    Patient,
    User,
    utcnow,
)
from ..models.audit import AUDIT_IMPORTED_APPOINTMENTS
from ..models.care import APPOINTMENT_NO_SHOW, REMINDER_SKIPPED_IMPORTED
from . import phones
from .access import visible_clinics
from .care import PROVIDER_CHARS, SERVICE_CHARS, write_appointments
from .csv_rows import ImportRefused, Row, cell, guess_columns, parse_date
from .patient_rows import CLINIC_HEADERS, EXTERNAL_ID_CHARS, PATIENT_ID_HEADERS, PHONE_HEADERS

NOUN = "appointments"
AUDIT_ACTION = AUDIT_IMPORTED_APPOINTMENTS
MIN_MINUTES, MAX_MINUTES = 5, 720

FIELDS: dict[str, str] = {
    "external_id": "Appointment ID (from your system)",
    "patient_external_id": "Patient ID (from your system)",
    "phone": "Patient's mobile number",
    "start": "Start (date and time in one column)",
    "date": "Date",
    "time": "Time",
    "duration": "Length (minutes)",
    "service": "Service",
    "provider": "Provider",
    "clinic": "Clinic (by name)",
    "status": "Status (Cancelled, No-show, Completed)",
}

_GUESSES: dict[str, tuple[str, ...]] = {
    "external_id": (
        "appointmentid", "apptid", "appt", "apptno", "appointmentnumber", "appointmentno",
        "bookingid", "bookingnumber", "bookingref", "confirmationnumber", "visitid", "eventid",
        "id",
    ),
    "patient_external_id": PATIENT_ID_HEADERS,
    "phone": PHONE_HEADERS,
    "start": (
        "start", "startsat", "startdatetime", "appointmentstart", "datetime", "scheduled",
        "appointmentdatetime", "when",
    ),
    "date": ("date", "appointmentdate", "apptdate", "startdate", "day"),
    "time": ("time", "appointmenttime", "appttime", "starttime"),
    "duration": ("duration", "length", "minutes", "durationminutes", "lengthminutes", "mins"),
    "service": (
        "service", "servicename", "appointmenttype", "treatment", "procedure", "visittype",
        "type", "reason",
    ),
    "provider": ("provider", "providername", "practitioner", "staff", "injector", "doctor",
                 "resource", "with"),
    "clinic": CLINIC_HEADERS,
    "status": ("status", "appointmentstatus", "bookingstatus"),
}  # fmt: skip

TEMPLATE_HEADERS = [
    "Appointment ID", "Patient ID", "Mobile", "Date", "Time", "Length", "Service",
    "Provider", "Clinic", "Status",
]  # fmt: skip
TEMPLATE_ROWS = [
    ["A-5001", "10001", "(917) 555-0199", "2027-01-14", "2:30 PM", "45", "Botox consultation",
     "Dr. Rivera", "", "Booked"],
    ["A-5002", "10002", "917-555-0142", "01/15/2027", "10:00", "60", "HydraFacial", "", "",
     ""],
]  # fmt: skip

# Preview: what the two middle columns show, and what an update is in words.
COLUMNS = ("Patient", "Starts")
UPDATE_WORDS = "Already booked: will be updated"

_STATUSES = {
    **dict.fromkeys(("cancelled", "canceled", "cancel", "latecancel", "latecancelled",
                     "latecanceled", "deleted"), APPOINTMENT_CANCELLED),
    **dict.fromkeys(("noshow", "missed", "dna", "didnotattend", "didnotarrive"),
                    APPOINTMENT_NO_SHOW),
    **dict.fromkeys(("completed", "complete", "checkedout", "attended", "done", "seen"),
                    APPOINTMENT_COMPLETED),
}  # fmt: skip

_TIME = re.compile(
    r"(\d{1,2})(?:[:.](\d{2}))?(?::(\d{2}))?\s*(?:([ap])\.?\s*m?\.?)?", re.IGNORECASE
)
_MINUTES = re.compile(r"(\d{1,4})\s*(?:m|min|mins|minutes?)?", re.IGNORECASE)
_HOURS = re.compile(r"(\d{1,2}(?:\.\d+)?)\s*(?:h|hr|hrs|hours?)", re.IGNORECASE)
_H_MM = re.compile(r"(\d{1,2}):(\d{2})")


def guess_mapping(headers: Sequence[str]) -> dict[str, int]:
    """A Date and a Time column are used together; a single Start column only without
    them."""
    mapping = guess_columns(headers, _GUESSES)
    if "date" in mapping and "time" in mapping:
        mapping.pop("start", None)
    return mapping


def parse_time(text: str) -> time:
    """14:30, 14:30:00, 2:30 PM, 2:30pm, 2 PM, 9.15 am. Raises ValueError."""
    found = _TIME.fullmatch(text.strip())
    if not found:
        raise ValueError(text)
    hour, minute, second = int(found[1]), int(found[2] or 0), int(found[3] or 0)
    meridiem = (found[4] or "").lower()
    if meridiem:
        if not 1 <= hour <= 12:
            raise ValueError(text)
        hour = hour % 12 + (12 if meridiem == "p" else 0)
    elif found[2] is None:
        raise ValueError(text)  # a bare "14" is not a time
    return time(hour, minute, second)


def parse_start(when: str, zone: ZoneInfo) -> datetime:
    """A start as one column ("2027-01-14 14:30", "01/14/2027 2:30 PM", ISO 8601 with an
    offset) read in the clinic's zone unless it carries an offset; in UTC. Raises
    ValueError, with words for a time the clocks skip."""
    when = " ".join(when.split())
    try:
        parsed = datetime.fromisoformat(when)
    except ValueError:
        day_text, _, at_text = when.partition(" ")
        day = parse_date(day_text)
        if day is None or not at_text:
            raise ValueError(when) from None
        parsed = datetime.combine(day, parse_time(at_text))
    if parsed.tzinfo is not None:
        return parsed.astimezone(ZoneInfo("UTC"))
    return _local(parsed, zone)


def _local(naive: datetime, zone: ZoneInfo) -> datetime:
    aware = naive.replace(tzinfo=zone)
    if aware.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None) != naive:
        raise ValueError(f"{naive:%-I:%M %p} does not exist on {naive:%b %-d, %Y}")
    return aware.astimezone(ZoneInfo("UTC"))


def parse_minutes(text: str) -> int:
    """45, 45 min, 1:15, 1.5 h. Raises ValueError."""
    text = text.strip()
    for pattern, minutes in (
        (_MINUTES, lambda m: int(m[1])),
        (_HOURS, lambda m: round(float(m[1]) * 60)),
        (_H_MM, lambda m: int(m[1]) * 60 + int(m[2])),
    ):
        found = pattern.fullmatch(text)
        if found:
            return minutes(found)
    raise ValueError(text)


def status_of(text: str) -> str:
    """A booking system's status in our words: cancelled, no-show and completed are
    recognised; anything else (Booked, Confirmed, Scheduled, Arrived...) is booked."""
    return _STATUSES.get(re.sub(r"[^a-z]", "", text.lower()), APPOINTMENT_BOOKED)


def row_words(row: Row, mapping: dict[str, int]) -> tuple[str, str]:
    """The patient and start of a row as the file has them (for the preview)."""
    patient = cell(row.cells, mapping, "patient_external_id")
    patient = f"Patient ID {patient}" if patient else cell(row.cells, mapping, "phone")
    start = cell(row.cells, mapping, "start") or " ".join(
        filter(None, (cell(row.cells, mapping, "date"), cell(row.cells, mapping, "time")))
    )
    return patient, start


class Reader:
    """One file's rows, batch by batch: checked, deduplicated across the whole file, and
    matched to the practice's patients and appointments; `write` saves a batch.
    `remind_soon`: whether appointments starting within the reminder's lead time get
    their reminder at once (else they are marked as not reminded)."""

    def __init__(self, user: User, mapping: dict[str, int], default_clinic_id: int | None,
                 remind_soon: bool = False) -> None:  # fmt: skip
        if not {"patient_external_id", "phone"} & mapping.keys():
            raise ImportRefused(
                "Choose the column that holds the Patient ID or the patient's mobile number."
            )
        if "start" not in mapping and "date" not in mapping:
            raise ImportRefused(
                "Choose the column that holds the date (and time) of each appointment."
            )
        if "start" not in mapping and "time" not in mapping:
            raise ImportRefused("Choose the column that holds the time of each appointment.")
        clinics = visible_clinics(user)
        self.clinic_ids = {c.id for c in clinics}
        if default_clinic_id not in self.clinic_ids:
            raise ImportRefused("Pick the clinic for appointments that do not name one.")
        self.account_id = user.account_id
        self.mapping = mapping
        self.default_clinic_id = default_clinic_id
        self.by_name = {" ".join(c.name.lower().split()): c for c in clinics}
        self.zones = {c.id: ZoneInfo(c.timezone) for c in clinics}
        self.remind_soon = remind_soon
        self.now = utcnow()
        self.soon_until = self.now + timedelta(hours=current_app.config["REMINDER_LEAD_HOURS"])
        self.seen_external: dict[str, int] = {}
        self.seen_slot: dict[tuple, int] = {}

    # ---- one row ----------------------------------------------------------------------
    def check(self, line: int, cells: list[str]) -> Row:
        row, mapping = Row(line, cells), self.mapping
        values: dict = {}
        clinic_name = cell(cells, mapping, "clinic")
        if clinic_name:
            clinic = self.by_name.get(" ".join(clinic_name.lower().split()))
            if clinic is None:
                row.problem = f"Unknown clinic “{clinic_name[:60]}”"
                return row
            values["clinic_id"] = clinic.id
        else:
            values["clinic_id"] = self.default_clinic_id
        zone = self.zones[values["clinic_id"]]
        try:
            if "start" in mapping and cell(cells, mapping, "start"):
                values["starts_at"] = parse_start(cell(cells, mapping, "start"), zone)
            else:
                day = parse_date(cell(cells, mapping, "date"))
                at = cell(cells, mapping, "time")
                if day is None or not at:
                    row.problem = "Missing date or time"
                    return row
                values["starts_at"] = _local(datetime.combine(day, parse_time(at)), zone)
        except ValueError as exc:
            shown = " ".join(row_words(row, mapping)[1].split())[:40]
            reason = str(exc) if " does not exist " in str(exc) else f"Bad date or time “{shown}”"
            row.problem = reason
            return row
        patient_external = cell(cells, mapping, "patient_external_id")
        raw_phone = cell(cells, mapping, "phone")
        if not patient_external and not raw_phone:
            row.problem = "Missing Patient ID and mobile number"
            return row
        if len(patient_external) > EXTERNAL_ID_CHARS:
            row.problem = f"Patient ID longer than {EXTERNAL_ID_CHARS} characters"
            return row
        if patient_external:
            values["patient_external_id"] = patient_external
        if raw_phone:
            try:
                values["phone"] = phones.mobile(raw_phone)[0]
            except phones.InvalidPhone:
                if not patient_external:
                    row.problem = f"Bad mobile number “{raw_phone[:30]}”"
                    return row
        external = cell(cells, mapping, "external_id")
        if len(external) > EXTERNAL_ID_CHARS:
            row.problem = f"Appointment ID longer than {EXTERNAL_ID_CHARS} characters"
            return row
        if external:
            values["external_id"] = external
        length = cell(cells, mapping, "duration")
        if length:
            try:
                minutes = parse_minutes(length)
            except ValueError:
                row.problem = f"Bad length “{length[:20]}”"
                return row
            if not MIN_MINUTES <= minutes <= MAX_MINUTES:
                row.problem = f"A length of {minutes} minutes is not possible"
                return row
            values["duration_minutes"] = minutes
        service = " ".join(cell(cells, mapping, "service").split())
        if len(service) > SERVICE_CHARS:
            row.problem = f"Service longer than {SERVICE_CHARS} characters"
            return row
        if service:
            values["service"] = service
        provider = " ".join(cell(cells, mapping, "provider").split())
        if len(provider) > PROVIDER_CHARS:
            row.problem = f"Provider longer than {PROVIDER_CHARS} characters"
            return row
        if provider or "provider" in mapping:
            values["provider"] = provider
        if "status" in mapping:
            values["status"] = status_of(cell(cells, mapping, "status"))
        row.values = values
        return row

    # ---- a batch ----------------------------------------------------------------------
    def rows(self, batch: Sequence[list[str]], first_line: int) -> list[Row]:
        rows = [self.check(n, cells) for n, cells in enumerate(batch, start=first_line)]
        self._patients(rows)
        self._match(rows)
        return rows

    def _patients(self, rows: list[Row]) -> None:
        """Each row's patient: by Patient ID when the row has one, else by mobile number
        (one query each for the batch)."""
        good = [r for r in rows if not r.problem]
        externals = {r.values["patient_external_id"] for r in good
                     if "patient_external_id" in r.values}  # fmt: skip
        numbers = {r.values["phone"] for r in good if "phone" in r.values}
        by_external: dict[str, int] = {}
        by_phone: dict[str, int] = {}
        if externals:
            by_external = dict(db.session.execute(
                select(Patient.external_id, Patient.id).where(
                    Patient.account_id == self.account_id, Patient.external_id.in_(externals)
                )
            ).all())  # fmt: skip
        if numbers:
            by_phone = dict(db.session.execute(
                select(Patient.phone, Patient.id).where(
                    Patient.account_id == self.account_id, Patient.phone.in_(numbers)
                )
            ).all())  # fmt: skip
        for row in good:
            external = row.values.get("patient_external_id")
            if external:
                patient_id = by_external.get(external)
                if patient_id is None:
                    row.problem = f"No patient with Patient ID “{external[:40]}”"
                    continue
            else:
                patient_id = by_phone.get(row.values["phone"])
                if patient_id is None:
                    row.problem = f"No patient with mobile {phones.display(row.values['phone'])}"
                    continue
            row.values["patient_id"] = patient_id

    def _match(self, rows: list[Row]) -> None:
        """add / update / skip: one query for the appointments with these Appointment
        IDs, one for those at the same patient, clinic and start."""
        for row in rows:  # repeats within the file
            if row.problem:
                continue
            v = row.values
            external = v.get("external_id")
            slot = (v["patient_id"], v["clinic_id"], v["starts_at"])
            if external and external in self.seen_external:
                row.problem = f"Same Appointment ID as row {self.seen_external[external]}"
            elif not external and slot in self.seen_slot:
                row.problem = f"Same patient, clinic and time as row {self.seen_slot[slot]}"
            elif external:
                self.seen_external[external] = row.line
            else:
                self.seen_slot[slot] = row.line
        good = [r for r in rows if not r.problem]
        cols = (Appointment.id, Appointment.external_id, Appointment.patient_id,
                Appointment.clinic_id, Appointment.starts_at, Appointment.status)  # fmt: skip
        by_external, by_slot = {}, {}
        externals = [r.values["external_id"] for r in good if "external_id" in r.values]
        if externals:
            by_external = {found.external_id: found for found in db.session.execute(
                select(*cols).where(Appointment.account_id == self.account_id,
                                    Appointment.external_id.in_(externals))
            )}  # fmt: skip
        slots = [(r.values["patient_id"], r.values["starts_at"]) for r in good
                 if "external_id" not in r.values]  # fmt: skip
        if slots:
            by_slot = {(f.patient_id, f.clinic_id, f.starts_at): f for f in db.session.execute(
                select(*cols).where(
                    Appointment.account_id == self.account_id,
                    tuple_(Appointment.patient_id, Appointment.starts_at).in_(slots),
                )
            )}  # fmt: skip
        for row in rows:
            if row.problem:
                row.action = "skip"
                continue
            v = row.values
            found = (
                by_external.get(v["external_id"]) if "external_id" in v
                else by_slot.get((v["patient_id"], v["clinic_id"], v["starts_at"]))
            )  # fmt: skip
            if found is not None and found.patient_id != v["patient_id"]:
                row.problem, row.action = "Appointment ID belongs to another patient", "skip"
                continue
            if found is not None and found.clinic_id not in self.clinic_ids:
                row.problem = "Booked at a clinic you do not have access to"
                row.action = "skip"
                continue
            status = v.get("status", found.status if found is not None else APPOINTMENT_BOOKED)
            moved = found is None or (found.starts_at, found.clinic_id) != (
                v["starts_at"],
                v["clinic_id"],
            )
            v["moved"] = moved
            row.soon = (
                moved and status == APPOINTMENT_BOOKED
                and self.now < v["starts_at"] <= self.soon_until
            )  # fmt: skip
            row.action, row.target_id = ("add", None) if found is None else ("update", found.id)

    # ---- writing ----------------------------------------------------------------------
    def write(self, rows: Sequence[Row]) -> None:
        """Through the one writer of appointments (care.write_appointments). A new or
        moved appointment starting within the reminder's lead time is marked as not
        reminded unless the admin chose to remind it now."""
        for row in rows:
            if row.soon and not self.remind_soon:
                row.values["reminder_status"] = REMINDER_SKIPPED_IMPORTED
        write_appointments(self.account_id, rows)
