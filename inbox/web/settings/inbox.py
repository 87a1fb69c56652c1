"""Settings › Inbox: turning the Inbox on (the number wizard: choose, review, finish, done)
and off, the reminder's words, and saved replies."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ...extensions import db
from ...models import PLAN_ACCELERATOR
from ...models.audit import (
    AUDIT_ADDED_SAVED_REPLY,
    AUDIT_BOUGHT_NUMBER,
    AUDIT_DELETED_SAVED_REPLY,
    AUDIT_DISABLED_INBOX,
    AUDIT_EDITED_SAVED_REPLY,
    AUDIT_ENABLED_INBOX,
    AUDIT_REORDERED_SAVED_REPLIES,
)
from ...services import billing, inbox_settings, numbers, reminders, templates
from ...services.sending import SendRefused
from .. import trail
from ..guards import MAIN_ADMIN, access
from .blueprint import bp

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
