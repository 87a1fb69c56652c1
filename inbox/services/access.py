"""Who may see what, decided here and nowhere else.

- Clinic scope: a teammate sees every clinic of the practice (the Main Admin, or "All
  clinics" in Settings › Users) or only theirs. `clinic_scope(user)` says which, as a value
  that checks one record (`allows`) or filters a query (`filter`); a record filed under no
  clinic belongs to every-clinic users only.
- The Inbox: a user uses it when they have the Inbox privilege and the practice has it on
  (`uses_inbox`). Routes are guarded by privilege in `web/guards.py`; whether a text may go
  out is `sending`'s (the send rules, with the reason in words).

Views, live updates, services and templates (`clinic_scope`, `uses_inbox`) all ask here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..models import Clinic, User


@dataclass(frozen=True)
class ClinicScope:
    """The clinics whose records a user may see."""

    every: bool  # every clinic of the practice, and records filed under none
    ids: frozenset[int] = frozenset()

    def allows(self, clinic_id: int | None) -> bool:
        return self.every or clinic_id in self.ids

    def filter(self, column: Any) -> tuple:
        """The WHERE conditions keeping `column` (a clinic id) to this scope: none for every
        clinic; for some, a record with no clinic is not theirs either."""
        return () if self.every else (column.in_(sorted(self.ids) or [-1]),)


def clinic_scope(user: User) -> ClinicScope:
    if user.all_clinics or user.is_main_admin:
        return ClinicScope(every=True)
    return ClinicScope(every=False, ids=frozenset(c.id for c in user.clinics))


def visible_clinics(user: User) -> list[Clinic]:
    """The clinics this user's menus and pickers offer: theirs, archived ones left out."""
    scope = clinic_scope(user)
    return [c for c in user.account.active_clinics if scope.allows(c.id)]


def uses_inbox(user: User) -> bool:
    """The Inbox privilege, in a practice whose Inbox is on."""
    return bool(user.can_use_inbox and user.account.inbox_enabled)
