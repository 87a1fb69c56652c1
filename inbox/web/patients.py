"""Patient profile and Patient Timeline."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user

from ..models.audit import AUDIT_VIEWED_PATIENT
from ..services import patients
from . import trail
from .guards import STAFF, access

bp = Blueprint("patients", __name__, url_prefix="/patients")


@bp.get("/<int:patient_id>")
@access(STAFF)
def show(patient_id: int):
    patient = patients.get_visible(current_user, patient_id) or abort(404)
    trail.note(AUDIT_VIEWED_PATIENT, patient)
    inbox_visible = current_user.can_use_inbox and current_user.account.inbox_enabled
    return render_template(
        "patients/show.html",
        patient=patient,
        upcoming=patients.upcoming_appointments(patient),
        paperwork=patients.outstanding_paperwork(patient),
        timeline=patients.timeline(patient, include_messages=inbox_visible),
        conversation=patients.conversation_for(current_user, patient) if inbox_visible else None,
    )
