"""Reading the inbox: the conversation list a user may see, a thread, read/unread."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, func, or_, select

from ..extensions import db
from ..models import Conversation, Message, User, get_scoped, scoped
from .messaging import active_number

PAGE_SIZE = 50


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the (last_message_at, id) of the last row shown."""

    at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.at.timestamp():.6f}_{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        if not raw:
            return None
        try:
            ts, _, ident = raw.partition("_")
            return cls(datetime.fromtimestamp(float(ts), UTC), int(ident))
        except (ValueError, OverflowError):
            return None


def visible(user: User):
    """Conversations this user may see: their account, the active number, their clinics."""
    number = active_number(user.account_id) if user.account.inbox_enabled else None
    stmt = scoped(Conversation, user.account_id).where(
        Conversation.inbox_number_id == (number.id if number else -1)
    )
    clinic_ids = user.visible_clinic_ids()
    if clinic_ids is not None:
        stmt = stmt.where(Conversation.clinic_id.in_(clinic_ids or [-1]))
    return stmt


def list_page(
    user: User, *, unread: bool | None = None, cursor: Cursor | None = None, limit: int = PAGE_SIZE
) -> tuple[list[Conversation], Cursor | None]:
    stmt = visible(user).where(Conversation.last_message_at.is_not(None))
    if unread is not None:
        stmt = stmt.where(Conversation.unread.is_(unread))
    if cursor is not None:
        stmt = stmt.where(
            or_(
                Conversation.last_message_at < cursor.at,
                and_(Conversation.last_message_at == cursor.at, Conversation.id < cursor.id),
            )
        )
    rows = list(
        db.session.scalars(
            stmt.order_by(Conversation.last_message_at.desc(), Conversation.id.desc()).limit(
                limit + 1
            )
        )
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = Cursor(rows[-1].last_message_at, rows[-1].id)
    return rows, next_cursor


def tab_counts(user: User) -> dict[str, int]:
    """Unread and Read counts in one indexed query."""
    sub = visible(user).where(Conversation.last_message_at.is_not(None)).subquery()
    rows = db.session.execute(select(sub.c.unread, func.count()).group_by(sub.c.unread))
    counts = {"unread": 0, "read": 0}
    for unread, n in rows:
        counts["unread" if unread else "read"] = n
    return counts


def unread_count(user: User) -> int:
    return tab_counts(user)["unread"]


def get_visible(user: User, conversation_id: int | str) -> Conversation | None:
    conv = get_scoped(Conversation, conversation_id, user.account_id)
    if conv is None:
        return None
    number = active_number(user.account_id) if user.account.inbox_enabled else None
    clinic_ids = user.visible_clinic_ids()
    if number is None or conv.inbox_number_id != number.id:
        return None
    if clinic_ids is not None and conv.clinic_id not in clinic_ids:
        return None
    return conv


def thread(conv: Conversation, limit: int = 200) -> list[Message]:
    rows = db.session.scalars(
        scoped(Message, conv.account_id)
        .where(Message.conversation_id == conv.id)
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


def mark(conv: Conversation, *, unread: bool) -> None:
    if conv.unread != unread:
        conv.unread = unread
        db.session.commit()
