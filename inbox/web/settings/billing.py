"""Settings › Billing › Subscriptions: the plan."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from ...models.accounts import PLAN_NAMES
from ...models.audit import AUDIT_CHANGED_PLAN
from ...services import billing
from .. import trail
from ..guards import MAIN_ADMIN, access
from .blueprint import bp

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
