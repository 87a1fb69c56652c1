"""The Inbox workspace. Thin: parse the request, call a service, render. Every list,
tab, filter and search answers an htmx request with a fragment and anything else with
the full page, so links, reload and back work without JavaScript."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user

from ..models import Message, get_scoped
from ..models.audit import (
    AUDIT_MARKED_READ,
    AUDIT_MARKED_UNREAD,
    AUDIT_RETRIED_TEXT,
    AUDIT_SENT_TEXT,
    AUDIT_VIEWED_CONVERSATION,
)
from ..services import conversations as convs
from ..services import inbox_settings, patients, reminders, segments, sending, templates
from ..services.access import visible_clinics
from ..services.conversations import Cursor, Filters
from ..services.sending import SendRefused
from . import security, trail
from .cached import cached_page
from .guards import INBOX, access

bp = Blueprint("conversations", __name__, url_prefix="/inbox")


def _htmx_target() -> str | None:
    return request.headers.get("HX-Target") if request.headers.get("HX-Request") else None


def _filters() -> Filters:
    source = request.form if request.method == "POST" else request.args
    return Filters.from_args(source, current_user)


def _inbox_off():
    if convs.inbox_number(current_user) is None:
        return render_template(
            "inbox/off.html", turned_off=inbox_settings.was_turned_off(current_user.account_id)
        )
    return None


def _workspace(f: Filters, conv=None, **extra) -> dict:
    rows, cursor = convs.list_page(current_user, f)
    return dict(
        f=f,
        rows=convs.keep_open_row(current_user, f, rows, cursor, conv),
        cursor=cursor,
        counts=convs.tab_counts(current_user, f),
        menu=convs.menu_counts(current_user, f.clinic_id, f.tab),
        clinics=visible_clinics(current_user),
        number=convs.inbox_number(current_user),
        **(_conversation_context(conv, **extra) if conv else {"conv": None}),
    )


def composer_context(conv, opened: convs.Opened | None = None) -> dict:
    """What the composer shows besides the box: whether there are saved replies (the
    Templates menu loads them when it is opened) and the outstanding forms (also for a
    live STOP / START, which brings the composer back). `opened`: already read with the
    conversation."""
    if opened is not None:
        return dict(
            has_templates=opened.has_templates,
            paperwork=opened.paperwork,
            paperwork_last=reminders.recent(opened.paperwork_last),
        )
    paperwork = patients.outstanding_paperwork(conv.patient)
    return dict(
        has_templates=templates.exist(conv.account_id),
        paperwork=len(paperwork),
        paperwork_last=reminders.reminded_recently(paperwork),
    )


def _conversation_context(conv, composer_error=None, draft="", find="", opened=None) -> dict:
    # The first screen of the conversation; older screens load as the user scrolls back. A
    # search inside the conversation looks further back.
    messages, older = convs.message_page(conv, limit=200 if find else convs.MESSAGE_PAGE)
    return dict(
        conv=conv,
        messages=messages,
        older=older,
        **composer_context(conv, opened),
        composer_error=composer_error,
        draft=draft,
        segment_info=segments.count((draft or "").strip()),
        find=find,
    )


def _segments_summary(message) -> str:
    """What the audit log may say about a text: its size, never its words."""
    return f"{message.segments} segment{'s' if message.segments != 1 else ''}, {message.encoding}"


def _counts_oob(f: Filters) -> dict:
    """What changes around the list when read state changes: tab counts, menu, badge."""
    return dict(
        f=f,
        counts=convs.tab_counts(current_user, f),
        menu=convs.menu_counts(current_user, f.clinic_id, f.tab),
        clinics=visible_clinics(current_user),
        oob=True,
    )


def _read_change_oob(f: Filters) -> dict:
    """What opening an unread conversation changes around the list: its row, the tab and
    menu counts, the badge (not the clinics, which did not change)."""
    return dict(
        f=f,
        counts=convs.tab_counts(current_user, f),
        menu=convs.menu_counts(current_user, f.clinic_id, f.tab),
        oob=True,
        read_change=True,
    )


@bp.get("")
@access(INBOX)
@cached_page
def index():
    if (off := _inbox_off()) is not None:
        return off
    f = _filters()
    if _htmx_target() == "list-body":
        ctx = _workspace(f)
        return render_template("inbox/_list_swap.html", **ctx)
    return render_template("inbox/index.html", **_workspace(f))


@bp.get("/list")
@access(INBOX)
@cached_page
def list_rows():
    if (off := _inbox_off()) is not None:
        return off
    f = _filters()
    rows, cursor = convs.list_page(current_user, f, Cursor.decode(request.args.get("after")))
    return render_template("inbox/_rows.html", rows=rows, cursor=cursor, f=f, conv=None)


@bp.get("/c/<int:conversation_id>")
@access(INBOX)
def show(conversation_id: int):
    opened = convs.open_visible(current_user, conversation_id) or abort(404)
    conv = opened.conv
    ours = not security.from_another_site()
    in_conversation = _htmx_target() == "messages"  # search inside the conversation: already viewed
    if ours and not in_conversation:
        trail.note(AUDIT_VIEWED_CONVERSATION, conv, commit=False)
    changed = convs.mark_opened(current_user, opened) if ours else False
    f = _filters()
    find = " ".join(request.args.get("find", "").split())[:80]
    if in_conversation:
        return render_template(
            "inbox/_conversation.html", **_conversation_context(conv, find=find, opened=opened), f=f
        )
    if _htmx_target() == "conversation-pane":
        # Around the pane, only what opening it changed (nothing, for a read one).
        around = _read_change_oob(f) if changed else {"f": f}
        return render_template(
            "inbox/_conversation_swap.html",
            **_conversation_context(conv, find=find, opened=opened),
            **around,
            c=conv,
            changed=changed,
        )
    return render_template("inbox/index.html", **_workspace(f, conv, find=find, opened=opened))


@bp.get("/c/<int:conversation_id>/templates")
@access(INBOX)
def saved_replies(conversation_id: int):
    """The Templates menu's items, filled in for this patient, when the menu is opened."""
    conv = convs.get_visible(current_user, conversation_id) or abort(404)
    return render_template("inbox/_template_items.html", templates=templates.for_conversation(conv))


@bp.get("/c/<int:conversation_id>/older")
@access(INBOX)
def older(conversation_id: int):
    """Scrolling back: the screen of messages before the cursor, by keyset."""
    conv = convs.get_visible(current_user, conversation_id) or abort(404)
    messages, cursor = convs.message_page(conv, Cursor.decode(request.args.get("before")))
    return render_template("inbox/_older.html", conv=conv, messages=messages, older=cursor)


@bp.post("/c/<int:conversation_id>/messages")
@access(INBOX)
def send(conversation_id: int):
    conv = convs.get_visible(current_user, conversation_id) or abort(404)
    body = request.form.get("body", "")
    error = None
    try:
        message = sending.send_reply(user=current_user, conversation_id=conv.id, body=body)
    except SendRefused as exc:
        error = str(exc)
    else:
        trail.note(AUDIT_SENT_TEXT, message, summary=_segments_summary(message))
    f = _filters()
    if _htmx_target():
        ctx = _conversation_context(conv, composer_error=error, draft=body if error else "")
        return render_template("inbox/_conversation_swap.html", **ctx, **_counts_oob(f), c=conv)
    if error:
        return render_template(
            "inbox/index.html", **_workspace(f, conv, composer_error=error, draft=body)
        ), 422
    return redirect(url_for("conversations.show", conversation_id=conv.id, **f.args()))


@bp.post("/c/<int:conversation_id>/read-state")
@access(INBOX)
def read_state(conversation_id: int):
    conv = convs.get_visible(current_user, conversation_id) or abort(404)
    unread = request.form.get("unread") == "1"
    convs.mark_many(current_user, [conv.id], unread=unread)
    trail.note(AUDIT_MARKED_UNREAD if unread else AUDIT_MARKED_READ, conv, summary="1 conversation")
    f = _filters()
    if _htmx_target():
        # The reply being typed (sent along by the form) comes back in the new composer.
        ctx = _conversation_context(conv, draft=request.form.get("body", ""))
        return render_template("inbox/_conversation_swap.html", **ctx, **_counts_oob(f), c=conv)
    return redirect(url_for("conversations.index", **f.args()))


@bp.post("/c/<int:conversation_id>/seen")
@access(INBOX)
def seen(conversation_id: int):
    """A live text arrived in the conversation this tab shows, while the tab is visible."""
    conv = convs.get_visible(current_user, conversation_id) or abort(404)
    convs.mark_many(current_user, [conv.id], unread=False)
    f = _filters()
    return render_template("inbox/_seen.html", **_counts_oob(f), c=conv, conv=conv)


@bp.post("/bulk")
@access(INBOX)
def bulk():
    f = _filters()
    unread = request.form.get("action") == "unread"
    changed = convs.mark_many(current_user, request.form.getlist("ids"), unread=unread)
    if changed:
        trail.note(
            AUDIT_MARKED_UNREAD if unread else AUDIT_MARKED_READ,
            summary=f"{changed} conversation{'s' if changed != 1 else ''} (bulk)",
        )
    if _htmx_target():
        return render_template("inbox/_list_swap.html", **_workspace(f))
    return redirect(url_for("conversations.index", **f.args()))


@bp.post("/messages/<int:message_id>/retry")
@access(INBOX)
def retry(message_id: int):
    # Visible first (account, clinic, active number), so nothing is re-sent for a conversation
    # this user may not open.
    message = get_scoped(Message, message_id, current_user.account_id)
    conv = convs.get_visible(current_user, message.conversation_id) if message else None
    if conv is None:
        abort(404)
    error = None
    try:
        message = sending.retry(user=current_user, message_id=message.id)
    except LookupError:
        abort(404)
    except SendRefused as exc:
        error = str(exc)
    else:
        trail.note(AUDIT_RETRIED_TEXT, message, summary=_segments_summary(message))
    f = _filters()
    if _htmx_target():
        ctx = _conversation_context(conv, composer_error=error, draft=request.form.get("body", ""))
        return render_template("inbox/_conversation_swap.html", **ctx, **_counts_oob(f), c=conv)
    return redirect(url_for("conversations.show", conversation_id=conv.id, **f.args()))


@bp.post("/segments")
@access(INBOX)
def segment_counter():
    return render_template(
        "inbox/_segments.html", info=segments.count((request.form.get("body") or "").strip())
    )


@bp.route("/new", methods=["GET", "POST"])
@access(INBOX)
def compose():
    if (off := _inbox_off()) is not None:
        return off
    clinics = visible_clinics(current_user)
    form = request.form if request.method == "POST" else request.args
    error = None
    if request.method == "POST":
        try:
            message = sending.send_new(
                user=current_user,
                clinic_id=form.get("clinic_id"),
                body=form.get("body", ""),
                patient_id=form.get("patient_id") or None,
                phone=form.get("phone") or None,
            )
        except SendRefused as exc:
            error = str(exc)
        else:
            trail.note(AUDIT_SENT_TEXT, message, summary=_segments_summary(message))
            target = url_for("conversations.show", conversation_id=message.conversation_id)
            if request.headers.get("HX-Request"):
                return "", 204, {"HX-Redirect": target}
            return redirect(target)
    picked = (
        patients.get_visible(current_user, form.get("patient_id", ""))
        if form.get("patient_id")
        else None
    )
    template = "inbox/_compose.html" if request.headers.get("HX-Request") else "inbox/compose.html"
    return render_template(template, clinics=clinics, error=error, form=form, picked=picked), (
        422 if error else 200
    )


@bp.get("/patients")
@access(INBOX)
def patient_options():
    q = request.args.get("q") or request.args.get("phone") or ""
    return render_template(
        "inbox/_patient_options.html", found=patients.search(current_user, q), q=q
    )


@bp.post("/c/<int:conversation_id>/paperwork-reminder")
@access(INBOX)
def paperwork_reminder(conversation_id: int):
    conv = convs.get_visible(current_user, conversation_id) or abort(404)
    error = None
    try:
        message = reminders.send_paperwork_reminder(
            user=current_user, patient_id=conv.patient_id, again=request.form.get("again") == "1"
        )
    except SendRefused as exc:
        error = str(exc)
    else:
        trail.note(AUDIT_SENT_TEXT, message, summary="paperwork reminder")
    f = _filters()
    if _htmx_target():
        ctx = _conversation_context(conv, composer_error=error, draft=request.form.get("body", ""))
        return render_template("inbox/_conversation_swap.html", **ctx, **_counts_oob(f), c=conv)
    if error:
        return render_template("inbox/index.html", **_workspace(f, conv, composer_error=error)), 422
    return redirect(url_for("conversations.show", conversation_id=conv.id, **f.args()))
