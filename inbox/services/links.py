"""One-time links to set or reset a password.

A link carries a random token; the database keeps only its SHA-256. A link works once,
until it expires (72 hours for an invitation, 1 hour for a reset), and stops working as
soon as a newer link for the same person and purpose is issued or the password changes."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from ..extensions import db
from ..models import LINK_INVITATION, LINK_RESET, OneTimeLink, User, utcnow
from ..models.audit import AUDIT_REQUESTED_RESET
from . import audit, mail, passwords
from .auth import sessions_ended
from .sessions import end_sessions

log = logging.getLogger(__name__)

LIFETIMES = {LINK_INVITATION: timedelta(hours=72), LINK_RESET: timedelta(hours=1)}

# Why a link does not work, in words for the person who clicked it.
UNKNOWN = "unknown"
USED = "used"
EXPIRED = "expired"
REPLACED = "replaced"
INACTIVE = "inactive"
REASONS = {
    UNKNOWN: "This link is not a valid password link. Check that you copied all of it.",
    USED: "This link was already used. Each link works once.",
    EXPIRED: "This link has expired.",
    REPLACED: "A newer link was sent since this one, or the password was changed.",
    INACTIVE: "This login is switched off. Ask your practice's Main Admin.",
}


class LinkRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(REASONS[reason])
        self.reason = reason


def hash_token(token: str) -> str:
    return hashlib.sha256((token or "").encode("utf-8", "replace")).hexdigest()


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def expiry(purpose: str, now: datetime) -> datetime:
    return now + LIFETIMES[purpose]


def refusal(link: OneTimeLink | None, now: datetime) -> str | None:
    """Why this link does not work at `now`, or None if it does."""
    if link is None:
        return UNKNOWN
    if link.used_at is not None:
        return USED
    if link.voided_at is not None:
        return REPLACED
    if now >= link.expires_at:
        return EXPIRED
    return None


def url_for_token(token: str) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL']}/password/set/{token}"


def void_outstanding(user: User, purpose: str | None = None, now: datetime | None = None) -> None:
    """Every unused link of `user` (of one purpose, or all) stops working. No commit."""
    stmt = update(OneTimeLink).where(
        OneTimeLink.user_id == user.id,
        OneTimeLink.used_at.is_(None),
        OneTimeLink.voided_at.is_(None),
    )
    if purpose is not None:
        stmt = stmt.where(OneTimeLink.purpose == purpose)
    db.session.execute(stmt.values(voided_at=now or utcnow()))


def issue(user: User, purpose: str, now: datetime | None = None) -> str:
    """A new link for `user`; every earlier one stops working, whatever its purpose (one
    live link a person). Commits and returns the token (the only time it exists outside
    the link)."""
    now = now or utcnow()
    void_outstanding(user, None, now)
    token = new_token()
    db.session.add(
        OneTimeLink(
            account_id=user.account_id,
            user_id=user.id,
            purpose=purpose,
            token_hash=hash_token(token),
            expires_at=expiry(purpose, now),
            created_at=now,
        )
    )
    db.session.commit()
    return token


@dataclass(frozen=True)
class OpenLink:
    link: OneTimeLink
    user: User

    @property
    def purpose(self) -> str:
        return self.link.purpose


def open_link(token: str, now: datetime | None = None) -> OpenLink:
    """The link behind a token, if it still works; else LinkRefused with the reason."""
    link = db.session.scalars(
        select(OneTimeLink).where(OneTimeLink.token_hash == hash_token(token))
    ).first()
    reason = refusal(link, now or utcnow())
    if reason:
        raise LinkRefused(reason)
    assert link is not None
    if not link.user.is_active:
        raise LinkRefused(INACTIVE)
    return OpenLink(link, link.user)


def personal_words(user: User) -> list[str]:
    return [user.name, user.email, user.account.name]


def use(token: str, password: str, confirm: str, now: datetime | None = None) -> OpenLink:
    """Set the password through a link: the link is used up, every other link of the
    person stops working and all their sessions end. Commits. Raises LinkRefused or
    passwords.PasswordRefused."""
    now = now or utcnow()
    opened = open_link(token, now)
    if password != confirm:
        raise passwords.PasswordRefused("The two passwords do not match.")
    passwords.check(password, personal=personal_words(opened.user))
    # One use only, even with two tabs submitting at once: the conditional update claims it.
    claimed = db.session.execute(
        update(OneTimeLink)
        .where(OneTimeLink.id == opened.link.id, OneTimeLink.used_at.is_(None))
        .values(used_at=now)
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        raise LinkRefused(USED)
    set_password(opened.user, password, now)
    db.session.commit()
    sessions_ended(opened.user)
    return opened


def set_password(user: User, password: str, now: datetime | None = None) -> None:
    """The new password, every outstanding link void, every session ended. No commit."""
    user.set_password(password)
    void_outstanding(user, None, now)
    end_sessions(user)


class WrongPassword(passwords.PasswordRefused):
    """The current password given was not the person's (the web layer throttles these)."""


def change_password(user: User, current: str, new: str, confirm: str) -> None:
    """From the person's own page: needs the current password. Commits."""
    if not current or not user.check_password(current):
        raise WrongPassword("Your current password is not right.")
    if new != confirm:
        raise passwords.PasswordRefused("The two new passwords do not match.")
    if new == current:
        raise passwords.PasswordRefused("The new password is the same as the current one.")
    passwords.check(new, personal=personal_words(user))
    set_password(user, new)
    db.session.commit()
    sessions_ended(user)


# ---- sending links ------------------------------------------------------------------

SUBJECTS = {
    LINK_INVITATION: "Set your Clinic Inbox password",
    LINK_RESET: "Reset your Clinic Inbox password",
}


def email_link(user: User, purpose: str, token: str) -> bool:
    """Queue the email carrying the link. False when no mail server is configured (or Redis
    refused it): the caller shows the link instead."""
    if not mail.configured():
        return False
    hours = int(LIFETIMES[purpose].total_seconds() // 3600)
    email = mail.render(
        purpose,
        to=user.email,
        subject=SUBJECTS[purpose],
        user=user,
        url=url_for_token(token),
        lifetime=f"{hours} hour" + ("" if hours == 1 else "s"),
    )
    return mail.queue(email)


def find_user(email: str) -> User | None:
    return db.session.scalars(
        select(User).where(func.lower(User.email) == (email or "").strip().lower())
    ).first()


def request_reset(email: str, ip: str | None = None, user_agent: str | None = None) -> bool:
    """The job behind "Forgot password?": if the email belongs to an active login, a reset
    link goes to it (or, with no mail server, to the log in development). The web request
    only queues this, so its answer and its timing are the same for any email.
    Returns whether a link was issued."""
    user = find_user(email)
    if user is None or not user.is_active:
        log.info("password reset asked for an email with no active login")
        return False
    # Someone still invited (no password yet) gets their invitation again, not a reset:
    # a new link replaces the old one, and a stranger who knows the address cannot swap a
    # 72-hour invitation for a 1-hour reset.
    purpose = LINK_RESET if user.password_hash else LINK_INVITATION
    token = issue(user, purpose)
    audit.record(
        user, AUDIT_REQUESTED_RESET, user,
        summary="Asked for a reset link by email" if purpose == LINK_RESET
        else "Asked by email for the invitation again",
        origin=audit.Origin(ip=ip, user_agent=user_agent),
    )  # fmt: skip
    if email_link(user, purpose, token):
        return True
    if current_app.config["ENV_NAME"] == "development":
        log.info("no mail server: the %s link for %s is %s", purpose, user.email,
                 url_for_token(token))  # fmt: skip
    elif not mail.configured():
        log.warning("no mail server configured (MAIL_SERVER): a reset link could not be sent")
    return True
