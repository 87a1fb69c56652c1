"""The ledger: monthly lines (the plan, the Inbox add-on) and the charges made for them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import TenantMixin, UTCDateTime, utcnow

LINE_PLAN = "plan"
LINE_INBOX = "inbox_addon"
INBOX_ADDON_CENTS = 500  # $5.00 per month


class BillingLine(TenantMixin, db.Model):
    __tablename__ = "billing_lines"
    __table_args__ = (Index("ix_billing_lines_account_active", "account_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(160))
    amount_cents: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def active(self) -> bool:
        return self.ended_at is None


class Charge(TenantMixin, db.Model):
    """One line charged for one month. The unique key makes the monthly job safe to run
    on every worker, as often as it likes."""

    __tablename__ = "charges"
    __table_args__ = (UniqueConstraint("billing_line_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    billing_line_id: Mapped[int] = mapped_column(ForeignKey("billing_lines.id"))
    period: Mapped[str] = mapped_column(String(7))  # "2026-11"
    amount_cents: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    line: Mapped[BillingLine] = relationship(lazy="joined")
