from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .accounts import Clinic, User
from .base import TenantMixin, UTCDateTime, utcnow
from .numbers import InboxNumber
from .patients import Patient

DIRECTION_IN = "in"
DIRECTION_OUT = "out"

# Outbound life: queued -> sending -> sent -> delivered | failed; `unknown` when the
# request left but no answer came back (never silently re-sent).
STATUS_QUEUED = "queued"
STATUS_SENDING = "sending"
STATUS_SENT = "sent"
STATUS_DELIVERED = "delivered"
STATUS_FAILED = "failed"
STATUS_UNKNOWN = "unknown"
STATUS_RECEIVED = "received"

# What a message is, for the label on its bubble. Staff texts are "text".
KIND_TEXT = "text"
KIND_AUTO_REPLY = "auto_reply"  # START / HELP answers
KIND_OPTOUT_CONFIRM = "optout_confirm"  # the one text a STOP gets back
KIND_REMINDER = "reminder"  # appointment reminder from the periodic job
KIND_PAPERWORK = "paperwork"  # the portal-link reminder for outstanding paperwork
KIND_WORDS = {
    KIND_AUTO_REPLY: "Automatic reply",
    KIND_OPTOUT_CONFIRM: "Opt-out confirmation",
    KIND_REMINDER: "Appointment reminder",
    KIND_PAPERWORK: "Paperwork reminder",
}

CARRIER_VONAGE = "vonage"


class Conversation(TenantMixin, db.Model):
    """One patient's conversation on one inbox number. Carries what the list shows, so the
    list never reads `messages`."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("inbox_number_id", "patient_id"),
        # The list, newest first. patient_id rides along so that a broad search's page
        # comes from the index alone (each entry tested against the matched patients).
        Index(
            "ix_conversations_list",
            "account_id",
            "inbox_number_id",
            "unread",
            "last_message_at",
            "id",
            "patient_id",
        ),
        Index(
            "ix_conversations_clinic_list",
            "account_id",
            "inbox_number_id",
            "clinic_id",
            "unread",
            "last_message_at",
            "id",
            "patient_id",
        ),
        # A search finds patients first, then their conversations: this answers "is it
        # on this tab, and when did it last move" from the index alone.
        Index(
            "ix_conversations_patient",
            "account_id",
            "inbox_number_id",
            "patient_id",
            "unread",
            "last_message_at",
            "id",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: texts from the account's default sender (reminders while the Inbox is off);
    # such conversations never show in the inbox, only on the patient's timeline.
    inbox_number_id: Mapped[int | None] = mapped_column(ForeignKey("inbox_numbers.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"))
    unread: Mapped[bool] = mapped_column(Boolean, default=False)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_preview: Mapped[str] = mapped_column(String(200), default="")
    last_direction: Mapped[str | None] = mapped_column(String(3))
    has_failed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Mirrors the patient's opt-out so the list's "Opted out" view never joins patients.
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    patient: Mapped[Patient] = relationship(lazy="joined")
    clinic: Mapped[Clinic | None] = relationship(lazy="joined")
    inbox_number: Mapped[InboxNumber | None] = relationship()


class Message(TenantMixin, db.Model):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("carrier", "carrier_message_id"),
        Index("ix_messages_conversation", "conversation_id", "sent_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[str] = mapped_column(String(3))
    body: Mapped[str] = mapped_column(Text)
    from_number: Mapped[str] = mapped_column(String(20))
    to_number: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    carrier: Mapped[str] = mapped_column(String(20), default=CARRIER_VONAGE)
    carrier_message_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_text: Mapped[str | None] = mapped_column(String(255))
    segments: Mapped[int] = mapped_column(Integer, default=1)
    encoding: Mapped[str] = mapped_column(String(8), default="GSM-7")
    sent_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The time the conversation is ordered by: the carrier's timestamp for inbound texts,
    # the moment staff pressed Send for outbound ones.
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(20), default=KIND_TEXT, server_default=KIND_TEXT)
    # Inbound texts that came in parts: how many parts the carrier announced, and
    # whether some are still missing (shown as what arrived, marked incomplete).
    parts_total: Mapped[int | None] = mapped_column(Integer)
    incomplete: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    sent_by: Mapped[User | None] = relationship(lazy="joined")
    conversation: Mapped[Conversation] = relationship()

    @property
    def kind_words(self) -> str:
        return KIND_WORDS.get(self.kind, "")


class InboundPart(TenantMixin, db.Model):
    """One part of a concatenated inbound text, held until its siblings arrive.

    Parts of one text share (number, sender, concat-ref, concat-total); each part's
    carrier id is unique, so a webhook delivered twice stores its part once."""

    __tablename__ = "inbound_parts"
    __table_args__ = (
        UniqueConstraint("carrier_message_id"),
        Index("ix_inbound_parts_group", "inbox_number_id", "sender", "concat_ref", "concat_total"),
        Index("ix_inbound_parts_pending", "message_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inbox_number_id: Mapped[int] = mapped_column(ForeignKey("inbox_numbers.id"))
    sender: Mapped[str] = mapped_column(String(20))
    concat_ref: Mapped[str] = mapped_column(String(16))
    concat_total: Mapped[int] = mapped_column(Integer)
    part: Mapped[int] = mapped_column(Integer)
    carrier_message_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set once the part is in a message (complete, or flushed as incomplete).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))


class ConversationCount(db.Model):
    """How many listed conversations (last_message_at set) fall in each bucket of
    (account, inbox number, clinic, unread, last text inbound, failed, opted out).

    Kept exact by database triggers on `conversations` (see the migration
    c3f1a9d2e7b4), so every path that changes a conversation, ORM or bulk UPDATE, keeps
    it right. Badge, tab and menu counts are sums over a few dozen rows of this table
    instead of COUNT(*) over the conversations. Read it; never write it from Python."""

    __tablename__ = "conversation_counts"

    account_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox_number_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # COALESCE(clinic_id, 0): conversations without a clinic count under 0.
    clinic_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    unread: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    last_in: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    has_failed: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    opted_out: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
