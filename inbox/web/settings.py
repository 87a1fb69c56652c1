"""Settings: Profile, Inbox Settings (the number wizard), Teammates, Billing."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from ..extensions import db
from ..models import PLAN_ACCELERATOR
from ..models.accounts import PLAN_NAMES
from ..models.api import SCOPE_WORDS
from ..models.audit import (
    AUDIT_ADDED_CLINIC,
    AUDIT_ADDED_SAVED_REPLY,
    AUDIT_ARCHIVED_CLINIC,
    AUDIT_BOUGHT_NUMBER,
    AUDIT_CHANGED_PLAN,
    AUDIT_CHANGED_PRIVILEGES,
    AUDIT_CREATED_API_KEY,
    AUDIT_DEACTIVATED_TEAMMATE,
    AUDIT_DELETED_SAVED_REPLY,
    AUDIT_DISABLED_INBOX,
    AUDIT_EDITED_CLINIC,
    AUDIT_EDITED_SAVED_REPLY,
    AUDIT_ENABLED_INBOX,
    AUDIT_HANDED_OVER_MAIN_ADMIN,
    AUDIT_INVITED_TEAMMATE,
    AUDIT_REACTIVATED_TEAMMATE,
    AUDIT_REORDERED_SAVED_REPLIES,
    AUDIT_RESENT_INVITATION,
    AUDIT_RESTORED_CLINIC,
    AUDIT_REVOKED_API_KEY,
    AUDIT_REVOKED_INVITATION,
)
from ..services import (
    api_keys,
    audit,
    billing,
    clinics,
    inbox_settings,
    mail,
    numbers,
    phones,
    reminders,
    teammates,
    templates,
)
from ..services.sending import SendRefused
from . import trail
from .guards import ADMIN, MAIN_ADMIN, STAFF, access

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.get("")
@access(STAFF)
def index():
    return redirect(url_for("settings.profile"))


@bp.route("/profile", methods=["GET", "POST"])
@access(STAFF, POST=MAIN_ADMIN)
def profile():
    account = current_user.account
    error = None
    if request.method == "POST":
        name = " ".join(request.form.get("name", "").split())[:120]
        phone = request.form.get("contact_phone", "").strip()
        portal = request.form.get("portal_url", "").strip()[:255]
        try:
            e164 = phones.normalize(phone) if phone else None
        except phones.InvalidPhone as exc:
            error = str(exc)
        else:
            if not name:
                error = "The practice needs a name."
            elif portal and not portal.startswith(("https://", "http://")):
                error = "The portal link must start with https://"
            else:
                account.name, account.contact_phone, account.portal_url = name, e164, portal or None
                db.session.commit()
                flash("Saved.", "success")
                return redirect(url_for("settings.profile"))
    return render_template("settings/profile.html", account=account, error=error), (
        422 if error else 200
    )


# ---- Inbox Settings -----------------------------------------------------------------


@bp.get("/inbox")
@access(MAIN_ADMIN)
def inbox():
    return _inbox_page()


def _inbox_page(reminder_text: str | None = None, reminder_error: str | None = None) -> str:
    account = current_user.account
    if reminder_text is None:
        reminder_text = reminders.reminder_template(account)
    return render_template(
        "settings/inbox.html",
        account=account,
        number=inbox_settings.live_number(account.id),
        locked=account.plan != PLAN_ACCELERATOR,
        reminder_text=reminder_text,
        reminder_error=reminder_error,
        reminder_fields=reminders.REMINDER_FIELDS,
        reply_count=len(templates.saved_replies(account.id)),
    )


@bp.post("/inbox/reminders")
@access(MAIN_ADMIN)
def reminder_template():
    text = request.form.get("reminder_template", "")
    try:
        reminders.save_template(current_user.account, text)
    except SendRefused as exc:
        # The page again, with the reason beside the box and the text as typed.
        return _inbox_page(reminder_text=text, reminder_error=str(exc)), 422
    flash("Reminder text saved.", "success")
    return redirect(url_for("settings.inbox") + "#reminders")


# ---- Inbox Settings > Saved replies ------------------------------------------------------


def _replies_page(form=None, error: str | None = None, editing=None):
    account = current_user.account
    form = form if form is not None else {}
    body = form.get("body", editing.body if editing else "")
    return render_template(
        "settings/replies.html",
        replies=templates.saved_replies(account.id),
        editing=editing,
        form=form,
        error=error,
        preview=templates.preview(account, body) if body else None,
        fields=templates.FIELDS,
        sample=templates.sample_fields(account),
    ), (422 if error else 200)


def _reply_form() -> dict:
    return {
        "name": request.form.get("name", ""),
        "body": request.form.get("body", ""),
        "paperwork": request.form.get("paperwork") == "on",
    }


@bp.route("/inbox/replies", methods=["GET", "POST"])
@access(MAIN_ADMIN)
def replies():
    """Saved replies: the list staff pick from in the composer, and Add saved reply."""
    if request.method == "GET":
        return _replies_page()
    form = _reply_form()
    try:
        reply = templates.save_reply(current_user.account, None, **form)
    except templates.ReplyRefused as exc:
        return _replies_page(form=form, error=str(exc))
    trail.note(AUDIT_ADDED_SAVED_REPLY, summary=f"“{reply.name}”")
    flash(f"Saved reply “{reply.name}” added.", "success")
    return redirect(url_for("settings.replies") + f"#reply-{reply.id}")


@bp.route("/inbox/replies/<int:reply_id>", methods=["GET", "POST"])
@access(MAIN_ADMIN)
def reply(reply_id: int):
    """Edit one saved reply (the same page, its form filled in)."""
    editing = templates.get_reply(current_user.account_id, reply_id) or abort(404)
    if request.method == "GET":
        return _replies_page(editing=editing)
    form = _reply_form()
    try:
        templates.save_reply(current_user.account, editing, **form)
    except templates.ReplyRefused as exc:
        db.session.rollback()
        return _replies_page(form=form, error=str(exc), editing=editing)
    trail.note(AUDIT_EDITED_SAVED_REPLY, summary=f"“{editing.name}”")
    flash(f"Saved reply “{editing.name}” saved.", "success")
    return redirect(url_for("settings.replies") + f"#reply-{editing.id}")


@bp.post("/inbox/replies/<int:reply_id>/delete")
@access(MAIN_ADMIN)
def delete_reply(reply_id: int):
    reply = templates.get_reply(current_user.account_id, reply_id) or abort(404)
    name = reply.name
    templates.delete_reply(reply)
    trail.note(AUDIT_DELETED_SAVED_REPLY, summary=f"“{name}”")
    flash(f"Saved reply “{name}” deleted.", "success")
    return redirect(url_for("settings.replies"))


@bp.post("/inbox/replies/<int:reply_id>/move")
@access(MAIN_ADMIN)
def move_reply(reply_id: int):
    reply = templates.get_reply(current_user.account_id, reply_id) or abort(404)
    step = -1 if request.form.get("direction") == "up" else 1
    if templates.move_reply(current_user.account, reply, step):
        where = "up" if step < 0 else "down"
        trail.note(AUDIT_REORDERED_SAVED_REPLIES, summary=f"“{reply.name}” moved {where}")
    return redirect(url_for("settings.replies") + f"#reply-{reply.id}")


@bp.post("/inbox/replies/preview")
@access(MAIN_ADMIN)
def reply_preview():
    """The live preview under the box, as a sample patient would get the text."""
    body = request.form.get("body", "")
    return render_template(
        "settings/_reply_preview.html",
        preview=templates.preview(current_user.account, body) if body.strip() else None,
        sample=templates.sample_fields(current_user.account),
    )


@bp.get("/inbox/setup")
@access(MAIN_ADMIN)
def setup():
    """Step 1, Choose a number: the area-code search, Select on each row, Continue."""
    account = current_user.account
    if account.plan != PLAN_ACCELERATOR:
        return redirect(url_for("settings.inbox"))
    if account.inbox_enabled:
        return redirect(url_for("conversations.index"))
    raw = request.args.get("area_code", "")
    selected = request.args.get("number", "")
    result, error = None, request.args.get("error")
    if raw:
        try:
            result = numbers.search(account, numbers.validate_area_code(raw))
        except numbers.InvalidAreaCode as exc:
            error = str(exc)
    # The list alone for the search's own requests; a page for a visit, or for Finish
    # Setup's boosted form sent back here (a boosted request wants the whole page).
    partial = request.headers.get("HX-Request") and not request.headers.get("HX-Boosted")
    template = "settings/_choose.html" if partial else "settings/setup.html"
    return render_template(
        template, area_code=raw, result=result, selected=selected, error=error
    ), (422 if error and not result else 200)


@bp.route("/inbox/setup/review", methods=["GET", "POST"])
@access(MAIN_ADMIN)
def review():
    """Step 2, the review screen before Finish Setup: a GET, so Back, Forward and reload
    keep it (a POST from an older page still works)."""
    number = request.values.get("number", "")
    area_code = request.values.get("area_code", "")
    if not number:
        return redirect(
            url_for("settings.setup", area_code=area_code, error="Select a number first.")
        )
    return render_template(
        "settings/review.html", number=number, area_code=area_code, addon=billing.money(500)
    )


@bp.post("/inbox/setup/finish")
@access(MAIN_ADMIN)
def finish():
    number = request.form.get("number", "")
    area_code = request.form.get("area_code", "")
    was_on = current_user.account.inbox_enabled  # a second click of Finish Setup buys nothing
    try:
        bought = inbox_settings.enable(current_user, number)
    except inbox_settings.SetupError as exc:
        if exc.back_to_list:
            return redirect(url_for("settings.setup", area_code=area_code, error=str(exc)))
        # Vonage refused or is down: the page again with why. 502 to a plain form; to the
        # boosted form 422, the status htmx swaps (base.html's responseHandling), at the
        # review page's own address (a reload shows it again, never a GET of this POST).
        page = render_template(
            "settings/review.html", number=number, area_code=area_code,
            addon=billing.money(500), error=str(exc),
        )  # fmt: skip
        if request.headers.get("HX-Request"):
            review_url = url_for("settings.review", number=number, area_code=area_code)
            return page, 422, {"HX-Replace-Url": review_url}
        return page, 502
    if not was_on:
        trail.note(AUDIT_BOUGHT_NUMBER, bought)
        trail.note(AUDIT_ENABLED_INBOX, bought)
    if request.headers.get("HX-Request"):  # a whole page load: the Inbox's live socket with it
        return "", 204, {"HX-Redirect": url_for("settings.done")}
    return redirect(url_for("settings.done"))


@bp.get("/inbox/setup/done")
@access(MAIN_ADMIN)
def done():
    """Step 3, Done: the number, big, to write down (the article's advice), then the Inbox."""
    number = inbox_settings.live_number(current_user.account.id)
    if number is None:
        return redirect(url_for("settings.inbox"))
    return render_template("settings/done.html", number=number)


@bp.route("/inbox/disable", methods=["GET", "POST"])
@access(MAIN_ADMIN)
def disable():
    """GET: the confirmation (a popup with JavaScript, this page without). POST: Confirm."""
    if request.method == "GET":
        return render_template(
            "settings/disable.html", number=inbox_settings.live_number(current_user.account_id)
        )
    released = inbox_settings.disable(current_user)
    trail.note(AUDIT_DISABLED_INBOX, released, summary="The number is being released")
    flash("The Inbox is off and its number is being released.", "info")
    return redirect(url_for("settings.inbox"))


# ---- Billing > Subscriptions --------------------------------------------------------


@bp.route("/billing", methods=["GET", "POST"])
@access(MAIN_ADMIN)
def subscriptions():
    account = current_user.account
    error = None
    if request.method == "POST":
        before = account.plan_name
        try:
            billing.change_plan(current_user, request.form.get("plan", ""))
        except billing.BillingRefused as exc:
            error = str(exc)
        else:
            if account.plan_name != before:
                trail.note(AUDIT_CHANGED_PLAN, summary=f"{before} → {account.plan_name}")
            flash(f"You are now on the {account.plan_name}.", "success")
            return redirect(url_for("settings.subscriptions"))
    lines = billing.active_lines(account)
    return render_template(
        "settings/billing.html",
        account=account,
        lines=lines,
        total=billing.monthly_total(lines),
        charges=billing.recent_charges(account),
        plans=[
            (
                key,
                PLAN_NAMES[key],
                billing.PLAN_PRICES[key],
                billing.PLAN_FEATURES[key],
                billing.monthly_total(lines, key),
                billing.plan_refusal(account, key),
            )
            for key in billing.PLAN_PRICES
        ],
        money=billing.money,
        error=error,
    ), (422 if error else 200)


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


# ---- Settings › Integrations: API keys -----------------------------------------------------


def _integrations_page(form: dict | None = None, error: str | None = None, created=None):
    account = current_user.account
    response = make_response(
        render_template(
            "settings/integrations.html",
            keys=api_keys.keys(account.id),
            form=form or {"name": "", "scopes": ["read"]},
            error=error,
            created=created,
            scopes=SCOPE_WORDS,
            tz=audit.account_timezone(account),
        ),
        422 if error else 200,
    )
    response.headers["Cache-Control"] = "no-store"  # the new secret is shown once
    return response


@bp.route("/integrations", methods=["GET", "POST"])
@access(MAIN_ADMIN)
def integrations():
    """Settings › Integrations: the practice's API keys, and Create API key (the secret is
    shown once, on the answer to the POST)."""
    if request.method == "GET":
        return _integrations_page()
    form = {"name": request.form.get("name", ""), "scopes": request.form.getlist("scopes")}
    try:
        key, secret = api_keys.create(
            current_user.account_id, form["name"], form["scopes"], created_by=current_user
        )
    except api_keys.KeyRefused as exc:
        return _integrations_page(form=form, error=str(exc))
    trail.note(AUDIT_CREATED_API_KEY, key, summary=f"“{key.name}”, scopes {key.scopes}")
    return _integrations_page(created=(key, secret))


@bp.post("/integrations/<int:key_id>/revoke")
@access(MAIN_ADMIN)
def revoke_api_key(key_id: int):
    key = api_keys.get(current_user.account_id, key_id) or abort(404)
    if api_keys.revoke(key):
        trail.note(AUDIT_REVOKED_API_KEY, key, summary=f"“{key.name}”")
        flash(f"API key “{key.name}” revoked: requests made with it are refused.", "success")
    return redirect(url_for("settings.integrations") + f"#api-key-{key.id}")
