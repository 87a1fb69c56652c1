"""The integration API's records: the practice's API keys, and the answers to sends made
with an Idempotency-Key (so a retried request never texts twice)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .accounts import User
from .base import TenantMixin, UTCDateTime, utcnow

SCOPE_READ = "read"
SCOPE_WRITE = "write"
SCOPE_SEND = "send"
SCOPES = (SCOPE_READ, SCOPE_WRITE, SCOPE_SEND)
SCOPE_WORDS = {
    SCOPE_READ: "Read patients, appointments and conversations",
    SCOPE_WRITE: "Add and change patients, appointments and paperwork",
    SCOPE_SEND: "Send texts",
}


class ApiKey(TenantMixin, db.Model):
    """A key a practice's own system calls the API with. Only the secret's SHA-256 is
    kept; `prefix` (the secret's first characters) names it in lists."""

    __tablename__ = "api_keys"
    __table_args__ = (
        Index("ix_api_keys_account", "account_id", "id"),
        Index("ux_api_keys_secret_hash", "secret_hash", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64))
    # Comma-separated, from SCOPES.
    scopes: Mapped[str] = mapped_column(String(40), default=SCOPE_READ)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Written at most once a minute per key (not on every request).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by: Mapped[User | None] = relationship(lazy="joined")

    @property
    def scope_list(self) -> list[str]:
        return [s for s in (self.scopes or "").split(",") if s]

    def allows(self, scope: str) -> bool:
        return scope in self.scope_list

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class IdempotentRequest(TenantMixin, db.Model):
    """A send made with an Idempotency-Key: written in the same transaction as the queued
    text, so a retry finds it and gets the first answer back."""

    __tablename__ = "api_idempotent_requests"
    __table_args__ = (
        Index("ux_api_idempotent_requests_key", "account_id", "idempotency_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the request body: the same key with another body is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    status_code: Mapped[int] = mapped_column(Integer, default=201)
    response: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
