"""Patient profile and Patient Timeline; appointments and paperwork kept there."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from ..config import IMPORT_PATH
from ..extensions import db
from ..models import IMPORT_DONE, IMPORT_PATIENTS, IMPORT_PREVIEW
from ..models.audit import (
    AUDIT_ADDED_APPOINTMENT,
    AUDIT_ADDED_PAPERWORK,
    AUDIT_ADDED_PATIENT,
    AUDIT_CANCELLED_APPOINTMENT,
    AUDIT_COMPLETED_PAPERWORK,
    AUDIT_EDITED_APPOINTMENT,
    AUDIT_EDITED_PATIENT,
    AUDIT_LINKED_NUMBER,
    AUDIT_SENT_TEXT,
    AUDIT_VIEWED_PATIENT,
)
from ..services import care, imports, patients, phones, reminders
from ..services.access import uses_inbox, visible_clinics
from ..services.sending import SendRefused
from . import security, trail
from .guards import ADMIN, INBOX, STAFF, access

bp = Blueprint("patients", __name__, url_prefix="/patients")


# ---- the Patients page -------------------------------------------------------------------


@bp.get("")
@access(INBOX)
def index():
    """Patients of the user's clinics, by last name; searched by name or phone as the inbox
    is. An htmx request for more (or a search) gets the rows only."""
    q = request.args.get("q", "")
    rows, cursor = patients.directory(current_user, q, request.args.get("after", ""))
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") != "patients-main":
        return render_template("patients/_rows.html", rows=rows, cursor=cursor, q=q)
    return render_template("patients/index.html", rows=rows, cursor=cursor, q=q)


def _patient_form(patient, form: patients.PatientForm, error=None, existing=None):
    return render_template(
        "patients/edit.html", patient=patient, form=form, error=error, existing=existing,
        clinics=visible_clinics(current_user),
    ), (422 if error else 200)  # fmt: skip


@bp.route("/new", methods=["GET", "POST"])
@access(INBOX)
def new():
    """Add patient. ?phone= fills the mobile in (New message, an unknown number)."""
    if request.method == "GET":
        home = next(iter(visible_clinics(current_user)), None)
        return _patient_form(None, patients.PatientForm(
            phone=request.args.get("phone", ""), home_clinic_id=str(home.id if home else ""),
        ))  # fmt: skip
    form = patients.PatientForm.from_form(request.form)
    try:
        patient = patients.save_patient(current_user, None, form)
    except patients.PatientRefused as exc:
        return _patient_form(None, form, str(exc), exc.existing)
    trail.note(AUDIT_ADDED_PATIENT, patient)
    flash(f"{patient.full_name} added.", "success")
    return redirect(url_for("patients.show", patient_id=patient.id))


@bp.route("/<int:patient_id>/edit", methods=["GET", "POST"])
@access(INBOX)
def edit(patient_id: int):
    """Edit a patient; for an unknown sender, "Add as new patient" (the number is theirs)."""
    patient = patients.get_visible(current_user, patient_id) or abort(404)
    if request.method == "GET":
        return _patient_form(patient, patients.PatientForm.of(patient))
    form = patients.PatientForm.from_form(request.form)
    was_unknown = patient.unknown_sender
    try:
        patients.save_patient(current_user, patient, form)
    except patients.PatientRefused as exc:
        db.session.rollback()
        return _patient_form(patient, form, str(exc), exc.existing)
    trail.note(AUDIT_ADDED_PATIENT if was_unknown else AUDIT_EDITED_PATIENT, patient)
    flash(f"{patient.full_name} {'added as a patient' if was_unknown else 'saved'}.", "success")
    return redirect(url_for("patients.show", patient_id=patient.id))


@bp.route("/<int:patient_id>/link", methods=["GET", "POST"])
@access(INBOX)
def link(patient_id: int):
    """ "Link to existing patient", for a number that texted in without a record: search,
    then Link (asked first: the patient's mobile becomes this number)."""
    stranger = patients.get_visible(current_user, patient_id) or abort(404)
    if not stranger.unknown_sender:
        return redirect(url_for("patients.show", patient_id=stranger.id))
    error = None
    if request.method == "POST":
        target = patients.get_visible(current_user, request.form.get("target_id", ""))
        if target is None:
            abort(404)
        try:
            patients.link_unknown_sender(current_user, stranger, target)
        except patients.PatientRefused as exc:
            db.session.rollback()
            error = str(exc)
        else:
            trail.note(AUDIT_LINKED_NUMBER, target)
            flash(f"{target.full_name}'s mobile is now {phones.display(target.phone)}; "
                  "the conversation is theirs.", "success")  # fmt: skip
            return redirect(url_for("patients.show", patient_id=target.id))
    q = request.values.get("q", "")
    found = (
        [p for p in patients.search(current_user, q, limit=10) if p.id != stranger.id] if q else []
    )
    template = (
        "patients/_link_results.html" if request.headers.get("HX-Request") else "patients/link.html"
    )
    return render_template(template, stranger=stranger, q=q, found=found, error=error), (
        422 if error else 200
    )


@bp.get("/<int:patient_id>")
@access(STAFF)
def show(patient_id: int):
    patient = patients.get_visible(current_user, patient_id) or abort(404)
    if not security.from_another_site():
        trail.note(AUDIT_VIEWED_PATIENT, patient)
    return _profile(patient)


def _profile(patient, *, booking=None, booking_error=None, form_error=None, form_name=""):
    """The profile page; with a refused Add appointment / Add paperwork form open, as typed."""
    inbox_visible = uses_inbox(current_user)
    paperwork = patients.outstanding_paperwork(patient)
    upcoming = patients.upcoming_appointments(patient)
    status = 422 if booking_error or form_error else 200
    return render_template(
        "patients/show.html",
        patient=patient,
        upcoming=upcoming,
        paperwork=paperwork,
        paperwork_last=reminders.reminded_recently(paperwork),
        timeline=patients.timeline(patient, current_user, include_messages=inbox_visible),
        conversation=inbox_visible and patients.visible_conversation(current_user, patient),
        can_text=inbox_visible,
        clinics=visible_clinics(current_user),
        booking=booking or care.AppointmentForm(clinic_id=str(patient.home_clinic_id or "")),
        booking_error=booking_error,
        durations=care.DURATIONS,
        form_error=form_error,
        form_name=form_name,
        editable={a.id for a in upcoming if care.may_see_appointment(current_user, a)},
    ), status


# ---- appointments and paperwork ---------------------------------------------------------


@bp.post("/<int:patient_id>/appointments")
@access(STAFF)
def add_appointment(patient_id: int):
    patient = patients.get_visible(current_user, patient_id) or abort(404)
    form = care.AppointmentForm.from_form(request.form)
    try:
        appt = care.add_appointment(current_user, patient, form)
    except care.CareRefused as exc:
        return _profile(patient, booking=form, booking_error=str(exc))
    trail.note(AUDIT_ADDED_APPOINTMENT, patient, summary=care.describe(appt))
    flash(f"Booked: {care.describe(appt)}.", "success")
    return redirect(url_for("patients.show", patient_id=patient.id) + "#upcoming")


def _appointment(patient_id: int, appointment_id: int):
    patient = patients.get_visible(current_user, patient_id) or abort(404)
    appt = care.get_appointment(patient, appointment_id)
    if appt is None or not care.may_see_appointment(current_user, appt):
        abort(404)
    return patient, appt


@bp.route("/<int:patient_id>/appointments/<int:appointment_id>", methods=["GET", "POST"])
@access(STAFF)
def appointment(patient_id: int, appointment_id: int):
    """Edit an appointment: clinic, date and time in the clinic's zone, service, provider."""
    patient, appt = _appointment(patient_id, appointment_id)
    form, error = care.AppointmentForm.of(appt), None
    if request.method == "POST":
        form = care.AppointmentForm.from_form(request.form)
        try:
            moved = care.update_appointment(current_user, appt, form)
        except care.CareRefused as exc:
            db.session.rollback()
            error = str(exc)
        else:
            trail.note(AUDIT_EDITED_APPOINTMENT, patient,
                       summary=("moved: " if moved else "") + care.describe(appt))  # fmt: skip
            flash(f"Saved: {care.describe(appt)}.", "success")
            return redirect(url_for("patients.show", patient_id=patient.id) + "#upcoming")
    return render_template(
        "patients/appointment.html", patient=patient, appt=appt, form=form, error=error,
        clinics=visible_clinics(current_user), durations=care.DURATIONS,
    ), (422 if error else 200)  # fmt: skip


@bp.post("/<int:patient_id>/appointments/<int:appointment_id>/cancel")
@access(STAFF)
def cancel_appointment(patient_id: int, appointment_id: int):
    patient, appt = _appointment(patient_id, appointment_id)
    try:
        care.cancel_appointment(appt)
    except care.CareRefused as exc:
        flash(str(exc), "warning")
    else:
        trail.note(AUDIT_CANCELLED_APPOINTMENT, patient, summary=care.describe(appt))
        flash(f"Cancelled: {care.describe(appt)}. No reminder will go out.", "success")
    return redirect(url_for("patients.show", patient_id=patient.id) + "#upcoming")


@bp.post("/<int:patient_id>/paperwork")
@access(STAFF)
def add_paperwork(patient_id: int):
    patient = patients.get_visible(current_user, patient_id) or abort(404)
    name = request.form.get("name", "")
    try:
        item = care.add_paperwork(patient, name)
    except care.CareRefused as exc:
        return _profile(patient, form_error=str(exc), form_name=name)
    trail.note(AUDIT_ADDED_PAPERWORK, patient, summary=item.name)
    flash(f"“{item.name}” added to the outstanding paperwork.", "success")
    return redirect(url_for("patients.show", patient_id=patient.id) + "#paperwork")


@bp.post("/<int:patient_id>/paperwork/<int:paperwork_id>/complete")
@access(STAFF)
def complete_paperwork(patient_id: int, paperwork_id: int):
    patient = patients.get_visible(current_user, patient_id) or abort(404)
    item = care.get_paperwork(patient, paperwork_id) or abort(404)
    if care.complete_paperwork(item):
        trail.note(AUDIT_COMPLETED_PAPERWORK, patient, summary=item.name)
        flash(f"“{item.name}” marked completed.", "success")
    return redirect(url_for("patients.show", patient_id=patient.id) + "#paperwork")


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


# ---- Import patients (a CSV) -------------------------------------------------------------


def _kind() -> str:
    # In the query string, the upload form's too: reading the form of a body over the
    # limit would raise again in the handler that says so.
    kind = request.args.get("kind", IMPORT_PATIENTS)
    return kind if kind in imports.KINDS else IMPORT_PATIENTS


def _import_page(*, error=None, default_clinic_id: str = "", status: int = 200):
    clinics = visible_clinics(current_user)
    kind = _kind()
    return render_template(
        "patients/import.html", error=error, clinics=clinics, kind=kind,
        noun=imports.kind_of(kind).NOUN,
        default_clinic_id=default_clinic_id or str(clinics[0].id if clinics else ""),
        recent=imports.recent_imports(current_user), max_size=_max_size(),
    ), (422 if error else status)  # fmt: skip


def _max_size() -> str:
    limit = current_app.config["IMPORT_MAX_BYTES"]
    if limit >= 1024 * 1024:
        return f"{limit // (1024 * 1024)} MB"
    return f"{max(1, limit // 1024)} KB"


def import_too_large(_error):
    """A body over the limit: at Import, the page again with the limit in words (the
    access check ran first); anywhere else, the plain error page."""
    if request.path == IMPORT_PATH and current_user.is_authenticated:
        return _import_page(
            error=f"That file is larger than {_max_size()}. Split it into smaller files "
            "(keep the header row in each) and import them one after the other."
        )[0], 413
    return render_template("errors/error.html", code=413), 413


@bp.route("/import", methods=["GET", "POST"])
@access(ADMIN)
def import_upload():
    """Import patients or appointments (`kind`): choose a CSV file (up to
    IMPORT_MAX_BYTES, allowed for this route only) and the clinic for rows that name
    none; the columns are guessed and previewed."""
    if request.method == "GET":
        return _import_page()
    clinic = request.form.get("default_clinic_id", "")
    file = request.files.get("file")
    try:
        item = imports.upload(
            current_user, _kind(), (file.filename or "") if file else "",
            file.read() if file else b"", clinic,
            ip=request.remote_addr, user_agent=request.headers.get("User-Agent"),
        )  # fmt: skip
    except imports.ImportRefused as exc:
        return _import_page(error=str(exc), default_clinic_id=clinic)
    return redirect(url_for("patients.import_show", import_id=item.id))


@bp.get("/import/template.csv")
@access(ADMIN)
def import_template():
    kind = _kind()
    return Response(
        imports.template_csv(kind), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{kind}-template.csv"'},
    )  # fmt: skip


def _preview(item, *, error=None):
    clinics = visible_clinics(imports.uploader(item, current_user))  # the job's choice
    # The file is kept only until its import ends (then only the skipped rows are).
    table = imports.table_of(item) if item.status == IMPORT_PREVIEW else None
    plan = None
    if table is not None and error is None:
        try:
            plan = imports.make_plan(current_user, item)
        except imports.ImportRefused as exc:
            error = str(exc)
    return render_template(
        "patients/import_preview.html", item=item, table=table, plan=plan,
        mapping=imports.mapping_of(item), rules=imports.kind_of(item), clinics=clinics,
        error=error, shown=imports.PREVIEW_PROBLEMS,
    ), (422 if error else 200)  # fmt: skip


@bp.route("/import/<int:import_id>", methods=["GET", "POST"])
@access(ADMIN)
def import_show(import_id: int):
    """The preview (columns, default clinic, every row's problem and the counts); once
    started, the progress, then the summary."""
    item = imports.settle(imports.get_import(current_user, import_id) or abort(404))
    if request.method == "POST" and item.status == IMPORT_PREVIEW:
        try:
            imports.choose(item, request.form)
        except imports.ImportRefused as exc:
            return _preview(item, error=str(exc))
    return _preview(item)


@bp.post("/import/<int:import_id>/start")
@access(ADMIN)
def import_start(import_id: int):
    item = imports.get_import(current_user, import_id) or abort(404)
    try:
        imports.start(current_user, item, remind_soon=request.form.get("remind_soon") == "1")
    except imports.ImportRefused as exc:
        return _preview(item, error=str(exc))
    return redirect(url_for("patients.import_show", import_id=item.id))


@bp.get("/import/<int:import_id>/progress")
@access(ADMIN)
def import_progress(import_id: int):
    """The progress card alone (htmx polls it every second while the import runs)."""
    item = imports.get_import(current_user, import_id) or abort(404)
    return render_template("patients/_import_progress.html", item=imports.settle(item))


@bp.get("/import/<int:import_id>/problems.csv")
@access(ADMIN)
def import_problems(import_id: int):
    """On the preview: every row the import would skip, with its reason."""
    item = imports.get_import(current_user, import_id) or abort(404)
    if item.status != IMPORT_PREVIEW:
        abort(404)
    try:
        text = imports.problems_csv(current_user, item)
    except imports.ImportRefused:
        abort(404)
    return Response(
        text, mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="rows-to-skip-{item.id}.csv"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip


@bp.get("/import/<int:import_id>/skipped.csv")
@access(ADMIN)
def import_skipped(import_id: int):
    item = imports.get_import(current_user, import_id) or abort(404)
    if item.status != IMPORT_DONE or not item.skipped_csv:
        abort(404)
    return Response(
        item.skipped_csv, mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="skipped-rows-{item.id}.csv"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip
