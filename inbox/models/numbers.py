from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import TenantMixin, UTCDateTime, utcnow

NUMBER_PROVISIONING = "provisioning"  # Finish Setup is buying it right now
NUMBER_ACTIVE = "active"
NUMBER_RELEASING = "releasing"
NUMBER_RELEASED = "released"


class InboxNumber(TenantMixin, db.Model):
    """A number the account bought. One is active at a time; released ones stay as history."""

    __tablename__ = "inbox_numbers"
    __table_args__ = (
        Index("ix_inbox_numbers_e164_status", "e164", "status"),
        Index("ix_inbox_numbers_account_status", "account_id", "status"),
        # One live number per account: a second Finish Setup (double click, two tabs)
        # cannot start buying while the first is provisioning or active.
        Index(
            "uq_inbox_numbers_one_live",
            "account_id",
            unique=True,
            sqlite_where=text("status IN ('provisioning', 'active')"),
            postgresql_where=text("status IN ('provisioning', 'active')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    e164: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2), default="US")
    status: Mapped[str] = mapped_column(String(20), default=NUMBER_ACTIVE)
    purchased_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why a release has not gone through yet (shown to the Main Admin).
    release_error: Mapped[str | None] = mapped_column(String(255))
