"""REST API v1, what every resource's views share: the blueprint, the problems an
operation documents, the audit of calls, ids and cursors from the request, and the JSON
of the records more than one resource returns."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from ...models import Conversation, Message, Patient, get_scoped
from ...models.audit import AUDIT_API_READ
from ...services import audit, conversations, phones
from ...services.conversations import Cursor
from ...web.trail import origin
from .. import schemas as s
from ..auth import add_headers, current_actor
from ..problems import Problem

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


def record(action: str, obj: object | None = None, summary: str = "", commit: bool = True) -> None:
    audit.record(current_actor(), action, obj, summary=summary, origin=origin(), commit=commit)


def record_read(summary: str, obj: object | None = None) -> None:
    """Every call that reads patient data leaves an entry naming the key."""
    record(AUDIT_API_READ, obj, f"{request.method} {request.path} · {summary}")


def cursor_arg(raw: str | None) -> Cursor | None:
    if not raw:
        return None
    cursor = Cursor.decode(raw)
    if cursor is None or not 0 < cursor.id < 2**31:
        raise Problem(
            "validation", "cursor: not a cursor this API gave out.",
            errors=[{"field": "cursor", "message": "Not a cursor this API gave out."}],
        )  # fmt: skip
    return cursor


def not_found(what: str) -> Problem:
    return Problem("not-found", f"No {what} with that id in this practice.")


def own(model, record_id: int, what: str):
    """The key's practice's record with that id, else a 404 problem naming `what`."""
    record = get_scoped(model, record_id, current_actor().account_id)
    if record is None:
        raise not_found(what)
    return record


def default_clinic_id() -> int | None:
    clinics = current_actor().account.active_clinics
    return clinics[0].id if len(clinics) == 1 else None


def check_external_id(external_id: str) -> None:
    if not 1 <= len(external_id) <= 64 or "\x00" in external_id:
        raise field_problem("external_id", "Between 1 and 64 characters, no NUL.")


def field_problem(field: str, message: str, slug: str = "validation") -> Problem:
    return Problem(slug, f"{field}: {message}", errors=[{"field": field, "message": message}])


def phone_field(value: str) -> str:
    """The number in E.164, or a 422 naming the phone field (the parser's words say why)."""
    try:
        return phones.normalize(value)
    except phones.InvalidPhone as exc:
        raise field_problem("phone", str(exc)) from None


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


def page_of(rows: list, limit: int, key) -> tuple[list, str | None]:
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (Cursor(*key(rows[-1])).encode() if more and rows else None)


def batch_answer(results: list[dict]) -> dict:
    for r in results:
        if r["status"] != "skipped":
            r.pop("error", None)
    count = {k: sum(1 for r in results if r["status"] == k) for k in ("created", "updated")}
    return {**count, "skipped": len(results) - sum(count.values()), "results": results}
