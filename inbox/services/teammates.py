"""Teammates: the Inbox privilege and clinic access, managed by admins."""

from __future__ import annotations

from collections.abc import Iterable

from .. import events
from ..extensions import db
from ..models import PRIVILEGE_INBOX, User, get_scoped, scoped


class TeammateRefused(Exception):
    pass


def list_users(admin: User) -> list[User]:
    return list(db.session.scalars(scoped(User, admin.account_id).order_by(User.name)))


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
    clinics = [c for c in admin.account.clinics if c.id in wanted]
    if not all_clinics and not clinics:
        raise TeammateRefused("Pick at least one clinic, or All Clinics.")
    privileges = set(user.privileges or [])
    if inbox:
        privileges.add(PRIVILEGE_INBOX)
    else:
        privileges.discard(PRIVILEGE_INBOX)
    user.privileges = sorted(privileges)
    user.all_clinics = all_clinics
    user.clinics = [] if all_clinics else clinics
    db.session.commit()
    events.publish(user.account_id, {"type": events.ACCESS, "user_id": user.id})


def describe(user: User) -> str:
    """A teammate's privileges in words, for the audit log."""
    inbox = "on" if user.can_use_inbox else "off"
    clinics = (
        "All Clinics" if user.all_clinics else ", ".join(c.name for c in user.clinics) or "none"
    )
    return f"Inbox privilege {inbox}; clinics: {clinics}"
