"""The Inbox: conversation list, thread, composer. Thin: parse, call a service, render."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user

from ..services import conversations as convs
from ..services import messaging
from ..services.messaging import SendRefused
from .guards import inbox_required

bp = Blueprint("conversations", __name__, url_prefix="/inbox")

TABS = ("unread", "read")


def _tab() -> str:
    tab = request.args.get("tab", "unread")
    return tab if tab in TABS else "unread"


def _page_context(tab: str, open_conv=None, composer_error=None, draft=""):
    rows, cursor = convs.list_page(current_user, unread=(tab == "unread"))
    return dict(
        tab=tab,
        rows=rows,
        cursor=cursor,
        counts=convs.tab_counts(current_user),
        number=messaging.active_number(current_user.account_id),
        conv=open_conv,
        messages=convs.thread(open_conv) if open_conv else [],
        composer_error=composer_error,
        draft=draft,
    )


def _inbox_off():
    if not current_user.account.inbox_enabled or not messaging.active_number(
        current_user.account_id
    ):
        return render_template("inbox/off.html"), 200
    return None


@bp.get("")
@inbox_required
def index():
    if (off := _inbox_off()) is not None:
        return off
    return render_template("inbox/index.html", **_page_context(_tab()))


@bp.get("/list")
@inbox_required
def list_rows():
    if (off := _inbox_off()) is not None:
        return off
    tab = _tab()
    rows, cursor = convs.list_page(
        current_user,
        unread=(tab == "unread"),
        cursor=convs.Cursor.decode(request.args.get("after")),
    )
    return render_template("inbox/_rows.html", rows=rows, cursor=cursor, tab=tab, conv=None)


@bp.get("/c/<int:conversation_id>")
@inbox_required
def show(conversation_id: int):
    conv = convs.get_visible(current_user, conversation_id) or abort(404)
    convs.mark(conv, unread=False)
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "thread-pane":
        return render_template("inbox/_thread.html", conv=conv, messages=convs.thread(conv))
    tab = request.args.get("tab", "read")
    return render_template(
        "inbox/index.html", **_page_context(tab if tab in TABS else "read", conv)
    )


@bp.post("/c/<int:conversation_id>/messages")
@inbox_required
def send(conversation_id: int):
    conv = convs.get_visible(current_user, conversation_id) or abort(404)
    body = request.form.get("body", "")
    error = None
    try:
        messaging.queue_outbound(user=current_user, conversation_id=conv.id, body=body)
    except SendRefused as exc:
        error = str(exc)
    if request.headers.get("HX-Request"):
        return render_template(
            "inbox/_thread.html",
            conv=conv,
            messages=convs.thread(conv),
            composer_error=error,
            draft=body if error else "",
        )
    if error:
        ctx = _page_context("read", conv, composer_error=error, draft=body)
        return render_template("inbox/index.html", **ctx), 422
    return redirect(url_for("conversations.show", conversation_id=conv.id))


@bp.post("/c/<int:conversation_id>/unread")
@inbox_required
def mark_unread(conversation_id: int):
    conv = convs.get_visible(current_user, conversation_id) or abort(404)
    convs.mark(conv, unread=True)
    return redirect(url_for("conversations.index", tab="unread"))
