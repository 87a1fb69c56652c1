from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from ..services import inbox_settings
from ..services.access import uses_inbox
from .guards import PUBLIC, STAFF, access

bp = Blueprint("home", __name__)


@bp.get("/healthz")
@access(PUBLIC)
def healthz():
    """For load balancers and process managers: the process answers. Touches no database,
    so it is also the benchmarks' baseline (bench/run.py)."""
    return "ok", 200, {"Content-Type": "text/plain", "Cache-Control": "no-store"}


@bp.get("/")
@access(STAFF)
def index():
    if uses_inbox(current_user):
        return redirect(url_for("conversations.index"))
    return render_template(
        "home.html", turned_off=inbox_settings.was_turned_off(current_user.account_id)
    )
