"""Settings › Profile: the practice's name, contact phone and portal link."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from ...extensions import db
from ...services import phones
from ..guards import MAIN_ADMIN, STAFF, access
from .blueprint import bp


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
