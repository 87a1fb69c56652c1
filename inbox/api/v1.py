"""REST API v1: thin views over the same services the pages use, scoped to the key's
practice. Each view declares its scope with @access (checked by web.guards, with the key,
before the view runs); reads of patient data are written to the audit log."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from flask import current_app, json, request
from flask_smorest import Blueprint
from sqlalchemy import and_, or_
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import (
    Appointment,
    Clinic,
    Conversation,
    IdempotentRequest,
    Message,
    PaperworkItem,
    Patient,
    WebhookEndpoint,
    get_scoped,
    scoped,
)
from ..models.audit import (
    AUDIT_ADDED_APPOINTMENT,
    AUDIT_ADDED_PAPERWORK,
    AUDIT_ADDED_PATIENT,
    AUDIT_ADDED_WEBHOOK,
    AUDIT_API_READ,
    AUDIT_CANCELLED_APPOINTMENT,
    AUDIT_COMPLETED_PAPERWORK,
    AUDIT_DELETED_WEBHOOK,
    AUDIT_EDITED_APPOINTMENT,
    AUDIT_EDITED_PAPERWORK,
    AUDIT_EDITED_PATIENT,
    AUDIT_EDITED_WEBHOOK,
    AUDIT_IMPORTED_PATIENTS,
    AUDIT_SENT_TEXT,
)
from ..services import (
    audit,
    care,
    conversations,
    hook_endpoints,
    patient_upserts,
    patients,
    phones,
    sending,
)  # fmt: skip
from ..services.conversations import Cursor, search_condition
from ..web.guards import API_READ, API_SEND, API_WRITE, access
from . import schemas as s
from .auth import add_headers, current_actor
from .problems import Problem

bp = Blueprint(
    "api_v1", __name__, url_prefix="/api/v1",
    description="Patients, clinics, appointments, paperwork, conversations and texts.",
)  # fmt: skip
bp.after_request(add_headers)


PROBLEM_WORDS = {
    401: "No live API key (missing, unknown or revoked)",
    403: "The key lacks the scope",
    404: "No such record in this practice",
    409: "Conflicts with a stored record",
    422: "Fields not valid, or the request cannot be carried out (the detail says why)",
    429: "Over the key's rate limit (see Retry-After)",
}


def documented_errors(*codes: int):
    """The problem responses an operation can give (all share ProblemSchema)."""

    def decorator(view):
        for code in codes:
            view = bp.alt_response(
                code, schema=s.ProblemSchema, description=PROBLEM_WORDS[code],
                content_type="application/problem+json",
            )(view)  # fmt: skip
        return view

    return decorator


# ---- helpers ---------------------------------------------------------------------------


def _origin() -> audit.Origin:
    return audit.Origin(ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))


def _audit(action: str, obj: object | None = None, summary: str = "", commit: bool = True) -> None:
    audit.record(current_actor(), action, obj, summary=summary, origin=_origin(), commit=commit)


def _read(summary: str, obj: object | None = None) -> None:
    """Every call that reads patient data leaves an entry naming the key."""
    _audit(AUDIT_API_READ, obj, f"{request.method} {request.path} · {summary}")


def _cursor(raw: str | None) -> Cursor | None:
    if not raw:
        return None
    cursor = Cursor.decode(raw)
    if cursor is None or not 0 < cursor.id < 2**31:
        raise Problem(
            "validation", "cursor: not a cursor this API gave out.",
            errors=[{"field": "cursor", "message": "Not a cursor this API gave out."}],
        )  # fmt: skip
    return cursor


def _not_found(what: str) -> Problem:
    return Problem("not-found", f"No {what} with that id in this practice.")


def _own(model, record_id: int, what: str):
    """The key's practice's record with that id, else a 404 problem naming `what`."""
    record = get_scoped(model, record_id, current_actor().account_id)
    if record is None:
        raise _not_found(what)
    return record


def _default_clinic_id() -> int | None:
    clinics = current_actor().account.active_clinics
    return clinics[0].id if len(clinics) == 1 else None


def _check_external_id(external_id: str) -> None:
    if not 1 <= len(external_id) <= 64 or "\x00" in external_id:
        raise _field_problem("external_id", "Between 1 and 64 characters, no NUL.")


def _field_problem(field: str, message: str, slug: str = "validation") -> Problem:
    return Problem(slug, f"{field}: {message}", errors=[{"field": field, "message": message}])


def _phone_field(value: str) -> str:
    """The number in E.164, or a 422 naming the phone field (the parser's words say why)."""
    try:
        return phones.normalize(value)
    except phones.InvalidPhone as exc:
        raise _field_problem("phone", str(exc)) from None


def patient_json(p: Patient) -> dict:
    return {
        "id": p.id, "external_id": p.external_id, "first_name": p.first_name or "",
        "last_name": p.last_name or "", "phone": p.phone, "email": p.email,
        "date_of_birth": p.date_of_birth, "home_clinic_id": p.home_clinic_id,
        "opted_out": p.opted_out, "unknown_sender": bool(p.unknown_sender),
        "created_at": p.created_at, "updated_at": p.updated_at or p.created_at,
    }  # fmt: skip


def message_json(m: Message) -> dict:
    return {
        "id": m.id, "conversation_id": m.conversation_id, "direction": m.direction,
        "body": m.body, "status": m.status, "failure_reason": m.error_text,
        "kind": m.kind, "segments": m.segments, "sent_at": m.sent_at,
        "status_changed_at": m.status_changed_at,
    }  # fmt: skip


def conversation_json(c: Conversation) -> dict:
    return {
        "id": c.id, "patient_id": c.patient_id, "clinic_id": c.clinic_id,
        "unread": bool(c.unread), "opted_out": bool(c.opted_out),
        "needs_reply": conversations.VIEWS["needs_reply"].holds(conversations.facts(c)),
        "has_failed": bool(c.has_failed), "last_message_at": c.last_message_at,
        "last_direction": c.last_direction,
    }  # fmt: skip


def _page(rows: list, limit: int, key) -> tuple[list, str | None]:
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (Cursor(*key(rows[-1])).encode() if more and rows else None)


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
    after = _cursor(cursor)
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
    rows, next_cursor = _page(list(db.session.scalars(stmt.limit(limit + 1)).unique()), limit, key)
    _read(f"{len(rows)} patients")
    return {"data": [patient_json(p) for p in rows], "next_cursor": next_cursor}


def _upsert_one(record: dict) -> tuple[Patient, bool]:
    """One patient through the batch upsert (the one writer): the patient and whether it
    was created; a skipped record is a Problem (409 when it collides with another)."""
    row = patient_upserts.upsert_patients(current_actor(), [record], _default_clinic_id())[0]
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
    e164 = _phone_field(data["phone"])
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
    _audit(AUDIT_ADDED_PATIENT, patient, "through the API")
    return patient_json(patient)


@bp.route("/patients/<int:patient_id>", methods=["GET"])
@access(API_READ)
@bp.response(200, s.PatientSchema)
@documented_errors(401, 403, 404, 429)
def get_patient(patient_id: int):
    """Get a patient"""
    patient = _own(Patient, patient_id, "patient")
    _read("patient", patient)
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
    patient = _own(Patient, patient_id, "patient")
    if "phone" in data:  # named, as when adding a patient
        _phone_field(data["phone"])
    form = patients.PatientForm.of(patient)
    changes = {
        k: ("" if v is None else (v.isoformat() if hasattr(v, "isoformat") else str(v)))
        for k, v in data.items()
    }
    if not form.home_clinic_id and "home_clinic_id" not in changes:
        changes["home_clinic_id"] = str(_default_clinic_id() or "")
    form = patients.PatientForm(**{**form.__dict__, **changes})
    try:
        patients.save_patient(actor, patient, form)
    except patients.PatientRefused as exc:
        db.session.rollback()
        raise Problem("conflict" if exc.existing or "already" in str(exc) else "refused",
                      str(exc)) from None  # fmt: skip
    _audit(AUDIT_EDITED_PATIENT, patient, "through the API")
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
    _check_external_id(external_id)
    patient, created = _upsert_one({**data, "external_id": external_id})
    _audit(AUDIT_ADDED_PATIENT if created else AUDIT_EDITED_PATIENT, patient, "through the API")
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
    rows = patient_upserts.upsert_patients(current_actor(), data["patients"], _default_clinic_id())
    out = _batch_answer(
        [
            {"index": r.line, "status": {"add": "created", "update": "updated"}.get(r.action,
             "skipped"), "id": r.target_id, "error": r.problem}
            for r in rows
        ]
    )  # fmt: skip
    _audit(
        AUDIT_IMPORTED_PATIENTS, None,
        f"through the API: {out['created']} added, {out['updated']} updated, "
        f"{out['skipped']} skipped",
    )  # fmt: skip
    return out


def _batch_answer(results: list[dict]) -> dict:
    for r in results:
        if r["status"] != "skipped":
            r.pop("error", None)
    count = {k: sum(1 for r in results if r["status"] == k) for k in ("created", "updated")}
    return {**count, "skipped": len(results) - sum(count.values()), "results": results}


# ---- clinics ---------------------------------------------------------------------------------


@bp.route("/clinics", methods=["GET"])
@access(API_READ)
@bp.response(200, s.ClinicListSchema)
@documented_errors(401, 403, 429)
def list_clinics():
    """List clinics (archived ones too, marked)"""
    clinics = db.session.scalars(
        scoped(Clinic, current_actor().account_id).order_by(Clinic.name, Clinic.id)
    )
    return {
        "data": [
            {"id": c.id, "name": c.name, "timezone": c.timezone, "address": c.address,
             "phone": c.phone, "archived": c.archived}
            for c in clinics
        ]
    }  # fmt: skip


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
    after = _cursor(cursor)
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
    rows, next_cursor = _page(
        list(db.session.scalars(stmt).unique()), limit, lambda a: (a.starts_at, a.id)
    )
    _read(f"{len(rows)} appointments")
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
    _check_external_id(external_id)
    result = care.upsert_appointments(current_actor(), [{**data, "external_id": external_id}])[0]
    _upsert_answer(result)
    appt = db.session.get(Appointment, result.id)
    assert appt is not None
    created = result.status == "created"
    patient = db.session.get(Patient, appt.patient_id)
    _audit(
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
    out = _batch_answer(
        [{"index": r.index, "status": r.status, "id": r.id, "error": r.error} for r in results]
    )
    # Said as it happened: an entry for those added, another for those changed (nothing
    # written, as when every record was skipped: no entry, as for a refused single upsert).
    tally = f"{out['created']} added, {out['updated']} updated, {out['skipped']} skipped"
    for action, n in ((AUDIT_ADDED_APPOINTMENT, out["created"]),
                      (AUDIT_EDITED_APPOINTMENT, out["updated"])):  # fmt: skip
        if n:
            _audit(action, None, f"{n} of a batch through the API ({tally})", commit=False)
    db.session.commit()
    return out


@bp.route("/appointments/<int:appointment_id>/cancel", methods=["POST"])
@access(API_WRITE)
@bp.response(200, s.AppointmentSchema)
@documented_errors(401, 403, 404, 409, 429)
def cancel_appointment(appointment_id: int):
    """Cancel an appointment (it is not reminded)"""
    appt = _own(Appointment, appointment_id, "appointment")
    try:
        care.cancel_appointment(appt)
    except care.CareRefused as exc:
        raise Problem("conflict", str(exc)) from None
    _audit(
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
    _check_external_id(external_id)
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
        _audit(AUDIT_ADDED_PAPERWORK, patient, f"{item.name}, through the API")
    elif old_name != item.name:  # a sync that changes nothing is no entry
        _audit(
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
        raise _field_problem("patient_id", "Give patient_id or patient_external_id.")
    if patient is None:
        raise _field_problem(field, "No such patient in this practice.")
    return patient


@bp.route("/paperwork/<int:paperwork_id>/complete", methods=["POST"])
@access(API_WRITE)
@bp.response(200, s.PaperworkSchema)
@documented_errors(401, 403, 404, 429)
def complete_paperwork(paperwork_id: int):
    """Mark a paperwork item completed (the reminder stops asking)"""
    item = _own(PaperworkItem, paperwork_id, "paperwork item")
    if care.complete_paperwork(item):
        _audit(
            AUDIT_COMPLETED_PAPERWORK, db.session.get(Patient, item.patient_id),
            f"{item.name}, through the API",
        )  # fmt: skip
    return paperwork_json(item)


# ---- conversations ---------------------------------------------------------------------------


@bp.route("/conversations", methods=["GET"])
@access(API_READ)
@bp.arguments(s.ConversationListArgs, location="query", as_kwargs=True)
@bp.response(200, s.ConversationPageSchema)
@documented_errors(401, 403, 422, 429)
def list_conversations(
    limit: int, cursor=None, unread=None, needs_reply=None, clinic_id=None, q: str = ""
):
    """List conversations

    The Inbox's list, newest activity first, with its filters. Empty while the Inbox is
    off."""
    actor = current_actor()
    f = conversations.Filters(
        view="needs_reply" if needs_reply else "all",
        tab={True: "unread", False: "read"}.get(unread, "any"),
        clinic_id=clinic_id,
        q=" ".join((q or "").split())[:80],
    )
    rows, nxt = conversations.list_page(actor, f, _cursor(cursor), limit=limit)
    _read(f"{len(rows)} conversations")
    return {"data": [conversation_json(c) for c in rows], "next_cursor": nxt and nxt.encode()}


@bp.route("/conversations/<int:conversation_id>", methods=["GET"])
@access(API_READ)
@bp.arguments(s.MessagePageArgs, location="query", as_kwargs=True)
@bp.response(200, s.ConversationDetailSchema)
@documented_errors(401, 403, 404, 422, 429)
def get_conversation(conversation_id: int, limit: int, before=None):
    """Get a conversation with its texts

    The newest `limit` texts, oldest first; `before_cursor` pages back. Reading it through
    the API does not mark it read."""
    conv = conversations.get_visible(current_actor(), conversation_id)
    if conv is None:
        raise _not_found("conversation")
    before_cursor = Cursor.decode(before) if before else None
    if before and (before_cursor is None or not 0 < before_cursor.id < 2**31):
        raise _field_problem("before", "Not a cursor this API gave out.")
    messages, older = conversations.message_page(conv, before_cursor, limit=limit)
    _read(f"conversation and {len(messages)} texts", conv)
    return {
        **conversation_json(conv),
        "messages": [message_json(m) for m in messages],
        "before_cursor": older and older.encode(),
    }


# ---- messages ----------------------------------------------------------------------------------


def _request_hash(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _replay(prior: IdempotentRequest, request_hash: str):
    if prior.request_hash != request_hash:
        raise Problem(
            "idempotency-key-reused",
            "This Idempotency-Key was already used for a different request. Use a new key "
            "for a new text.",
        )
    response = current_app.response_class(
        prior.response, status=prior.status_code, mimetype="application/json"
    )
    response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.route("/messages", methods=["POST"])
@access(API_SEND)
@bp.arguments(s.IdempotencyHeader, location="headers", as_kwargs=True)
@bp.arguments(s.SendSchema)
@bp.response(201, s.MessageSchema)
@documented_errors(401, 403, 404, 422, 429)
def send_message(data: dict, idempotency_key: str | None = None):
    """Send a text

    To a patient (`patient_id`) or a mobile number (`to`). Refused, with the reason, when
    the Inbox is off, the patient opted out, or the number cannot get texts. With an
    `Idempotency-Key`, a retried request never texts twice: it gets the first answer."""
    actor = current_actor()
    request_hash = _request_hash(data)
    prior_stmt = scoped(IdempotentRequest, actor.account_id).where(
        IdempotentRequest.idempotency_key == idempotency_key
    )
    if idempotency_key:
        prior = db.session.scalars(prior_stmt).first()
        if prior is not None:
            return _replay(prior, request_hash)
    patient_id, to = data.get("patient_id"), data.get("to")
    if bool(patient_id) == bool(to):
        raise _field_problem("patient_id", "Give either patient_id or to, not both.")
    clinic_id = data.get("clinic_id")
    if patient_id:
        patient = get_scoped(Patient, patient_id, actor.account_id)
        if patient is None:
            raise _field_problem("patient_id", "No such patient in this practice.")
        clinic_id = clinic_id or patient.home_clinic_id
    clinic_id = clinic_id or _default_clinic_id()
    if clinic_id is None:
        raise _field_problem("clinic_id", "Say which clinic the conversation belongs to.")

    def remember(message: Message) -> None:
        if idempotency_key:
            db.session.add(
                IdempotentRequest(
                    account_id=actor.account_id, api_key_id=actor.api_key_id,
                    idempotency_key=idempotency_key, request_hash=request_hash,
                    message_id=message.id, status_code=201,
                    response=json.dumps(s.MessageSchema().dump(message_json(message))),
                )
            )  # fmt: skip
            db.session.flush()

    try:
        message = sending.send_new(
            user=actor, clinic_id=clinic_id, body=data["body"], patient_id=patient_id,
            phone=to, on_staged=remember,
        )  # fmt: skip
    except sending.SendRefused as exc:
        db.session.rollback()
        raise Problem("refused", str(exc)) from None
    except LookupError:
        db.session.rollback()
        raise _not_found("conversation") from None
    except IntegrityError:
        # The same key, sent twice at once: the other request stored its answer first.
        db.session.rollback()
        prior = db.session.scalars(prior_stmt).first()
        if prior is None:
            raise
        return _replay(prior, request_hash)
    _audit(AUDIT_SENT_TEXT, message, "through the API")
    return message_json(message)


@bp.route("/messages/<int:message_id>", methods=["GET"])
@access(API_READ)
@bp.response(200, s.MessageSchema)
@documented_errors(401, 403, 404, 429)
def get_message(message_id: int):
    """Get a text and its delivery status"""
    message = _own(Message, message_id, "text")
    _read("text", message)
    return message_json(message)


__all__ = ["bp"]


# ---- event webhook endpoints -----------------------------------------------------------------


def endpoint_json(e: WebhookEndpoint) -> dict:
    return {
        "id": e.id, "url": e.url, "events": e.event_list, "include_text": e.include_text,
        "enabled": e.enabled, "disabled_reason": e.disabled_reason, "created_at": e.created_at,
    }  # fmt: skip


def _refused(exc: hook_endpoints.EndpointRefused) -> Problem:
    db.session.rollback()
    return Problem("refused", str(exc))


@bp.route("/webhook-endpoints", methods=["GET"])
@access(API_READ)
@bp.response(200, s.WebhookEndpointListSchema)
@documented_errors(401, 403, 429)
def list_webhook_endpoints():
    """List event webhook endpoints

    The URLs this practice's events are sent to (Settings › Integrations › Webhooks)."""
    return {"data": [endpoint_json(e) for e in hook_endpoints.list_endpoints(
        current_actor().account_id)]}  # fmt: skip


@bp.route("/webhook-endpoints", methods=["POST"])
@access(API_WRITE)
@bp.arguments(s.WebhookEndpointFieldsSchema)
@bp.response(201, s.WebhookEndpointCreatedSchema)
@documented_errors(401, 403, 422, 429)
def create_webhook_endpoint(data: dict):
    """Add an event webhook endpoint

    Deliveries follow the Standard Webhooks specification, signed with the secret in this
    answer (shown only here). Outside development the URL must be https and public."""
    try:
        endpoint = hook_endpoints.create_endpoint(current_actor().account, **data)
    except hook_endpoints.EndpointRefused as exc:
        raise _refused(exc) from None
    _audit(AUDIT_ADDED_WEBHOOK, None,
           f"{endpoint.url} ({', '.join(endpoint.event_list)}), through the API")  # fmt: skip
    return endpoint_json(endpoint) | {"secret": endpoint.secret}


@bp.route("/webhook-endpoints/<int:endpoint_id>", methods=["GET"])
@access(API_READ)
@bp.response(200, s.WebhookEndpointSchema)
@documented_errors(401, 403, 404, 429)
def get_webhook_endpoint(endpoint_id: int):
    """Get an event webhook endpoint"""
    return endpoint_json(_own(WebhookEndpoint, endpoint_id, "webhook endpoint"))


@bp.route("/webhook-endpoints/<int:endpoint_id>", methods=["PATCH"])
@access(API_WRITE)
@bp.arguments(s.WebhookEndpointUpdateSchema)
@bp.response(200, s.WebhookEndpointSchema)
@documented_errors(401, 403, 404, 422, 429)
def update_webhook_endpoint(data: dict, endpoint_id: int):
    """Change an event webhook endpoint (fields left out stay as they are)"""
    endpoint = _own(WebhookEndpoint, endpoint_id, "webhook endpoint")
    try:
        changes = hook_endpoints.update_endpoint(
            endpoint, url=data.get("url", endpoint.url),
            events=data.get("events", endpoint.event_list),
            include_text=data.get("include_text", endpoint.include_text),
        )  # fmt: skip
    except hook_endpoints.EndpointRefused as exc:
        raise _refused(exc) from None
    if changes:
        _audit(AUDIT_EDITED_WEBHOOK, None,
               f"{endpoint.url}: {', '.join(changes)}, through the API")  # fmt: skip
    return endpoint_json(endpoint)


@bp.route("/webhook-endpoints/<int:endpoint_id>", methods=["DELETE"])
@access(API_WRITE)
@bp.response(204)
@documented_errors(401, 403, 404, 429)
def delete_webhook_endpoint(endpoint_id: int):
    """Delete an event webhook endpoint (its deliveries go with it)"""
    endpoint = _own(WebhookEndpoint, endpoint_id, "webhook endpoint")
    url = endpoint.url
    hook_endpoints.delete_endpoint(endpoint)
    _audit(AUDIT_DELETED_WEBHOOK, None, f"{url}, through the API")
    return ""
