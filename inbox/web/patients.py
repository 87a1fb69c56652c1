"""Patient profile and Patient Timeline."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..models.audit import AUDIT_SENT_TEXT, AUDIT_VIEWED_PATIENT
from ..services import patients, reminders
from ..services.messaging import SendRefused
from . import security, trail
from .guards import INBOX, STAFF, access

bp = Blueprint("patients", __name__, url_prefix="/patients")


@bp.get("/<int:patient_id>")
@access(STAFF)
def show(patient_id: int):
    patient = patients.get_visible(current_user, patient_id) or abort(404)
    if not security.from_another_site():
        trail.note(AUDIT_VIEWED_PATIENT, patient)
    inbox_visible = current_user.can_use_inbox and current_user.account.inbox_enabled
    paperwork = patients.outstanding_paperwork(patient)
    return render_template(
        "patients/show.html",
        patient=patient,
        upcoming=patients.upcoming_appointments(patient),
        paperwork=paperwork,
        paperwork_last=reminders.reminded_recently(paperwork),
        timeline=patients.timeline(patient, current_user, include_messages=inbox_visible),
        conversation=patients.conversation_for(current_user, patient) if inbox_visible else None,
        can_text=inbox_visible,
    )


@bp.post("/<int:patient_id>/paperwork-reminder")
@access(INBOX)
def paperwork_reminder(patient_id: int):
    patient = patients.get_visible(current_user, patient_id) or abort(404)
    try:
        message = reminders.send_paperwork_reminder(
            user=current_user, patient_id=patient.id, again=request.form.get("again") == "1"
        )
    except SendRefused as exc:
        flash(str(exc), "danger")
    else:
        trail.note(AUDIT_SENT_TEXT, message, summary="paperwork reminder")
        flash(f"Paperwork reminder texted to {patient.first_name or 'the patient'}.", "success")
    return redirect(url_for("patients.show", patient_id=patient.id))
