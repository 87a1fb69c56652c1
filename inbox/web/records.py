"""Settings › Records: the audit log and Export conversations (Main Admin only)."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    render_template,
    request,
    stream_with_context,
)
from flask_login import current_user

from ..models import utcnow
from ..models.audit import AUDIT_EXPORTED
from ..services import audit, export
from ..timefmt import local
from . import trail
from .guards import MAIN_ADMIN, access

bp = Blueprint("records", __name__, url_prefix="/settings")


@bp.get("/audit")
@access(MAIN_ADMIN)
def audit_log():
    account = current_user.account
    f = audit.LogFilters.from_args(request.args, account)
    before = audit.parse_cursor(request.args.get("before"))
    rows, next_before = audit.page(account, f, before)
    return render_template(
        "settings/audit.html",
        f=f,
        rows=rows,
        next_before=next_before,
        paged=before is not None,
        people=audit.people(account),
        actions=audit.ACTION_WORDS,
        tz=audit.account_timezone(account),
    )


@bp.route("/export", methods=["GET", "POST"])
@access(MAIN_ADMIN)
def export_conversations():
    """GET: the form. POST: the CSV, streamed, and an audit entry."""
    account = current_user.account
    today = local(utcnow(), audit.account_timezone(account)).date()
    if request.method == "GET":
        return render_template("settings/export.html", span=export.default_range(today), error=None)
    try:
        span = export.parse_range(request.form)
    except export.ExportRefused as exc:
        # The dates as the admin sent them, beside the reason.
        sent = {k: request.form.get(k, "")[:10] for k in ("from", "to")}
        return render_template(
            "settings/export.html", span=export.default_range(today), error=str(exc), sent=sent
        ), 422
    trail.note(AUDIT_EXPORTED, summary=f"Conversations, {span.label}")
    return Response(
        stream_with_context(export.export_csv(account, span)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{span.filename(account)}"',
            "Cache-Control": "no-store",
        },
    )
