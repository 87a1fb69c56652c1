"""What the practice knows about a patient besides texts: appointments and paperwork."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .accounts import Clinic
from .base import TenantMixin, UTCDateTime, utcnow

APPOINTMENT_BOOKED = "booked"
APPOINTMENT_COMPLETED = "completed"
APPOINTMENT_CANCELLED = "cancelled"
APPOINTMENT_NO_SHOW = "no_show"
APPOINTMENT_STATUS_WORDS = {
    APPOINTMENT_BOOKED: "Booked",
    APPOINTMENT_COMPLETED: "Completed",
    APPOINTMENT_CANCELLED: "Cancelled",
    APPOINTMENT_NO_SHOW: "No-show",
}

REMINDER_QUEUED = "queued"
REMINDER_SKIPPED_OPTED_OUT = "skipped_opted_out"
REMINDER_SKIPPED_NO_SMS = "skipped_no_sms"
REMINDER_SKIPPED_TEXT = "skipped_text"
REMINDER_SKIPPED_IMPORTED = "skipped_imported"
REMINDER_WORDS = {
    REMINDER_SKIPPED_TEXT: "No reminder: the reminder text is too long (Settings › Inbox)",
    REMINDER_QUEUED: "Reminder texted",
    REMINDER_SKIPPED_OPTED_OUT: "No reminder: opted out of texts",
    REMINDER_SKIPPED_NO_SMS: "No reminder: the number cannot receive texts",
    REMINDER_SKIPPED_IMPORTED: "No reminder: imported less than a day before it",
}

PAPERWORK_OUTSTANDING = "outstanding"
PAPERWORK_COMPLETED = "completed"


class Appointment(TenantMixin, db.Model):
    __tablename__ = "appointments"
    __table_args__ = (
        Index("ix_appointments_patient_start", "account_id", "patient_id", "starts_at"),
        Index("ix_appointments_reminder_due", "reminder_status", "starts_at"),
        # The practice's own id for the booking (from an import or the API), unique when set.
        Index(
            "ux_appointments_account_external_id",
            "account_id",
            "external_id",
            unique=True,
            sqlite_where=text("external_id IS NOT NULL"),
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        Index("ix_appointments_account_updated", "account_id", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    service: Mapped[str] = mapped_column(String(120))
    provider: Mapped[str] = mapped_column(String(120), default="")
    status: Mapped[str] = mapped_column(String(20), default=APPOINTMENT_BOOKED)
    external_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The 24-hour reminder: set once, by one conditional UPDATE, so it goes out once.
    reminder_status: Mapped[str | None] = mapped_column(String(20))
    reminder_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))

    clinic: Mapped[Clinic] = relationship(lazy="joined")

    @property
    def status_words(self) -> str:
        return APPOINTMENT_STATUS_WORDS.get(self.status, self.status)

    @property
    def reminder_words(self) -> str:
        return REMINDER_WORDS.get(self.reminder_status or "", "")


class PaperworkItem(TenantMixin, db.Model):
    __tablename__ = "paperwork_items"
    __table_args__ = (
        Index("ix_paperwork_patient", "account_id", "patient_id", "status"),
        Index(
            "ux_paperwork_account_external_id",
            "account_id",
            "external_id",
            unique=True,
            sqlite_where=text("external_id IS NOT NULL"),
            postgresql_where=text("external_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    name: Mapped[str] = mapped_column(String(160))
    status: Mapped[str] = mapped_column(String(20), default=PAPERWORK_OUTSTANDING)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    external_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def outstanding(self) -> bool:
        return self.status == PAPERWORK_OUTSTANDING


class ReplyTemplate(TenantMixin, db.Model):
    """A saved reply. Merge fields: {first_name} {clinic_name} {portal_link} {next_appointment}."""

    __tablename__ = "reply_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(String(1000))
    # "paperwork": offered first when the patient has outstanding paperwork.
    kind: Mapped[str] = mapped_column(String(20), default="general")
    position: Mapped[int] = mapped_column(Integer, default=0)
