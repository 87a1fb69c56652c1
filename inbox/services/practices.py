"""A practice from nothing: the account, its first clinic and its Main Admin, who sets a
password through a one-time link. The first run of a real installation starts here."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import exists, func, select

from ..extensions import db
from ..models import (
    LINK_INVITATION,
    PRIVILEGE_INBOX,
    ROLE_MAIN_ADMIN,
    Account,
    AuditEvent,
    Clinic,
    User,
)
from ..models.accounts import PLAN_NAMES
from ..models.audit import AUDIT_CREATED_PRACTICE
from ..models.base import utcnow
from ..timefmt import DEFAULT_TIMEZONE
from . import billing, clinics, links

NAME_CHARS = 120


class PracticeRefused(ValueError):
    """Why nothing was created, in words."""


@dataclass(frozen=True)
class NewPractice:
    account: Account
    main_admin: User
    token: str


def any_practice() -> bool:
    """Whether this server has a practice yet (the login page says how to make one)."""
    return bool(db.session.scalar(select(exists().select_from(Account))))


def normalize_email(raw: str) -> str:
    """A deliverable-looking address, lower-cased; PracticeRefused otherwise."""
    try:
        checked = validate_email((raw or "").strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise PracticeRefused(f"{raw!r} is not a valid email address: {exc}") from exc
    return checked.normalized.lower()


def create(
    name: str,
    admin_email: str,
    admin_name: str,
    timezone: str = DEFAULT_TIMEZONE,
    plan: str = "essentials",
) -> NewPractice:
    """Create the practice, its first clinic (named after it) and its Main Admin (no
    password yet: the returned token's link sets it). All or nothing; commits."""
    name = " ".join((name or "").split())
    admin_name = " ".join((admin_name or "").split())
    if not name:
        raise PracticeRefused("The practice needs a name.")
    if len(name) > NAME_CHARS:
        raise PracticeRefused(f"The practice's name is too long (at most {NAME_CHARS} letters).")
    if not admin_name:
        raise PracticeRefused("The Main Admin needs a name (--admin-name).")
    if len(admin_name) > NAME_CHARS:
        raise PracticeRefused(f"The Main Admin's name is too long (at most {NAME_CHARS} letters).")
    email = normalize_email(admin_email)
    if timezone not in clinics.time_zones():  # as Settings › Clinics accepts them
        raise PracticeRefused(
            f"{timezone!r} is not a place's time zone. Use an IANA name such as "
            "America/New_York, America/Chicago, America/Denver or America/Los_Angeles."
        )
    if plan not in PLAN_NAMES:
        raise PracticeRefused(f"Unknown plan {plan!r}: use {' or '.join(PLAN_NAMES)}.")
    taken = db.session.scalar(select(exists().where(func.lower(User.email) == email)))
    if taken:
        raise PracticeRefused(f"{email} already has a login on this server. Use another email.")

    account = Account(name=name, plan=plan, inbox_enabled=False)
    clinic = Clinic(account=account, name=name, timezone=timezone)
    admin = User(
        account=account, email=email, name=admin_name, role=ROLE_MAIN_ADMIN,
        privileges=[PRIVILEGE_INBOX], all_clinics=True, password_hash="",
    )  # fmt: skip
    db.session.add_all([account, clinic, admin])
    db.session.flush()
    billing.start_plan(account, plan)

    # Nobody of the practice did this: the server's operator did, from the command line.
    db.session.add(
        AuditEvent(
            account_id=account.id, user_id=None, action=AUDIT_CREATED_PRACTICE,
            object_type="user", object_id=admin.id, created_at=utcnow(),
            summary=f"From the command line, with {admin_name} as Main Admin",
        )
    )  # fmt: skip
    token = links.issue(admin, LINK_INVITATION)  # commits the whole practice with its link
    return NewPractice(account, admin, token)
