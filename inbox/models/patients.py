from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .accounts import Clinic
from .base import TenantMixin, UTCDateTime, utcnow


class Patient(TenantMixin, db.Model):
    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("account_id", "phone"),
        Index("ix_patients_account_name_search", "account_id", "name_search"),
        Index("ix_patients_account_phone_digits", "account_id", "phone_digits"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(80), default="")
    last_name: Mapped[str] = mapped_column(String(80), default="")
    # E.164, e.g. +14155550100
    phone: Mapped[str] = mapped_column(String(20))
    # National digits without punctuation, for prefix search ("4155550100").
    phone_digits: Mapped[str] = mapped_column(String(20), default="")
    # Lower-cased, accent-folded "first last | last first" for prefix search.
    name_search: Mapped[str] = mapped_column(String(400), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    home_clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"))
    # A number that texted in without a patient record behind it.
    unknown_sender: Mapped[bool] = mapped_column(default=False)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    home_clinic: Mapped[Clinic | None] = relationship(lazy="joined")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def opted_out(self) -> bool:
        return self.opted_out_at is not None
