"""One-time links: set a password (an invitation, or the first run's Main Admin) and reset a
forgotten one. One table for every purpose; only a hash of the token is stored, so a copy
of the database opens no account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .accounts import User
from .base import TenantMixin, UTCDateTime, utcnow

# What a link is for. An invitation sets a new user's first password; a reset replaces a
# forgotten one.
LINK_INVITATION = "invitation"
LINK_RESET = "reset"
LINK_PURPOSES = (LINK_INVITATION, LINK_RESET)


class OneTimeLink(TenantMixin, db.Model):
    __tablename__ = "one_time_links"
    __table_args__ = (Index("ix_one_time_links_user_purpose", "user_id", "purpose", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))
    # SHA-256 of the token, hex: the token itself is only ever in the link.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when a newer link for the same user and purpose was issued, or the password
    # changed: the link no longer works.
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()
