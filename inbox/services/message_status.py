"""A sent text's status once it leaves the happy path (failed, not confirmed), the
conversation's failure mark, and the status's live event and event webhook."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import exists, update
from sqlalchemy.engine import Connection

from .. import events
from ..extensions import db
from ..models import STATUS_FAILED, STATUS_UNKNOWN, Conversation, Message, utcnow
from . import event_hooks, page_cache

UNCONFIRMED = "UNCONFIRMED"  # error_code of a text no receipt ever confirmed


def mark_unconfirmed(message: Message, reason: str) -> str:
    message.status = STATUS_UNKNOWN
    message.error_code = None
    message.error_text = reason
    message.status_changed_at = utcnow()
    emit_status_webhook(message)
    db.session.commit()
    publish_status(message)
    return message.status


def mark_failed(message: Message, code: str | None, reason: str) -> str:
    message.status = STATUS_FAILED
    message.error_code = code
    message.error_text = reason
    message.status_changed_at = utcnow()
    refresh_failed_flags([message.conversation_id])
    emit_status_webhook(message)
    db.session.commit()
    publish_status(message)
    return message.status


def emit_status_webhook(message: Message) -> None:
    """The event webhooks of a text's new status, in the caller's transaction."""
    event_hooks.emit(
        [
            event_hooks.status_changed(
                message.account_id,
                message.id,
                message.conversation_id,
                message.status,
                message.error_code,
            )
        ]
    )


def refresh_failed_flags(conversation_ids: Collection[int], conn: Connection | None = None) -> None:
    """The list's failure mark, its one writer: does some outbound text of each of these
    conversations still fail? One statement, in the caller's transaction: on `conn` (the
    caller's batch tells the page cache), or the session's, flushed first, where the page
    cache hears of the accounts it changed (and only those). Loaded conversations see it
    after the commit."""
    if not conversation_ids:
        return
    statement = (
        update(Conversation.__table__)
        .where(Conversation.id.in_(sorted(conversation_ids)))
        .values(
            has_failed=exists().where(
                Message.conversation_id == Conversation.id,
                Message.status == STATUS_FAILED,
            )
        )
    )
    if conn is not None:
        conn.execute(statement)
        return
    db.session.flush()
    changed = db.session.connection().execute(statement.returning(Conversation.account_id))
    page_cache.touch(changed.scalars())


def status_event(
    account_id: int, conversation_id: int, message_id: int, status: str
) -> tuple[int, dict]:
    """The live event of a text's new status, for its account's open inboxes."""
    return account_id, events.status_changed(conversation_id, message_id, status)


def status_event_of(message: Message) -> tuple[int, dict]:
    return status_event(message.account_id, message.conversation_id, message.id, message.status)


def publish_status(message: Message) -> None:
    events.publish(*status_event_of(message))
