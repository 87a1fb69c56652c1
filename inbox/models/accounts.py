from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .base import TenantMixin, UTCDateTime, utcnow

PLAN_ESSENTIALS = "essentials"
PLAN_ACCELERATOR = "accelerator"
PLAN_NAMES = {PLAN_ESSENTIALS: "Essentials Plan", PLAN_ACCELERATOR: "Accelerator Plan"}

ROLE_MAIN_ADMIN = "main_admin"
ROLE_ADMIN = "admin"
ROLE_STAFF = "staff"
ROLE_NAMES = {ROLE_MAIN_ADMIN: "Main Admin", ROLE_ADMIN: "Admin", ROLE_STAFF: "Staff"}

PRIVILEGE_INBOX = "inbox"
PRIVILEGES = {PRIVILEGE_INBOX: "Inbox"}


class Account(db.Model):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    plan: Mapped[str] = mapped_column(String(20), default=PLAN_ESSENTIALS)
    inbox_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The practice's own phone, given in HELP replies.
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    # The practice's patient portal, for the {portal_link} merge field.
    portal_url: Mapped[str | None] = mapped_column(String(255))
    # Appointment reminder text (merge fields as in saved replies); None: the default.
    reminder_template: Mapped[str | None] = mapped_column(String(480))
    # Where reminders come from while the Inbox is off; None: SMS_DEFAULT_SENDER.
    sms_sender: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    clinics: Mapped[list[Clinic]] = relationship(back_populates="account", order_by="Clinic.name")

    @property
    def active_clinics(self) -> list[Clinic]:
        """The clinics menus and pickers offer (archived ones left out)."""
        return [c for c in self.clinics if c.archived_at is None]

    @property
    def plan_name(self) -> str:
        return PLAN_NAMES.get(self.plan, self.plan)


user_clinics = Table(
    "user_clinics",
    db.metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("clinic_id", Integer, ForeignKey("clinics.id", ondelete="CASCADE"), primary_key=True),
)


class Clinic(TenantMixin, db.Model):
    __tablename__ = "clinics"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    address: Mapped[str | None] = mapped_column(String(255))
    # E.164, like every number inside the app.
    phone: Mapped[str | None] = mapped_column(String(20))
    # Set: archived. Gone from menus and pickers; its conversations keep its name.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[Account] = relationship(back_populates="clinics")

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


class User(UserMixin, TenantMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default=ROLE_STAFF)
    privileges: Mapped[list[str]] = mapped_column(JSON, default=list)
    # False: only the clinics in `clinics`; True: every clinic of the account.
    all_clinics: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Every signed-in session carries the generation it was issued under; raising it
    # (logout, password change, losing access, "Sign out everywhere") ends them all.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    account: Mapped[Account] = relationship(lazy="joined")
    # Loaded when used, not with every request's user (each page would pay two queries).
    clinics: Mapped[list[Clinic]] = relationship(secondary=user_clinics)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(
            password, method=current_app.config["PASSWORD_HASH_METHOD"]
        )

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def is_main_admin(self) -> bool:
        return self.role == ROLE_MAIN_ADMIN

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, self.role)

    def has_privilege(self, privilege: str) -> bool:
        # The Main Admin holds every privilege; everyone else by what was granted.
        return self.is_main_admin or privilege in (self.privileges or [])

    @property
    def can_use_inbox(self) -> bool:
        return self.has_privilege(PRIVILEGE_INBOX)
