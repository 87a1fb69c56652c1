"""Teammates: invitations, the Inbox privilege and clinic access, deactivation and the
Main Admin handover, managed by admins.

A teammate is one of three things: a member (active, with a password), an invitation
(active, no password yet: the invitation link sets it) or deactivated (active is False;
the row, their texts and their audit entries stay). Revoking an invitation deactivates the
never-activated login rather than deleting it: the audit log is append-only and refers to
the user (failed sign-ins against the invited email are recorded against it), and inviting
the same email again later brings the same row back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .. import events
from ..extensions import db
from ..models import (
    LINK_INVITATION,
    PRIVILEGE_INBOX,
    ROLE_ADMIN,
    ROLE_MAIN_ADMIN,
    ROLE_STAFF,
    OneTimeLink,
    User,
    get_scoped,
    scoped,
    utcnow,
)
from . import links
from .auth import sessions_ended
from .practices import PracticeRefused, normalize_email
from .sessions import end_sessions

NAME_CHARS = 120
# The roles an invitation may give: the Main Admin role is only ever handed over.
INVITE_ROLES = (ROLE_STAFF, ROLE_ADMIN)


class TeammateRefused(Exception):
    pass


def list_users(admin: User) -> list[User]:
    return list(db.session.scalars(scoped(User, admin.account_id).order_by(User.name)))


def is_invited(user: User) -> bool:
    """An invitation not taken up yet: the login exists, with no password."""
    return bool(user.active) and not user.password_hash


def is_revoked(user: User) -> bool:
    """An invitation that was revoked (or a login deactivated before it was ever used)."""
    return not user.active and not user.password_hash


@dataclass(frozen=True)
class Team:
    members: list[User]  # active, with a password
    invitations: list[tuple[User, OneTimeLink | None]]  # with the newest invitation link
    deactivated: list[User]


def team(admin: User) -> Team:
    """Settings › Teammates › Users: who is in, who is invited, who is switched off."""
    everyone = list_users(admin)
    invited = [u for u in everyone if is_invited(u)]
    newest: dict[int, OneTimeLink] = {}
    if invited:
        for link in db.session.scalars(
            select(OneTimeLink)
            .where(
                OneTimeLink.account_id == admin.account_id,
                OneTimeLink.purpose == LINK_INVITATION,
                OneTimeLink.user_id.in_([u.id for u in invited]),
            )
            .order_by(OneTimeLink.id)
        ):
            newest[link.user_id] = link
    return Team(
        members=[u for u in everyone if u.active and u.password_hash],
        invitations=[(u, newest.get(u.id)) for u in invited],
        deactivated=[u for u in everyone if not u.active and u.password_hash],
    )


def link_state(link: OneTimeLink | None, now: datetime | None = None) -> str:
    """An invitation's link in words for the list: waiting, expired, or gone."""
    if link is None or link.voided_at is not None or link.used_at is not None:
        return "No working link"
    if (now or utcnow()) >= link.expires_at:
        return "Expired"
    return "Waiting"


@dataclass(frozen=True)
class Invitation:
    user: User
    token: str
    emailed: bool

    @property
    def url(self) -> str:
        return links.url_for_token(self.token)


def _chosen_clinics(admin: User, all_clinics: bool, clinic_ids: Iterable[str | int]) -> list:
    wanted = {int(c) for c in clinic_ids if str(c).isdigit()}
    clinics = [c for c in admin.account.active_clinics if c.id in wanted]
    if not all_clinics and not clinics:
        raise TeammateRefused("Pick at least one clinic, or All Clinics.")
    return [] if all_clinics else clinics


def _may_manage(admin: User, user: User, doing: str) -> None:
    """Admins manage Staff and Admins of their own practice; nobody manages the Main Admin
    (the role is handed over instead) or switches themselves off."""
    if user.account_id != admin.account_id:
        raise LookupError("user")
    if admin.role not in (ROLE_MAIN_ADMIN, ROLE_ADMIN):
        raise TeammateRefused("Only admins manage teammates.")
    if user.id == admin.id:
        raise TeammateRefused(f"You cannot {doing} yourself.")
    if user.is_main_admin:
        raise TeammateRefused(
            f"You cannot {doing} the Main Admin. The Main Admin can hand the role to "
            "another teammate first."
        )


def invite(
    admin: User,
    *,
    name: str,
    email: str,
    role: str,
    inbox: bool,
    all_clinics: bool,
    clinic_ids: Iterable[str | int],
) -> Invitation:
    """Invite teammate: a login with no usable password, and an invitation link (72 hours)
    emailed to it, or, with no mail server, returned for the admin to copy. Commits.
    Raises TeammateRefused with the reason in words, creating nothing."""
    if admin.role not in (ROLE_MAIN_ADMIN, ROLE_ADMIN):
        raise TeammateRefused("Only admins invite teammates.")
    name = " ".join((name or "").split())
    if not name:
        raise TeammateRefused("Type the teammate's name.")
    if len(name) > NAME_CHARS:
        raise TeammateRefused(f"The name is too long (at most {NAME_CHARS} letters).")
    if not (email or "").strip():
        raise TeammateRefused("Type the teammate's email address.")
    # A login's email as typed first (it may predate today's address rules), then checked.
    existing = links.find_user(email)
    if existing is not None:
        address = existing.email
    else:
        try:
            address = normalize_email(email)
        except PracticeRefused:
            raise TeammateRefused(f"“{email.strip()}” is not a valid email address.") from None
        existing = links.find_user(address)
    if role not in INVITE_ROLES:
        raise TeammateRefused("Choose Admin or Staff.")
    clinics = _chosen_clinics(admin, all_clinics, clinic_ids)

    if existing is not None:
        if existing.account_id == admin.account_id and is_invited(existing):
            raise TeammateRefused(
                f"{address} is already invited. Use Resend under Invitations to send a new link."
            )
        if not (existing.account_id == admin.account_id and is_revoked(existing)):
            # Whichever practice it belongs to, the answer is the same.
            raise TeammateRefused(
                f"{address} already has a login on this server. Use another email address."
            )
        user = existing  # a revoked invitation, invited again
        user.active = True
    else:
        user = User(account_id=admin.account_id, email=address, password_hash="")
        db.session.add(user)
    user.name, user.role = name, role
    user.privileges = [PRIVILEGE_INBOX] if inbox else []
    user.all_clinics = all_clinics
    user.clinics = clinics
    try:
        db.session.flush()
    except IntegrityError:  # the same email, invited elsewhere at this very moment
        db.session.rollback()
        raise TeammateRefused(
            f"{address} already has a login on this server. Use another email address."
        ) from None
    token = links.issue(user, LINK_INVITATION)  # commits the login with its link
    return Invitation(user, token, links.email_link(user, LINK_INVITATION, token))


def resend(admin: User, user: User) -> Invitation:
    """A new invitation link; the old one stops working. Commits."""
    _may_manage(admin, user, "resend an invitation to")
    if not is_invited(user):
        raise TeammateRefused(f"{user.name} has no invitation waiting.")
    token = links.issue(user, LINK_INVITATION)
    return Invitation(user, token, links.email_link(user, LINK_INVITATION, token))


def revoke(admin: User, user: User) -> None:
    """The invitation link stops working and the never-used login is switched off (kept,
    so the audit log's entries about it still name it). Commits."""
    _may_manage(admin, user, "revoke the invitation of")
    if not is_invited(user):
        raise TeammateRefused(f"{user.name} has no invitation waiting.")
    links.void_outstanding(user)
    user.active = False
    end_sessions(user)
    db.session.commit()
    sessions_ended(user)


def deactivate(admin: User, user: User) -> None:
    """Switch a login off: every session ends now (open tabs and live sockets too), it
    cannot sign in or use a link, and its texts and audit entries stay. Commits."""
    _may_manage(admin, user, "deactivate")
    if is_invited(user):
        raise TeammateRefused(f"{user.name} has not joined yet: revoke the invitation instead.")
    if not user.active:
        raise TeammateRefused(f"{user.name} is already deactivated.")
    # Conditional: a handover that made this user Main Admin a moment ago wins.
    switched = db.session.execute(
        update(User)
        .where(User.id == user.id, User.active.is_(True), User.role != ROLE_MAIN_ADMIN)
        .values(active=False)
    ).rowcount
    if switched != 1:
        db.session.rollback()
        raise TeammateRefused(f"{user.name} cannot be deactivated now. Reload the page.")
    db.session.refresh(user)
    links.void_outstanding(user)
    end_sessions(user)
    db.session.commit()
    sessions_ended(user)


def reactivate(admin: User, user: User) -> None:
    """A deactivated teammate may sign in again with their password. Commits."""
    _may_manage(admin, user, "reactivate")
    if user.active:
        raise TeammateRefused(f"{user.name} is already active.")
    if not user.password_hash:
        raise TeammateRefused(f"{user.name} never joined. Invite them again with Invite teammate.")
    user.active = True
    db.session.commit()


def hand_over(main_admin: User, user: User) -> None:
    """Make Main Admin: `user` becomes the Main Admin and the giver an Admin, keeping the
    Inbox privilege and All Clinics. Only the Main Admin can; the practice always has
    exactly one. Commits."""
    if user.account_id != main_admin.account_id:
        raise LookupError("user")
    if not main_admin.is_main_admin:
        raise TeammateRefused("Only the Main Admin can hand over the role.")
    if user.id == main_admin.id:
        raise TeammateRefused("You are the Main Admin already.")
    if not user.active:
        raise TeammateRefused(f"{user.name} is deactivated: reactivate them first.")
    if is_invited(user):
        raise TeammateRefused(f"{user.name} has not joined yet: they need to set a password first.")
    # One conditional update each: two handovers at once cannot leave two Main Admins or none.
    gave = db.session.execute(
        update(User)
        .where(User.id == main_admin.id, User.role == ROLE_MAIN_ADMIN)
        .values(role=ROLE_ADMIN, all_clinics=True)
    ).rowcount
    took = db.session.execute(
        update(User)
        .where(User.id == user.id, User.active.is_(True), User.account_id == main_admin.account_id)
        .values(role=ROLE_MAIN_ADMIN, all_clinics=True)
    ).rowcount
    if gave != 1 or took != 1:
        db.session.rollback()
        raise TeammateRefused("The Main Admin changed meanwhile. Reload the page.")
    db.session.refresh(main_admin)
    db.session.refresh(user)
    main_admin.privileges = sorted(set(main_admin.privileges or []) | {PRIVILEGE_INBOX})
    user.privileges = sorted(set(user.privileges or []) | {PRIVILEGE_INBOX})
    user.clinics = []
    db.session.commit()
    for who in (main_admin, user):
        events.publish(who.account_id, events.access_changed(who.id))


def get(admin: User, user_id: int | str) -> User | None:
    return get_scoped(User, user_id, admin.account_id)


def save_privileges(
    admin: User,
    user: User,
    *,
    inbox: bool,
    all_clinics: bool,
    clinic_ids: Iterable[str | int],
) -> None:
    """Manage Privileges > Save. Takes effect on the user's next request, and at once in
    the user's open Inbox tabs (the list re-read for new clinics, closed for no Inbox)."""
    if user.account_id != admin.account_id:
        raise LookupError("user")
    if user.is_main_admin:
        raise TeammateRefused("The Main Admin always has every privilege and every clinic.")
    wanted = {int(c) for c in clinic_ids if str(c).isdigit()}
    clinics = [c for c in admin.account.active_clinics if c.id in wanted]
    if not all_clinics and not clinics:
        raise TeammateRefused("Pick at least one clinic, or All Clinics.")
    # Archived clinics are not offered, so not sent: the teammate keeps the ones they had.
    clinics += [c for c in user.clinics if c.archived]
    privileges = set(user.privileges or [])
    if inbox:
        privileges.add(PRIVILEGE_INBOX)
    else:
        privileges.discard(PRIVILEGE_INBOX)
    user.privileges = sorted(privileges)
    user.all_clinics = all_clinics
    user.clinics = [] if all_clinics else clinics
    db.session.commit()
    events.publish(user.account_id, events.access_changed(user.id))


def describe(user: User) -> str:
    """A teammate's privileges in words, for the audit log."""
    inbox = "on" if user.can_use_inbox else "off"
    clinics = (
        "All Clinics" if user.all_clinics else ", ".join(c.name for c in user.clinics) or "none"
    )
    return f"Inbox privilege {inbox}; clinics: {clinics}"
