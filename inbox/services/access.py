"""Who may see what, decided here and nowhere else.

- Clinic scope: a teammate sees every clinic of the practice (the Main Admin, or "All
  clinics" in Settings › Users) or only theirs. `clinic_scope(user)` says which, as a value
  that checks one record (`allows`) or filters a query (`filter`); a record filed under no
  clinic belongs to every-clinic users only.
- The Inbox: a user uses it when they have the Inbox privilege and the practice has it on
  (`uses_inbox`), and may text from it on the same terms (`send_refusal`, in words). Routes
  are guarded by privilege in `web/guards.py`; whether a given text may go out (the
  patient's consent, the number, the body) is `sending`'s.

Views, live updates, services and templates (`clinic_scope`, `uses_inbox`) all ask here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..models import PLAN_ACCELERATOR, Account, Clinic, User


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


def inbox_off_words(account: Account) -> str:
    """Why nothing can be texted: the plan, when the plan is the reason."""
    if account.plan != PLAN_ACCELERATOR:
        return (
            "The Inbox is part of the Accelerator Plan, and this practice is on the "
            f"{account.plan_name} (Settings › Billing)."
        )
    return "The Inbox is turned off for this account."


def send_refusal(user: User) -> str | None:
    """Why this user (a teammate, or an API key) may not text from the Inbox now, in words;
    None: they may."""
    if not user.account.inbox_enabled:
        return inbox_off_words(user.account)
    if not user.can_use_inbox:
        return "You do not have the Inbox privilege."
    return None
