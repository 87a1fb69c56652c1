"""Settings › Clinics: the Main Admin adds, edits, archives and restores a practice's
clinics. An archived clinic leaves the menus and pickers (the Inbox clinic menu, New
message, Manage Privileges) while its conversations stay readable under its name; the
practice always keeps at least one active clinic."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from zoneinfo import available_timezones

from sqlalchemy import func, select

from ..extensions import db
from ..models import (
    APPOINTMENT_BOOKED,
    Account,
    Appointment,
    Clinic,
    User,
    get_scoped,
    scoped,
    utcnow,
)
from . import phones

NAME_CHARS = 120
ADDRESS_CHARS = 255
# Where people live: the IANA areas, without the legacy aliases (US/Eastern, EST5EDT,
# Etc/GMT+5 ...) that a practice should never have to choose between.
_AREAS = ("Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/",
          "Europe/", "Indian/", "Pacific/")  # fmt: skip


class ClinicRefused(ValueError):
    """Why nothing changed, in words."""


@cache
def time_zones() -> tuple[str, ...]:
    """The time zones offered (and accepted), sorted: IANA names of real places."""
    return tuple(sorted(z for z in available_timezones() if z.startswith(_AREAS)))


def all_clinics(account_id: int) -> list[Clinic]:
    """Active clinics by name, then archived ones."""
    rows = db.session.scalars(scoped(Clinic, account_id).order_by(Clinic.name)).all()
    return [c for c in rows if c.archived_at is None] + [c for c in rows if c.archived_at]


def get(account_id: int, clinic_id: int | str) -> Clinic | None:
    return get_scoped(Clinic, clinic_id, account_id)


@dataclass(frozen=True)
class ClinicForm:
    name: str = ""
    address: str = ""
    phone: str = ""
    timezone: str = ""


def _must_be_main_admin(user: User) -> None:
    if not user.is_main_admin:
        raise ClinicRefused("Only the Main Admin manages clinics.")


def save(user: User, clinic: Clinic | None, form: ClinicForm) -> Clinic:
    """Add clinic (clinic None) or save an edit. Commits. ClinicRefused says why not."""
    _must_be_main_admin(user)
    account: Account = user.account
    if clinic is not None and clinic.account_id != account.id:
        raise LookupError("clinic")
    name = " ".join((form.name or "").split())
    if not name:
        raise ClinicRefused("Type the clinic's name.")
    if len(name) > NAME_CHARS:
        raise ClinicRefused(f"The name is too long (at most {NAME_CHARS} letters).")
    taken = db.session.scalar(
        select(Clinic.id).where(
            Clinic.account_id == account.id,
            func.lower(Clinic.name) == name.lower(),
            Clinic.id != (clinic.id if clinic else -1),
        )
    )
    if taken:
        raise ClinicRefused(f"There is already a clinic named “{name}”. Choose another name.")
    address = " ".join((form.address or "").split())
    if len(address) > ADDRESS_CHARS:
        raise ClinicRefused(f"The address is too long (at most {ADDRESS_CHARS} letters).")
    try:
        phone = phones.normalize(form.phone) if (form.phone or "").strip() else None
    except phones.InvalidPhone as exc:
        raise ClinicRefused(str(exc)) from exc
    zone = (form.timezone or "").strip()
    if zone not in time_zones():
        raise ClinicRefused(
            "Choose the clinic's time zone from the list, such as America/New_York or "
            "America/Chicago."
            if not zone
            else f"“{zone}” is not a time zone. Choose one "
            "from the list, such as America/New_York or America/Chicago."
        )
    if clinic is None:
        clinic = Clinic(account_id=account.id)
        db.session.add(clinic)
    clinic.name, clinic.address, clinic.phone, clinic.timezone = name, address or None, phone, zone
    db.session.commit()
    return clinic


def archive(user: User, clinic: Clinic) -> None:
    """Archive: out of menus and pickers; conversations keep its name. Commits."""
    _must_be_main_admin(user)
    if clinic.account_id != user.account_id:
        raise LookupError("clinic")
    if clinic.archived_at is not None:
        raise ClinicRefused(f"{clinic.name} is already archived.")
    others = [
        c for c in all_clinics(user.account_id) if c.archived_at is None and c.id != clinic.id
    ]
    if not others:
        raise ClinicRefused(
            f"{clinic.name} is the only active clinic. Add another clinic before archiving it."
        )
    upcoming = db.session.scalar(
        select(func.count(Appointment.id)).where(
            Appointment.account_id == user.account_id,
            Appointment.clinic_id == clinic.id,
            Appointment.status == APPOINTMENT_BOOKED,
            Appointment.starts_at > utcnow(),
        )
    )
    if upcoming:
        # They would still be reminded, from a clinic nobody can pick to move them.
        raise ClinicRefused(
            f"{clinic.name} has {upcoming} upcoming appointment{'s' * (upcoming != 1)} still "
            "booked, and their reminders would still go out. Move them to another clinic or "
            "cancel them, then archive it."
        )
    clinic.archived_at = utcnow()
    db.session.commit()


def restore(user: User, clinic: Clinic) -> None:
    _must_be_main_admin(user)
    if clinic.account_id != user.account_id:
        raise LookupError("clinic")
    if clinic.archived_at is None:
        raise ClinicRefused(f"{clinic.name} is not archived.")
    clinic.archived_at = None
    db.session.commit()


def describe(clinic: Clinic) -> str:
    """For the audit log: name and zone (no phone numbers in the log)."""
    return f"{clinic.name} ({clinic.timezone})"
