"""REST API v1, patients: list, search, create, read, edit, upsert by external id, batch."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import and_, or_

from ...extensions import db
from ...models import Patient, scoped
from ...models.audit import AUDIT_ADDED_PATIENT, AUDIT_EDITED_PATIENT, AUDIT_IMPORTED_PATIENTS
from ...services import patient_upserts, patients
from ...services.conversations import search_condition
from ...web.guards import API_READ, API_WRITE, access
from .. import schemas as s
from ..auth import current_actor
from ..problems import Problem
from .common import (
    batch_answer,
    bp,
    check_external_id,
    cursor_arg,
    default_clinic_id,
    documented_errors,
    own,
    page_of,
    patient_json,
    phone_field,
    record,
    record_read,
)

# ---- patients ----------------------------------------------------------------------------


@bp.route("/patients", methods=["GET"])
@access(API_READ)
@bp.arguments(s.PatientListArgs, location="query", as_kwargs=True)
@bp.response(200, s.PatientPageSchema)
@documented_errors(401, 403, 422, 429)
def list_patients(limit: int, cursor: str | None = None, updated_since=None, q: str = ""):
    """List patients

    By id, or with `updated_since` by when they last changed (oldest first: a sync keeps
    the last `updated_at` it saw). `q` finds names by prefix and numbers by digits."""
    actor = current_actor()
    after = cursor_arg(cursor)
    stmt = scoped(Patient, actor.account_id)
    if q and q.strip():
        stmt = stmt.where(search_condition(" ".join(q.split())))
    if updated_since is not None:
        stmt = stmt.where(Patient.updated_at >= updated_since)
        if after is not None:
            stmt = stmt.where(
                or_(
                    Patient.updated_at > after.at,
                    and_(Patient.updated_at == after.at, Patient.id > after.id),
                )
            )
        stmt = stmt.order_by(Patient.updated_at, Patient.id)
        key = lambda p: (p.updated_at, p.id)  # noqa: E731
    else:
        if after is not None:
            stmt = stmt.where(Patient.id > after.id)
        stmt = stmt.order_by(Patient.id)
        key = lambda p: (datetime(1970, 1, 1, tzinfo=UTC), p.id)  # noqa: E731
    rows, next_cursor = page_of(
        list(db.session.scalars(stmt.limit(limit + 1)).unique()), limit, key
    )
    record_read(f"{len(rows)} patients")
    return {"data": [patient_json(p) for p in rows], "next_cursor": next_cursor}


def _upsert_one(record: dict) -> tuple[Patient, bool]:
    """One patient through the batch upsert (the one writer): the patient and whether it
    was created; a skipped record is a Problem (409 when it collides with another)."""
    row = patient_upserts.upsert_patients(current_actor(), [record], default_clinic_id())[0]
    if row.action == "skip":
        conflict = "belongs to" in row.problem or "Already" in row.problem
        raise Problem("conflict" if conflict else "refused", row.problem + ".")
    patient = db.session.get(Patient, row.target_id)
    assert patient is not None
    return patient, row.action == "add"


@bp.route("/patients", methods=["POST"])
@access(API_WRITE)
@bp.arguments(s.PatientCreateSchema)
@bp.response(201, s.PatientSchema)
@documented_errors(401, 403, 409, 422, 429)
def create_patient(data: dict):
    """Add a patient

    409 when the mobile number (or external_id) is already a patient's: use the upsert
    by external id to update."""
    actor = current_actor()
    e164 = phone_field(data["phone"])
    same = [Patient.phone == e164]
    if data.get("external_id"):
        same.append(Patient.external_id == data["external_id"])
    taken = db.session.scalars(scoped(Patient, actor.account_id).where(or_(*same))).first()
    if taken is not None:
        raise Problem(
            "conflict", f"That mobile number or external_id is already patient {taken.id}.",
            existing_id=taken.id,
        )  # fmt: skip
    patient, _ = _upsert_one(data)
    record(AUDIT_ADDED_PATIENT, patient, "through the API")
    return patient_json(patient)


@bp.route("/patients/<int:patient_id>", methods=["GET"])
@access(API_READ)
@bp.response(200, s.PatientSchema)
@documented_errors(401, 403, 404, 429)
def get_patient(patient_id: int):
    """Get a patient"""
    patient = own(Patient, patient_id, "patient")
    record_read("patient", patient)
    return patient_json(patient)


@bp.route("/patients/<int:patient_id>", methods=["PATCH"])
@access(API_WRITE)
@bp.arguments(s.PatientFieldsSchema)
@bp.response(200, s.PatientSchema)
@documented_errors(401, 403, 404, 409, 422, 429)
def update_patient(data: dict, patient_id: int):
    """Change a patient

    Only the fields sent change; the same checks as the patient's Edit page."""
    actor = current_actor()
    patient = own(Patient, patient_id, "patient")
    if "phone" in data:  # named, as when adding a patient
        phone_field(data["phone"])
    form = patients.PatientForm.of(patient)
    changes = {
        k: ("" if v is None else (v.isoformat() if hasattr(v, "isoformat") else str(v)))
        for k, v in data.items()
    }
    if not form.home_clinic_id and "home_clinic_id" not in changes:
        changes["home_clinic_id"] = str(default_clinic_id() or "")
    form = patients.PatientForm(**{**form.__dict__, **changes})
    try:
        patients.save_patient(actor, patient, form)
    except patients.PatientRefused as exc:
        db.session.rollback()
        raise Problem("conflict" if exc.existing or "already" in str(exc) else "refused",
                      str(exc)) from None  # fmt: skip
    record(AUDIT_EDITED_PATIENT, patient, "through the API")
    return patient_json(patient)


@bp.route("/patients/by-external-id/<string:external_id>", methods=["PUT"])
@access(API_WRITE)
@bp.arguments(s.PatientUpsertSchema)
@bp.response(200, s.PatientSchema)
@bp.alt_response(201, schema=s.PatientSchema, description="Created")
@documented_errors(401, 403, 409, 422, 429)
def upsert_patient(data: dict, external_id: str):
    """Upsert a patient by external id

    Creates the patient with this id from your system, or updates them (a patient with the
    same mobile number and no external id takes it). 201 when created, 200 when updated."""
    check_external_id(external_id)
    patient, created = _upsert_one({**data, "external_id": external_id})
    record(AUDIT_ADDED_PATIENT if created else AUDIT_EDITED_PATIENT, patient, "through the API")
    return patient_json(patient), (201 if created else 200)


@bp.route("/patients/batch", methods=["POST"])
@access(API_WRITE)
@bp.arguments(s.PatientBatchSchema)
@bp.response(200, s.BatchSchema)
@documented_errors(401, 403, 422, 429)
def batch_patients(data: dict):
    """Upsert up to 1,000 patients by external id

    Each record is created, updated, or skipped with the reason; one bad record does not
    stop the others."""
    rows = patient_upserts.upsert_patients(current_actor(), data["patients"], default_clinic_id())
    out = batch_answer(
        [
            {"index": r.line, "status": {"add": "created", "update": "updated"}.get(r.action,
             "skipped"), "id": r.target_id, "error": r.problem}
            for r in rows
        ]
    )  # fmt: skip
    record(
        AUDIT_IMPORTED_PATIENTS, None,
        f"through the API: {out['created']} added, {out['updated']} updated, "
        f"{out['skipped']} skipped",
    )  # fmt: skip
    return out
