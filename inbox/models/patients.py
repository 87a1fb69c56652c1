from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint, text
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
        # The practice's own id for the patient (from an import), unique when set.
        Index(
            "ux_patients_account_external_id",
            "account_id",
            "external_id",
            unique=True,
            sqlite_where=text("external_id IS NOT NULL"),
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        # Name prefixes: index ranges that also hold the id (answered from the index alone).
        Index("ix_patients_name_search", "account_id", "name_search", "id"),
        Index("ix_patients_name_reversed", "account_id", "name_reversed", "id"),
        Index("ix_patients_account_phone_digits", "account_id", "phone_digits"),
        Index("ix_patients_account_updated", "account_id", "updated_at", "id"),
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
    # The id the practice's own system gives the patient ("Chart Number"); set by imports.
    external_id: Mapped[str | None] = mapped_column(String(64))
    # A number that texted in without a patient record behind it.
    unknown_sender: Mapped[bool] = mapped_column(default=False)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Any change to the record (for the API's updated_since).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

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


IMPORT_PREVIEW = "preview"
IMPORT_QUEUED = "queued"
IMPORT_RUNNING = "running"
IMPORT_DONE = "done"
IMPORT_FAILED = "failed"


IMPORT_PATIENTS = "patients"
IMPORT_APPOINTMENTS = "appointments"


class CsvImport(TenantMixin, db.Model):
    """One CSV upload of patients or appointments: the file as sent, the columns chosen,
    and the import's progress and counts (a page reload reads them here; the job writes
    them)."""

    __tablename__ = "csv_imports"
    __table_args__ = (Index("ix_csv_imports_account", "account_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default=IMPORT_PATIENTS)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255), default="")
    # The file, decoded to text (UTF-8 or cp1252 on the way in).
    content: Mapped[str] = mapped_column(Text, default="")
    # JSON: {"first_name": 0, "phone": 3, ...} (field -> column index).
    mapping: Mapped[str] = mapped_column(Text, default="{}")
    default_clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"))
    # Appointments: text the 24-hour reminder of those starting within a day at once
    # (else they are marked as not reminded: the practice's old system may have done it).
    remind_soon: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20), default=IMPORT_PREVIEW)
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)
    added: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    # CSV of the skipped rows with a "Reason" column, written when the import ends.
    skipped_csv: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(String(255), default="")
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def running(self) -> bool:
        return self.status in (IMPORT_QUEUED, IMPORT_RUNNING)

    @property
    def percent(self) -> int:
        if self.status == IMPORT_DONE:
            return 100
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0
