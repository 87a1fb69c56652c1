from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..extensions import db
from .accounts import Clinic
from .base import TenantMixin, UTCDateTime, utcnow

# Search keys compare byte-wise (COLLATE "C" on PostgreSQL, BINARY on SQLite), so a prefix
# search is an exact index range: key >= 'jo' AND key < 'jp'.
SearchKey = String(400).with_variant(String(400, collation="C"), "postgresql")


class Patient(TenantMixin, db.Model):
    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("account_id", "phone"),
        # Name prefixes: index ranges that also hold the id (answered from the index alone).
        Index("ix_patients_name_search", "account_id", "name_search", "id"),
        Index("ix_patients_name_reversed", "account_id", "name_reversed", "id"),
        Index("ix_patients_account_phone_digits", "account_id", "phone_digits"),
        # Phone fragments ("555-01") anywhere in the number: a trigram index on PostgreSQL
        # (when pg_trgm may be installed); on SQLite the migration keeps an FTS5 trigram
        # table, patients_phone_fts, in step with triggers.
        Index(
            "ix_patients_phone_digits_trgm",
            "phone_digits",
            postgresql_using="gin",
            postgresql_ops={"phone_digits": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(80), default="")
    last_name: Mapped[str] = mapped_column(String(80), default="")
    # E.164, e.g. +14155550100
    phone: Mapped[str] = mapped_column(String(20))
    # National digits without punctuation, for prefix search ("4155550100").
    phone_digits: Mapped[str] = mapped_column(String(20), default="")
    # Lower-cased, accent-folded "first last|last first"; a prefix of it is a prefix of
    # "first last". name_reversed ("last first") is kept from it, for the other order.
    name_search: Mapped[str] = mapped_column(SearchKey, default="")
    name_reversed: Mapped[str] = mapped_column(SearchKey, default="")
    email: Mapped[str | None] = mapped_column(String(254))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    home_clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"))
    # A number that texted in without a patient record behind it.
    unknown_sender: Mapped[bool] = mapped_column(default=False)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    home_clinic: Mapped[Clinic | None] = relationship(lazy="joined")

    @validates("name_search")
    def _keep_name_reversed(self, _key: str, value: str) -> str:
        self.name_reversed = (value or "").partition("|")[2]
        return value

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def opted_out(self) -> bool:
        return self.opted_out_at is not None
