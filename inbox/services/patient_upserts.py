"""Patients upserted from records given as fields (the API): the CSV import's checks,
matching and batched writes (`patient_rows`), reused, not copied, so they stay the one
writer of patients in bulk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Patient, User
from .access import clinic_scope, visible_clinics
from .csv_rows import Row, chunks
from .imports import BATCH
from .patient_rows import check_row, dedupe, match, write

RECORD_FIELDS = ("first_name", "last_name", "phone", "email", "date_of_birth", "external_id")


def upsert_patients(
    user: User, records: Sequence[Mapping[str, Any]], default_clinic_id: int | None = None
) -> list[Row]:
    """See _upsert_patients. Two requests adding the same patient at once: the second one's
    insert meets the unique index, and it runs again, matching the patient now there."""
    try:
        return _upsert_patients(user, records, default_clinic_id)
    except IntegrityError:
        db.session.rollback()
        return _upsert_patients(user, records, default_clinic_id)


def _upsert_patients(
    user: User, records: Sequence[Mapping[str, Any]], default_clinic_id: int | None = None
) -> list[Row]:
    """The CSV import's checks, matching (by Patient ID, then mobile number) and batched
    writes, for records given as fields: the API's batch upsert (a single upsert is a
    batch of one). A field left out keeps what the patient has. Each returned row has its
    action (add / update / skip), its patient_id, or its problem in words. Commits."""
    mapping = {name: i for i, name in enumerate(RECORD_FIELDS)}
    clinic_ids = {c.id for c in visible_clinics(user)}
    rows: list[Row] = []
    for n, record in enumerate(records):
        cells = [
            "" if record.get(name) is None else str(record.get(name)) for name in RECORD_FIELDS
        ]
        row = check_row(n, cells, mapping, {})
        clinic_id = record.get("home_clinic_id")
        if not row.problem and clinic_id is not None:
            if clinic_id not in clinic_ids:
                row.problem, row.values = f"Unknown clinic {clinic_id}", {}
            else:
                row.values["home_clinic_id"] = clinic_id
        rows.append(row)
    dedupe(rows, {}, {})
    scope = clinic_scope(user)
    for batch in chunks(rows, BATCH):
        match(user.account_id, batch, scope)
    for row in rows:
        if row.action == "add" and "home_clinic_id" not in row.values and not default_clinic_id:
            row.problem, row.action = "A new patient needs a home_clinic_id", "skip"
    for batch in chunks(rows, BATCH):
        write(user.account_id, batch, default_clinic_id)
    db.session.commit()
    added = [r for r in rows if r.action == "add"]
    if added:
        by_phone = dict(
            db.session.execute(
                select(Patient.phone, Patient.id).where(
                    Patient.account_id == user.account_id,
                    Patient.phone.in_([r.values["phone"] for r in added]),
                )
            ).all()
        )
        for row in added:
            row.target_id = by_phone.get(row.values["phone"])
    return rows
