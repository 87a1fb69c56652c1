"""Settings › Teammates › Clinics: add, edit, archive and restore."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ...extensions import db
from ...models.audit import (
    AUDIT_ADDED_CLINIC,
    AUDIT_ARCHIVED_CLINIC,
    AUDIT_EDITED_CLINIC,
    AUDIT_RESTORED_CLINIC,
)
from ...services import clinics, phones
from .. import trail
from ..guards import MAIN_ADMIN, access
from .blueprint import bp

# ---- Clinics ------------------------------------------------------------------------


def _clinic_form() -> clinics.ClinicForm:
    return clinics.ClinicForm(
        name=request.form.get("name", ""),
        address=request.form.get("address", ""),
        phone=request.form.get("phone", ""),
        timezone=request.form.get("timezone", ""),
    )


def _clinics_page(form: clinics.ClinicForm | None = None, error: str | None = None, editing=None):
    if form is None:
        form = (
            clinics.ClinicForm(
                name=editing.name,
                address=editing.address or "",
                phone=phones.display(editing.phone) if editing.phone else "",
                timezone=editing.timezone,
            )
            if editing
            else clinics.ClinicForm(timezone=current_user.account.active_clinics[0].timezone
                                    if current_user.account.active_clinics else "")
        )  # fmt: skip
    return render_template(
        "settings/clinics.html",
        clinics=clinics.all_clinics(current_user.account_id),
        form=form,
        error=error,
        editing=editing,
        time_zones=clinics.time_zones(),
    ), (422 if error else 200)


@bp.route("/clinics", methods=["GET", "POST"])
@access(MAIN_ADMIN)
def clinics_page():
    """Settings › Clinics: the list, and Add clinic."""
    if request.method == "GET":
        return _clinics_page()
    form = _clinic_form()
    try:
        clinic = clinics.save(current_user, None, form)
    except clinics.ClinicRefused as exc:
        return _clinics_page(form=form, error=str(exc))
    trail.note(AUDIT_ADDED_CLINIC, clinic, summary=clinics.describe(clinic))
    flash(f"{clinic.name} added.", "success")
    return redirect(url_for("settings.clinics_page") + f"#clinic-{clinic.id}")


@bp.route("/clinics/<int:clinic_id>", methods=["GET", "POST"])
@access(MAIN_ADMIN)
def clinic(clinic_id: int):
    """Edit one clinic: the same page, its form filled in."""
    editing = clinics.get(current_user.account_id, clinic_id) or abort(404)
    if request.method == "GET":
        return _clinics_page(editing=editing)
    form = _clinic_form()
    before = editing.name
    try:
        clinics.save(current_user, editing, form)
    except clinics.ClinicRefused as exc:
        db.session.rollback()
        return _clinics_page(form=form, error=str(exc), editing=editing)
    renamed = f"{before} → " if before != editing.name else ""
    trail.note(AUDIT_EDITED_CLINIC, editing, summary=renamed + clinics.describe(editing))
    flash(f"{editing.name} saved.", "success")
    return redirect(url_for("settings.clinics_page") + f"#clinic-{editing.id}")


def _clinic_action(clinic_id: int, act, action: str, done: str):
    """Archive or restore: `act(user, clinic)` may refuse in words; `done` is the flash
    ("{name}" filled in)."""
    target = clinics.get(current_user.account_id, clinic_id) or abort(404)
    try:
        act(current_user, target)
    except clinics.ClinicRefused as exc:
        return _clinics_page(error=str(exc))
    trail.note(action, target, summary=target.name)
    flash(done.format(name=target.name), "success")
    return redirect(url_for("settings.clinics_page") + f"#clinic-{target.id}")


@bp.post("/clinics/<int:clinic_id>/archive")
@access(MAIN_ADMIN)
def archive_clinic(clinic_id: int):
    return _clinic_action(
        clinic_id, clinics.archive, AUDIT_ARCHIVED_CLINIC,
        "{name} archived: it no longer shows in menus and pickers.",
    )  # fmt: skip


@bp.post("/clinics/<int:clinic_id>/restore")
@access(MAIN_ADMIN)
def restore_clinic(clinic_id: int):
    return _clinic_action(clinic_id, clinics.restore, AUDIT_RESTORED_CLINIC, "{name} restored.")
