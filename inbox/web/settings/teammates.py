"""Settings › Teammates › Users: invitations, privileges and clinics, deactivation, handing
over the Main Admin."""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ...models.audit import (
    AUDIT_CHANGED_PRIVILEGES,
    AUDIT_DEACTIVATED_TEAMMATE,
    AUDIT_HANDED_OVER_MAIN_ADMIN,
    AUDIT_INVITED_TEAMMATE,
    AUDIT_REACTIVATED_TEAMMATE,
    AUDIT_RESENT_INVITATION,
    AUDIT_REVOKED_INVITATION,
)
from ...services import mail, teammates
from .. import trail
from ..guards import ADMIN, MAIN_ADMIN, access
from .blueprint import bp

# ---- Teammates > Users > Manage Privileges ------------------------------------------


def _user_page(teammate, chosen=None, error: str | None = None, action_error: str | None = None):
    if chosen is None:
        chosen = {
            "inbox": teammate.can_use_inbox,
            "all_clinics": teammate.all_clinics,
            "clinic_ids": set() if teammate.all_clinics else {c.id for c in teammate.clinics},
        }
    return render_template(
        "settings/user.html",
        teammate=teammate,
        chosen=chosen,
        error=error,
        action_error=action_error,
        teammates=teammates,
    ), (422 if error or action_error else 200)


@bp.route("/teammates/<int:user_id>", methods=["GET", "POST"])
@access(ADMIN)
def user(user_id: int):
    teammate = teammates.get(current_user, user_id) or abort(404)
    if request.method == "GET":
        return _user_page(teammate)
    # What the form shows when it is refused: what the admin sent.
    sent = {
        "inbox": request.form.get("inbox") == "on",
        "all_clinics": request.form.get("all_clinics") == "on",
        "clinic_ids": {int(c) for c in request.form.getlist("clinics") if c.isdigit()},
    }
    try:
        teammates.save_privileges(current_user, teammate, **sent)
    except teammates.TeammateRefused as exc:
        return _user_page(teammate, chosen=sent, error=str(exc))
    trail.note(AUDIT_CHANGED_PRIVILEGES, teammate, summary=teammates.describe(teammate))
    flash(f"Saved {teammate.name}'s privileges.", "success")
    return redirect(url_for("settings.user", user_id=teammate.id))


@bp.get("/teammates")
@access(ADMIN)
def users():
    return render_template(
        "settings/users.html",
        team=teammates.team(current_user),
        link_state=teammates.link_state,
    )


def _invite_form() -> dict:
    return {
        "name": request.form.get("name", ""),
        "email": request.form.get("email", ""),
        "role": request.form.get("role", ""),
        "inbox": request.form.get("inbox") == "on",
        "all_clinics": request.form.get("all_clinics") == "on",
        "clinic_ids": {int(c) for c in request.form.getlist("clinics") if c.isdigit()},
    }


@bp.route("/teammates/invite", methods=["GET", "POST"])
@access(ADMIN)
def invite():
    """Invite teammate: the form, then the invitation (emailed, or its link shown once)."""
    form = {"role": "staff", "inbox": True, "all_clinics": True, "clinic_ids": set()}
    error = None
    if request.method == "POST":
        form = _invite_form()
        try:
            invitation = teammates.invite(current_user, **form)
        except teammates.TeammateRefused as exc:
            error = str(exc)
        else:
            trail.note(
                AUDIT_INVITED_TEAMMATE, invitation.user,
                summary=f"{invitation.user.name} as {invitation.user.role_name}; "
                + teammates.describe(invitation.user),
            )  # fmt: skip
            return _invitation_sent(invitation)
    return render_template(
        "settings/invite.html", form=form, error=error, mail_configured=mail.configured()
    ), (422 if error else 200)


def _invitation_sent(invitation: teammates.Invitation):
    """Emailed: back to the list, saying so. No mail server: the link, this once (the
    database keeps only its hash, so no page can show it again)."""
    if invitation.emailed:
        flash(f"Invitation emailed to {invitation.user.email}.", "success")
        return redirect(url_for("settings.users") + "#invitations")
    response = make_response(render_template("settings/invited.html", invitation=invitation))
    response.headers["Cache-Control"] = "no-store"
    return response


def _teammate_action(user_id: int, act, action: str, done: str, summary: str = ""):
    """Resend, Revoke, Deactivate, Reactivate, Make Main Admin: the service decides; a
    refusal shows the teammate's page with the reason (422)."""
    teammate = teammates.get(current_user, user_id) or abort(404)
    try:
        result = act(current_user, teammate)
    except teammates.TeammateRefused as exc:
        return _user_page(teammate, action_error=str(exc))
    trail.note(action, teammate, summary=summary or teammate.name)
    if isinstance(result, teammates.Invitation):
        return _invitation_sent(result)
    flash(done.format(name=teammate.name), "success")
    if act is teammates.revoke:
        return redirect(url_for("settings.users") + "#invitations")
    return redirect(url_for("settings.user", user_id=teammate.id))


@bp.post("/teammates/<int:user_id>/resend")
@access(ADMIN)
def resend_invitation(user_id: int):
    return _teammate_action(user_id, teammates.resend, AUDIT_RESENT_INVITATION, "")


@bp.post("/teammates/<int:user_id>/revoke")
@access(ADMIN)
def revoke_invitation(user_id: int):
    return _teammate_action(
        user_id, teammates.revoke, AUDIT_REVOKED_INVITATION,
        "{name}'s invitation is revoked: the link no longer works.",
    )  # fmt: skip


@bp.post("/teammates/<int:user_id>/deactivate")
@access(ADMIN)
def deactivate(user_id: int):
    return _teammate_action(
        user_id, teammates.deactivate, AUDIT_DEACTIVATED_TEAMMATE,
        "{name} is deactivated and was signed out everywhere.",
    )  # fmt: skip


@bp.post("/teammates/<int:user_id>/reactivate")
@access(ADMIN)
def reactivate(user_id: int):
    return _teammate_action(
        user_id, teammates.reactivate, AUDIT_REACTIVATED_TEAMMATE, "{name} can sign in again."
    )


@bp.post("/teammates/<int:user_id>/main-admin")
@access(MAIN_ADMIN)
def hand_over(user_id: int):
    """Make Main Admin, from the confirm dialog: its Confirm button sends confirm=yes."""
    teammate = teammates.get(current_user, user_id) or abort(404)
    if request.form.get("confirm") != "yes":
        return _user_page(teammate, action_error="Nothing changed: confirm in the dialog.")
    return _teammate_action(
        user_id, teammates.hand_over, AUDIT_HANDED_OVER_MAIN_ADMIN,
        "{name} is now the Main Admin. You are an Admin.",
        summary=f"From {current_user.name} to {teammate.name}",
    )  # fmt: skip
