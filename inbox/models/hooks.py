"""Event webhooks out: the practice's endpoints, and one row per event to deliver to one
endpoint (the outbox). The rows are written in the same transaction as the fact they tell
of (services/event_hooks.py), and sent by RQ jobs (services/hook_delivery.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, false, text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import TenantMixin, UTCDateTime, utcnow

EVENT_MESSAGE_RECEIVED = "message.received"
EVENT_MESSAGE_STATUS = "message.status_changed"
EVENT_CONVERSATION_READ = "conversation.read"
EVENT_PATIENT_OPTED_OUT = "patient.opted_out"
EVENT_PATIENT_OPTED_IN = "patient.opted_in"
EVENT_TEST = "webhook.test"  # "Send test event": only ever to the one endpoint

EVENT_TYPES = (
    EVENT_MESSAGE_RECEIVED,
    EVENT_MESSAGE_STATUS,
    EVENT_CONVERSATION_READ,
    EVENT_PATIENT_OPTED_OUT,
    EVENT_PATIENT_OPTED_IN,
)

DELIVERY_PENDING = "pending"
DELIVERY_DELIVERED = "delivered"
DELIVERY_FAILED = "failed"


class WebhookEndpoint(TenantMixin, db.Model):
    """A URL of the practice's that hears the events it subscribed to."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_account", "account_id", "enabled"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[str] = mapped_column(String(255))  # comma-separated EVENT_TYPES
    include_text: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    secret: Mapped[str] = mapped_column(String(80))  # "whsec_" + base64
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The first failure of the current run (reset by a success, or when the run's last
    # delivery gives up with none left to try): 24 hours of failures disable it.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def event_list(self) -> list[str]:
        return [e for e in (self.events or "").split(",") if e]


class WebhookDelivery(TenantMixin, db.Model):
    """One event for one endpoint: its payload (ids and states, never text: the text is
    read at send time, only for an endpoint with "Include message text" on), its tries."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint", "account_id", "endpoint_id", "id"),
        # Only the pending rows, by when they are due: what the job and the sweep read.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    webhook_id: Mapped[str] = mapped_column(String(40))  # the `webhook-id` header: "msg_..."
    payload: Mapped[str] = mapped_column(Text)  # JSON: {"type", "timestamp", "data"}
    message_id: Mapped[int | None] = mapped_column(Integer)  # whose text may go along
    state: Mapped[str] = mapped_column(String(12), default=DELIVERY_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    endpoint: Mapped[WebhookEndpoint] = relationship()
