"""REST API v1, appointments and paperwork, kept in step with a practice's own system
(by external id)."""

from __future__ import annotations

from sqlalchemy import and_, or_

from ...extensions import db
from ...models import Appointment, PaperworkItem, Patient, get_scoped, scoped
from ...models.audit import (
    AUDIT_ADDED_APPOINTMENT,
    AUDIT_ADDED_PAPERWORK,
    AUDIT_CANCELLED_APPOINTMENT,
    AUDIT_COMPLETED_PAPERWORK,
    AUDIT_EDITED_APPOINTMENT,
    AUDIT_EDITED_PAPERWORK,
)
from ...services import care
from ...web.guards import API_READ, API_WRITE, access
from .. import schemas as s
from ..auth import current_actor
from ..problems import Problem
from .common import (
    batch_answer,
    bp,
    check_external_id,
    cursor_arg,
    documented_errors,
    field_problem,
    own,
    page_of,
    record,
    record_read,
)

# ---- appointments ----------------------------------------------------------------------------


def appointment_json(a: Appointment) -> dict:
    return {
        "id": a.id, "external_id": a.external_id, "patient_id": a.patient_id,
        "clinic_id": a.clinic_id, "starts_at": a.starts_at,
        "duration_minutes": a.duration_minutes, "service": a.service,
        "provider": a.provider or "", "status": a.status,
        "reminder_status": a.reminder_status, "created_at": a.created_at,
        "updated_at": a.updated_at or a.created_at,
    }  # fmt: skip


@bp.route("/appointments", methods=["GET"])
@access(API_READ)
@bp.arguments(s.AppointmentListArgs, location="query", as_kwargs=True)
@bp.response(200, s.AppointmentPageSchema)
@documented_errors(401, 403, 422, 429)
def list_appointments(
    limit: int, cursor=None, patient_id=None, clinic_id=None, starts_from=None,
    starts_before=None,
):  # fmt: skip
    """List appointments

    By start time, oldest first; by patient, clinic and a range of start times."""
    actor = current_actor()
    after = cursor_arg(cursor)
    stmt = scoped(Appointment, actor.account_id)
    if patient_id is not None:
        stmt = stmt.where(Appointment.patient_id == patient_id)
    if clinic_id is not None:
        stmt = stmt.where(Appointment.clinic_id == clinic_id)
    if starts_from is not None:
        stmt = stmt.where(Appointment.starts_at >= starts_from)
    if starts_before is not None:
        stmt = stmt.where(Appointment.starts_at < starts_before)
    if after is not None:
        stmt = stmt.where(
            or_(
                Appointment.starts_at > after.at,
                and_(Appointment.starts_at == after.at, Appointment.id > after.id),
            )
        )
    stmt = stmt.order_by(Appointment.starts_at, Appointment.id).limit(limit + 1)
    rows, next_cursor = page_of(
        list(db.session.scalars(stmt).unique()), limit, lambda a: (a.starts_at, a.id)
    )
    record_read(f"{len(rows)} appointments")
    return {"data": [appointment_json(a) for a in rows], "next_cursor": next_cursor}


def _upsert_answer(result: care.Upserted) -> None:
    if result.status == "skipped":
        raise Problem("conflict" if result.conflict else "refused", result.error)


@bp.route("/appointments/by-external-id/<string:external_id>", methods=["PUT"])
@access(API_WRITE)
@bp.arguments(s.AppointmentFieldsSchema)
@bp.response(200, s.AppointmentSchema)
@bp.alt_response(201, schema=s.AppointmentSchema, description="Created")
@documented_errors(401, 403, 409, 422, 429)
def upsert_appointment(data: dict, external_id: str):
    """Upsert an appointment by external id

    Booked within the next 24 hours, it gets its reminder; moved, it is reminded again for
    the new time, as when staff move it."""
    check_external_id(external_id)
    result = care.upsert_appointments(current_actor(), [{**data, "external_id": external_id}])[0]
    _upsert_answer(result)
    appt = db.session.get(Appointment, result.id)
    assert appt is not None
    created = result.status == "created"
    patient = db.session.get(Patient, appt.patient_id)
    record(
        AUDIT_ADDED_APPOINTMENT if created else AUDIT_EDITED_APPOINTMENT, patient,
        f"{care.describe(appt)}, through the API",
    )  # fmt: skip
    return appointment_json(appt), (201 if created else 200)


@bp.route("/appointments/batch", methods=["POST"])
@access(API_WRITE)
@bp.arguments(s.AppointmentBatchSchema)
@bp.response(200, s.BatchSchema)
@documented_errors(401, 403, 422, 429)
def batch_appointments(data: dict):
    """Upsert up to 1,000 appointments by external id"""
    results = care.upsert_appointments(current_actor(), data["appointments"])
    out = batch_answer(
        [{"index": r.index, "status": r.status, "id": r.id, "error": r.error} for r in results]
    )
    # Said as it happened: an entry for those added, another for those changed (nothing
    # written, as when every record was skipped: no entry, as for a refused single upsert).
    tally = f"{out['created']} added, {out['updated']} updated, {out['skipped']} skipped"
    for action, n in ((AUDIT_ADDED_APPOINTMENT, out["created"]),
                      (AUDIT_EDITED_APPOINTMENT, out["updated"])):  # fmt: skip
        if n:
            record(action, None, f"{n} of a batch through the API ({tally})", commit=False)
    db.session.commit()
    return out


@bp.route("/appointments/<int:appointment_id>/cancel", methods=["POST"])
@access(API_WRITE)
@bp.response(200, s.AppointmentSchema)
@documented_errors(401, 403, 404, 409, 429)
def cancel_appointment(appointment_id: int):
    """Cancel an appointment (it is not reminded)"""
    appt = own(Appointment, appointment_id, "appointment")
    try:
        care.cancel_appointment(appt)
    except care.CareRefused as exc:
        raise Problem("conflict", str(exc)) from None
    record(
        AUDIT_CANCELLED_APPOINTMENT, db.session.get(Patient, appt.patient_id),
        f"{care.describe(appt)}, through the API",
    )  # fmt: skip
    return appointment_json(appt)


# ---- paperwork -------------------------------------------------------------------------------


def paperwork_json(p: PaperworkItem) -> dict:
    return {
        "id": p.id, "external_id": p.external_id, "patient_id": p.patient_id,
        "name": p.name, "status": p.status, "requested_at": p.requested_at,
        "completed_at": p.completed_at,
    }  # fmt: skip


@bp.route("/paperwork/by-external-id/<string:external_id>", methods=["PUT"])
@access(API_WRITE)
@bp.arguments(s.PaperworkUpsertSchema)
@bp.response(200, s.PaperworkSchema)
@bp.alt_response(201, schema=s.PaperworkSchema, description="Created")
@documented_errors(401, 403, 409, 422, 429)
def upsert_paperwork(data: dict, external_id: str):
    """Upsert a paperwork item by external id

    A form the patient is asked for (the paperwork reminder asks while it is outstanding)."""
    check_external_id(external_id)
    patient = _patient_of(data)
    before = db.session.scalars(
        scoped(PaperworkItem, patient.account_id).where(PaperworkItem.external_id == external_id)
    ).first()
    old_name = before.name if before is not None else None
    try:
        item, created = care.upsert_paperwork(patient, external_id, data["name"])
    except care.CareRefused as exc:
        db.session.rollback()
        raise Problem("conflict" if "another" in str(exc) else "refused", str(exc)) from None
    if created:
        record(AUDIT_ADDED_PAPERWORK, patient, f"{item.name}, through the API")
    elif old_name != item.name:  # a sync that changes nothing is no entry
        record(
            AUDIT_EDITED_PAPERWORK,
            patient,
            f"“{item.name}” renamed from “{old_name}”, through the API",
        )
    return paperwork_json(item), (201 if created else 200)


def _patient_of(data: dict) -> Patient:
    account_id = current_actor().account_id
    if data.get("patient_id") is not None:
        patient = get_scoped(Patient, data["patient_id"], account_id)
        field = "patient_id"
    elif data.get("patient_external_id"):
        patient = db.session.scalars(
            scoped(Patient, account_id).where(Patient.external_id == data["patient_external_id"])
        ).first()
        field = "patient_external_id"
    else:
        raise field_problem("patient_id", "Give patient_id or patient_external_id.")
    if patient is None:
        raise field_problem(field, "No such patient in this practice.")
    return patient


@bp.route("/paperwork/<int:paperwork_id>/complete", methods=["POST"])
@access(API_WRITE)
@bp.response(200, s.PaperworkSchema)
@documented_errors(401, 403, 404, 429)
def complete_paperwork(paperwork_id: int):
    """Mark a paperwork item completed (the reminder stops asking)"""
    item = own(PaperworkItem, paperwork_id, "paperwork item")
    if care.complete_paperwork(item):
        record(
            AUDIT_COMPLETED_PAPERWORK, db.session.get(Patient, item.patient_id),
            f"{item.name}, through the API",
        )  # fmt: skip
    return paperwork_json(item)
