from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow

KIND_INBOUND = "inbound"
KIND_RECEIPT = "status"


class ReceivedWebhook(db.Model):
    """A webhook from Vonage held for later: one the batch path leaves to the one-at-a-time
    handlers (long texts in parts, STOP / START / HELP, receipts that opt a patient out or name
    no text of ours), or every webhook of a group whose transaction failed. `processed_at` NULL:
    still to be processed (by the request leading a group, or the sweep:
    `inbox.services.intake`). Processed rows are kept for two days (longer than Vonage retries),
    so a retry of one is a copy at the door."""

    __tablename__ = "received_webhooks"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        # Only the pending rows, in order: a claim reads the first few, however many
        # processed rows the table holds.
        Index(
            "ix_received_webhooks_pending",
            "id",
            postgresql_where=text("processed_at IS NULL"),
            sqlite_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    # inbound: "in:" + Vonage's message id; receipt: "st:" + a hash of its fields.
    dedupe_key: Mapped[str] = mapped_column(String(80))
    params: Mapped[str] = mapped_column(Text)  # the fields as JSON, without the signature
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Failures of this row alone (a batch that failed is retried row by row); after
    # MAX_ATTEMPTS it is left for an operator, logged, never dropped.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(255))
