"""Plans, monthly lines and charges."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import (
    INBOX_ADDON_CENTS,
    LINE_INBOX,
    LINE_PLAN,
    PLAN_ACCELERATOR,
    PLAN_ESSENTIALS,
    Account,
    BillingLine,
    Charge,
    User,
    scoped,
    utcnow,
)
from ..models.accounts import PLAN_NAMES

PLAN_PRICES = {PLAN_ESSENTIALS: 14900, PLAN_ACCELERATOR: 24900}  # cents per month
PLAN_FEATURES = {
    PLAN_ESSENTIALS: ["Patient records and timeline", "Appointments and paperwork",
                      "Reminders from a shared number"],
    PLAN_ACCELERATOR: ["Everything in Essentials", "Two-way Inbox with your own local number",
                       "Reminders from your practice's number"],
}  # fmt: skip


class BillingRefused(Exception):
    """A plan change that cannot happen now; the message says why."""


def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def active_lines(account: Account) -> list[BillingLine]:
    return list(
        db.session.scalars(
            scoped(BillingLine, account.id)
            .where(BillingLine.ended_at.is_(None))
            .order_by(BillingLine.started_at)
        )
    )


def monthly_total(lines: list[BillingLine], plan: str | None = None) -> int:
    """What the active lines cost a month, in cents; with `plan`, as they would after a
    switch to it (the plan's line replaced, the rest as they are)."""
    if plan is None:
        return sum(line.amount_cents for line in lines)
    return PLAN_PRICES[plan] + sum(line.amount_cents for line in lines if line.kind != LINE_PLAN)


def recent_charges(account: Account, limit: int = 24) -> list[Charge]:
    return list(
        db.session.scalars(
            scoped(Charge, account.id).order_by(Charge.period.desc(), Charge.id.desc()).limit(limit)
        )
    )


def start_line(account: Account, kind: str, description: str, cents: int) -> BillingLine:
    line = BillingLine(
        account_id=account.id, kind=kind, description=description, amount_cents=cents
    )
    db.session.add(line)
    return line


def end_lines(account: Account, kind: str) -> None:
    for line in db.session.scalars(
        scoped(BillingLine, account.id).where(
            BillingLine.kind == kind, BillingLine.ended_at.is_(None)
        )
    ):
        line.ended_at = utcnow()


def start_inbox_addon(account: Account) -> None:
    end_lines(account, LINE_INBOX)
    start_line(account, LINE_INBOX, "Inbox add-on (two-way texting)", INBOX_ADDON_CENTS)


def start_plan(account: Account, plan: str) -> None:
    end_lines(account, LINE_PLAN)
    start_line(account, LINE_PLAN, PLAN_NAMES[plan], PLAN_PRICES[plan])


def plan_refusal(account: Account, plan: str) -> str | None:
    """Why the account cannot move to `plan` now (None: it can), said before anything is
    confirmed and again when it is asked for."""
    if plan != PLAN_ACCELERATOR and account.inbox_enabled:
        return (
            "The Inbox needs the Accelerator Plan. Turn the Inbox off in Inbox Settings "
            "before moving to the Essentials Plan."
        )
    return None


def change_plan(user: User, plan: str) -> None:
    account = user.account
    if not user.is_main_admin:
        raise PermissionError("Only the Main Admin can change the plan.")
    if plan not in PLAN_PRICES:
        raise BillingRefused("Pick one of the plans shown.")
    if plan == account.plan:
        return
    refusal = plan_refusal(account, plan)
    if refusal:
        raise BillingRefused(refusal)
    account.plan = plan
    start_plan(account, plan)
    db.session.commit()


def period_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def charge_month(moment: datetime | None = None) -> int:
    """Charge every active line once for the month of `moment`. Safe to run on every worker
    at once: the (line, period) unique key turns a second charge into a no-op."""
    moment = moment or utcnow()
    period = period_of(moment)
    made = 0
    lines = db.session.scalars(
        select(BillingLine).where(BillingLine.ended_at.is_(None), BillingLine.started_at <= moment)
    ).all()
    for line in lines:
        already = db.session.scalar(
            select(Charge.id).where(Charge.billing_line_id == line.id, Charge.period == period)
        )
        if already:
            continue
        try:
            with db.session.begin_nested():
                db.session.add(
                    Charge(
                        account_id=line.account_id,
                        billing_line_id=line.id,
                        period=period,
                        amount_cents=line.amount_cents,
                    )
                )
            made += 1
        except IntegrityError:
            pass  # another worker charged it a moment ago
    db.session.commit()
    return made
