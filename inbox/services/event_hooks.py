"""Event webhooks out, the events: what a practice's endpoints can hear, and `emit()`, the
one writer of their deliveries.

Where a fact is written (an inbound text stored, a text's status changed, a conversation
marked read, a patient opted out or in), `emit()` adds one `webhook_deliveries` row per
subscribed endpoint in the same transaction (an outbox: the fact and its rows, or
neither), one INSERT for a whole batch, nothing at all for a practice without endpoints.
After the commit `kick()` queues the job that sends them (services.hook_delivery). The
endpoints themselves, their settings and their log: services.hook_endpoints.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from flask import has_app_context
from sqlalchemy import Connection, event, insert, select
from sqlalchemy.orm import Session

from ..broker import get_queue, scheduled_for
from ..extensions import db
from ..models import DELIVERY_PENDING, WebhookDelivery, WebhookEndpoint, utcnow

log = logging.getLogger(__name__)

EVENT_WORDS = {
    "message.received": "A patient's text arrives",
    "message.status_changed": "A text's status changes (sent, delivered, failed)",
    "conversation.read": "A conversation is marked as read",
    "patient.opted_out": "A patient opts out (STOP)",
    "patient.opted_in": "A patient opts back in (START)",
}
JOB_ID = "webhooks-deliver"


@dataclass(frozen=True)
class Event:
    """One fact, for the endpoints of its account that subscribed to its type."""

    account_id: int
    type: str
    data: dict
    message_id: int | None = None  # whose text an endpoint with "Include message text" gets


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at else None


def message_received(
    account_id: int, message_id: int, conversation_id: int, patient_id: int, sent_at: datetime
) -> Event:
    return Event(
        account_id,
        "message.received",
        {
            "message_id": message_id,
            "conversation_id": conversation_id,
            "patient_id": patient_id,
            "direction": "in",
            "status": "received",
            "sent_at": _iso(sent_at),
        },
        message_id=message_id,
    )


def status_changed(
    account_id: int,
    message_id: int,
    conversation_id: int,
    status: str,
    error_code: str | None = None,
) -> Event:
    return Event(
        account_id,
        "message.status_changed",
        {
            "message_id": message_id,
            "conversation_id": conversation_id,
            "direction": "out",
            "status": status,
            "error_code": error_code,
        },
        message_id=message_id,
    )


def conversation_read(account_id: int, conversation_id: int) -> Event:
    return Event(
        account_id, "conversation.read", {"conversation_id": conversation_id, "unread": False}
    )


def consent_changed(account_id: int, patient_id: int, *, opted_out: bool) -> Event:
    return Event(
        account_id,
        "patient.opted_out" if opted_out else "patient.opted_in",
        {"patient_id": patient_id, "opted_out": opted_out},
    )


def payload_json(event_type: str, data: dict, at: datetime) -> str:
    """The JSON body of an event as stored (the text, for endpoints that asked, is added
    when it is sent)."""
    return json.dumps(
        {"type": event_type, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data},
        separators=(",", ":"),
    )


def new_webhook_id() -> str:
    """One event's id: the same for every endpoint that hears it, and for a resend."""
    return "msg_" + secrets.token_urlsafe(18)


# ---- emitting (in the fact's transaction) ------------------------------------------------


_SUBSCRIBERS = select(WebhookEndpoint.id, WebhookEndpoint.account_id, WebhookEndpoint.events).where(
    WebhookEndpoint.enabled.is_(True)
)


def emit(events: Sequence[Event], conn: Connection | None = None) -> int:
    """Add the deliveries of these events, in the caller's transaction (`conn`, or the
    session's). One indexed read of the accounts' endpoints, one INSERT for all rows
    (add_deliveries); nothing else when no account has an endpoint. How many rows."""
    if not events:
        return 0
    accounts = sorted({e.account_id for e in events})
    endpoints: dict[int, list[tuple[int, set[str]]]] = {}
    for endpoint_id, account_id, types in (conn or db.session.connection()).execute(
        _SUBSCRIBERS.where(WebhookEndpoint.account_id.in_(accounts))
    ):
        endpoints.setdefault(account_id, []).append((endpoint_id, set(types.split(","))))
    if not endpoints:
        return 0
    now = utcnow()
    rows = []
    for e in events:
        subscribed = [eid for eid, types in endpoints.get(e.account_id, ()) if e.type in types]
        if not subscribed:
            continue
        payload = payload_json(e.type, e.data, now)
        webhook_id = new_webhook_id()  # one event, one id, whichever endpoints hear it
        rows.extend(
            pending(e.account_id, eid, e.type, webhook_id, payload, now, e.message_id)
            for eid in subscribed
        )
    return len(add_deliveries(rows, conn))


def pending(
    account_id: int,
    endpoint_id: int,
    event: str,
    webhook_id: str,
    payload: str,
    now: datetime,
    message_id: int | None = None,
) -> dict:
    """A delivery to try now, as a row for add_deliveries()."""
    return {
        "account_id": account_id, "endpoint_id": endpoint_id, "event": event,
        "webhook_id": webhook_id, "payload": payload, "message_id": message_id,
        "state": DELIVERY_PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now,
    }  # fmt: skip


def add_deliveries(rows: list[dict], conn: Connection | None = None) -> list[int]:
    """The one writer of deliveries to send (an event's, a test event, a resend): one
    INSERT for all rows, in the caller's transaction (`conn`, or the session's); their ids,
    in no promised order (asking for one would make SQLite insert row by row). With the
    session, the job is queued once it commits; the caller of `conn` queues it (`kick`)."""
    if not rows:
        return []
    t = WebhookDelivery.__table__
    ids = (conn or db.session.connection()).execute(insert(t).returning(t.c.id), rows)
    if conn is None:
        db.session.info["webhooks_due"] = True
    return list(ids.scalars())


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("webhooks_due", False):
        kick()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("webhooks_due", None)


def kick(delay: float = 0.0) -> bool:
    """Queue the delivery job (now, or in `delay` seconds). False if Redis refused: the
    sweep queues it later. Two jobs at once are harmless (each try is claimed once); a
    later run is one job per second it is due at."""
    if not has_app_context():
        return False
    try:
        queue = get_queue()
        if delay <= 0:
            queue.enqueue(
                "workers.jobs.deliver_webhooks",
                job_id=f"{JOB_ID}-{secrets.token_hex(6)}",
                result_ttl=0,
                failure_ttl=3600,
            )
            return True
        at = datetime.now(UTC) + timedelta(seconds=delay)
        job_id = f"{JOB_ID}-at-{int(at.timestamp())}"
        if scheduled_for(job_id) is None:
            queue.enqueue_at(
                at, "workers.jobs.deliver_webhooks", job_id=job_id, result_ttl=0, failure_ttl=3600
            )
    except redis.RedisError:
        log.warning("could not queue the webhook deliveries job; the sweep will")
        return False
    return True
