from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from .guards import STAFF, access

bp = Blueprint("home", __name__)


@bp.get("/")
@access(STAFF)
def index():
    if current_user.can_use_inbox and current_user.account.inbox_enabled:
        return redirect(url_for("conversations.index"))
    return render_template("home.html")
