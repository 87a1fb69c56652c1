"""The audit log: who did what, when, from where. Append-only: rows are inserted and read,
never updated or deleted by the app (the ORM refuses both)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..extensions import db
from .base import TenantMixin, UTCDateTime, utcnow

# What happened. The words the audit log shows live in services/audit.py.
AUDIT_SIGNED_IN = "signed_in"
AUDIT_SIGNED_OUT = "signed_out"
AUDIT_SIGN_IN_FAILED = "sign_in_failed"
AUDIT_VIEWED_CONVERSATION = "viewed_conversation"
AUDIT_VIEWED_PATIENT = "viewed_patient"
AUDIT_SENT_TEXT = "sent_text"
AUDIT_RETRIED_TEXT = "retried_text"
AUDIT_MARKED_READ = "marked_read"
AUDIT_MARKED_UNREAD = "marked_unread"
AUDIT_EXPORTED = "exported"
AUDIT_CHANGED_PRIVILEGES = "changed_privileges"
AUDIT_ENABLED_INBOX = "enabled_inbox"
AUDIT_DISABLED_INBOX = "disabled_inbox"
AUDIT_BOUGHT_NUMBER = "bought_number"
AUDIT_CHANGED_PLAN = "changed_plan"
AUDIT_ADDED_PATIENT = "added_patient"
AUDIT_EDITED_PATIENT = "edited_patient"
AUDIT_LINKED_NUMBER = "linked_number"
AUDIT_IMPORTED_PATIENTS = "imported_patients"
AUDIT_IMPORTED_APPOINTMENTS = "imported_appointments"
AUDIT_ADDED_APPOINTMENT = "added_appointment"
AUDIT_EDITED_APPOINTMENT = "edited_appointment"
AUDIT_CANCELLED_APPOINTMENT = "cancelled_appointment"
AUDIT_ADDED_PAPERWORK = "added_paperwork"
AUDIT_COMPLETED_PAPERWORK = "completed_paperwork"
AUDIT_EDITED_PAPERWORK = "edited_paperwork"
AUDIT_ADDED_SAVED_REPLY = "added_saved_reply"
AUDIT_EDITED_SAVED_REPLY = "edited_saved_reply"
AUDIT_DELETED_SAVED_REPLY = "deleted_saved_reply"
AUDIT_REORDERED_SAVED_REPLIES = "reordered_saved_replies"
AUDIT_CREATED_PRACTICE = "created_practice"
AUDIT_SET_PASSWORD = "set_password"
AUDIT_RESET_PASSWORD = "reset_password"
AUDIT_CHANGED_PASSWORD = "changed_password"
AUDIT_REQUESTED_RESET = "requested_reset"
AUDIT_INVITED_TEAMMATE = "invited_teammate"
AUDIT_RESENT_INVITATION = "resent_invitation"
AUDIT_REVOKED_INVITATION = "revoked_invitation"
AUDIT_DEACTIVATED_TEAMMATE = "deactivated_teammate"
AUDIT_REACTIVATED_TEAMMATE = "reactivated_teammate"
AUDIT_HANDED_OVER_MAIN_ADMIN = "handed_over_main_admin"
AUDIT_ADDED_CLINIC = "added_clinic"
AUDIT_EDITED_CLINIC = "edited_clinic"
AUDIT_ARCHIVED_CLINIC = "archived_clinic"
AUDIT_RESTORED_CLINIC = "restored_clinic"
AUDIT_ADDED_WEBHOOK = "added_webhook"
AUDIT_EDITED_WEBHOOK = "edited_webhook"
AUDIT_DELETED_WEBHOOK = "deleted_webhook"
AUDIT_ROTATED_WEBHOOK_SECRET = "rotated_webhook_secret"
AUDIT_ENABLED_WEBHOOK = "enabled_webhook"
AUDIT_TESTED_WEBHOOK = "tested_webhook"
AUDIT_RESENT_WEBHOOK = "resent_webhook"
AUDIT_CREATED_API_KEY = "created_api_key"
AUDIT_REVOKED_API_KEY = "revoked_api_key"
AUDIT_API_READ = "api_read"


class AuditEvent(TenantMixin, db.Model):
    """One thing a person did. `summary` never holds message text or phone numbers;
    objects are referenced by type and id and named when the log is shown."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_account", "account_id", "id"),
        Index("ix_audit_events_account_user", "account_id", "user_id", "id"),
        Index("ix_audit_events_account_action", "account_id", "action", "id"),
        Index("ix_audit_events_account_created", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Set when an API key, not a person, did it (the key's name is the actor).
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(String(255), default="")
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to change or remove an audit entry."""


@event.listens_for(AuditEvent, "before_update")
def _no_update(_mapper, _connection, target: AuditEvent) -> None:
    raise AuditLogIsAppendOnly(f"audit entry {target.id} cannot be changed")


@event.listens_for(AuditEvent, "before_delete")
def _no_delete(_mapper, _connection, target: AuditEvent) -> None:
    raise AuditLogIsAppendOnly(f"audit entry {target.id} cannot be deleted")


@event.listens_for(Session, "do_orm_execute")
def _no_bulk_change(state) -> None:
    """ORM-level bulk UPDATE / DELETE statements on the audit log are refused too."""
    if (state.is_update or state.is_delete) and any(
        m.class_ is AuditEvent for m in state.all_mappers
    ):
        raise AuditLogIsAppendOnly("audit entries cannot be changed or deleted")
