"""The outbox: queued texts and their send jobs. A text is handed to a worker by its
job (one id, one job: a text queued twice runs once); the sweep, every minute, gives a job
back to any queued text whose job a dead worker or a Redis outage lost, and settles texts
left sending or unconfirmed.

The guarantee: every text staff send is sent at most once, except when the carrier
connection broke after the request left (the outcome is then unknown): such a text is
marked "Not confirmed" and is never re-sent on its own; a later receipt settles it,
and if none comes it is failed with Retry offered to staff."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from flask import current_app
from rq import Queue, Retry
from sqlalchemy import or_, select

from ..broker import forget_job, get_queue, in_queue, job_status, scheduled_for
from ..extensions import db
from ..models import DIRECTION_OUT, STATUS_QUEUED, STATUS_SENDING, STATUS_UNKNOWN, Message, utcnow
from .message_status import UNCONFIRMED, mark_failed, mark_unconfirmed

log = logging.getLogger(__name__)


def send_retry() -> Retry:
    """Backoff for passing failures, with jitter so a burst of failures does not come
    back as a burst of retries."""
    intervals = current_app.config["SEND_RETRY_INTERVALS"]
    return Retry(
        max=len(intervals), interval=[round(i * random.uniform(0.8, 1.3), 2) for i in intervals]
    )


_SEND_JOB = "workers.jobs.send_message"


def _send_job_options(message_id: int) -> dict:
    """A send job's options, but its timeout (whose keyword differs between RQ's calls)."""
    return {
        "job_id": send_job_id(message_id),
        "retry": send_retry(),
        "failure_ttl": 7 * 24 * 3600,
        "result_ttl": 0,  # nothing reads a sent text's job back: fewer Redis writes per text
    }


_SEND_JOB_TIMEOUT = 120


def enqueue_send(message_id: int, *, delay: float = 0.0) -> bool:
    """Hand the message to a worker (after `delay` seconds: the scheduler enqueues it).
    If Redis is down the row stays queued for the sweep."""
    if delay <= 0:
        return enqueue_sends([message_id])
    try:
        get_queue().enqueue_in(
            timedelta(seconds=delay),
            _SEND_JOB,
            message_id,
            job_timeout=_SEND_JOB_TIMEOUT,
            **_send_job_options(message_id),
        )
        return True
    except redis.RedisError:
        log.warning("could not enqueue message %s; it stays queued for the sweep", message_id)
        return False


def enqueue_sends(message_ids: Sequence[int]) -> bool:
    """Hand these messages to the workers, in order, in one round trip to Redis. If Redis
    is down the rows stay queued for the sweep."""
    if not message_ids:
        return True
    jobs = [
        Queue.prepare_data(_SEND_JOB, (mid,), timeout=_SEND_JOB_TIMEOUT, **_send_job_options(mid))
        for mid in message_ids
    ]
    try:
        get_queue().enqueue_many(jobs)  # one pipeline
        return True
    except redis.RedisError:
        log.warning("could not enqueue messages %s; they stay queued for the sweep", message_ids)
        return False


SEND_JOB_PREFIX = "send-message-"


def send_job_id(message_id: int) -> str:
    return f"{SEND_JOB_PREFIX}{message_id}"


def hand_back(untried: Iterable[int], *, failed: int | None = None, delay: float = 0) -> None:
    """Texts a batch took and did not settle go back to the queue: the one that failed
    (if any) due after `delay` seconds, the ones not tried at once."""
    if failed is not None:
        enqueue_send(failed, delay=delay)
    enqueue_sends(list(untried))


@dataclass(frozen=True)
class SweepResult:
    requeued: int = 0  # queued with no live job (Redis was down, the job was lost)
    worker_lost: int = 0  # claimed by a worker that died: outcome unknown
    unconfirmed: int = 0  # unknown for too long with no receipt: failed, Retry offered


def _stale(status: str, cutoff: datetime) -> list[Message]:
    """Texts we sent that have been in `status` since before `cutoff`."""
    return list(
        db.session.scalars(
            select(Message).where(
                Message.direction == DIRECTION_OUT,
                Message.status == status,
                Message.status_changed_at < cutoff,
            )
        )
    )


def sweep_outbox(now: datetime | None = None) -> SweepResult:
    """Run every minute (rq cron). Nothing staff sent is left waiting forever."""
    cfg = current_app.config
    now = now or utcnow()
    requeued = worker_lost = unconfirmed = 0
    queued_cutoff = now - timedelta(seconds=cfg["SWEEP_QUEUED_AFTER_SECONDS"])
    sending_cutoff = now - timedelta(seconds=cfg["SWEEP_SENDING_AFTER_SECONDS"])
    unknown_cutoff = now - timedelta(seconds=cfg["UNCONFIRMED_AFTER_SECONDS"])
    stale_queued = db.session.execute(
        select(Message.id, Message.status_changed_at)
        .where(
            Message.direction == DIRECTION_OUT,
            Message.status == STATUS_QUEUED,
            or_(
                Message.status_changed_at.is_(None),
                Message.status_changed_at < queued_cutoff,
            ),
        )
        .order_by(Message.id)
        .limit(5000)
    ).all()
    for message_id, changed_at in stale_queued:
        job_id = send_job_id(message_id)
        try:
            status = job_status(job_id)
            if status == "deferred":
                continue
            if status == "scheduled":
                due = scheduled_for(job_id)
                if due is not None and due >= queued_cutoff:
                    continue  # its retry is due later (or has just come due)
                # Overdue: no scheduler put it back (none running, or it died). Or in no
                # registry: RQ's scheduler removes the due ids it read a moment before,
                # so a retry of the same id scheduled in between is dropped, and nothing
                # would ever enqueue it. Send anyway: the claim keeps it to one send.
            if status == "queued" and in_queue(job_id):
                continue  # waiting its turn
            if status in ("queued", "started") and changed_at and changed_at >= sending_cutoff:
                continue  # a worker has it (just popped it, or waiting for a send slot)
            forget_job(job_id)  # finished, failed, lost, or its worker died
        except redis.RedisError:
            break  # Redis is still down: the next sweep tries again
        if enqueue_send(message_id):
            requeued += 1
    for message in _stale(STATUS_SENDING, sending_cutoff):
        # A send never takes this long: its worker died mid-send. The request may have
        # left; never re-send on our own.
        mark_unconfirmed(message, "The app stopped while sending; it may or may not have gone out")
        worker_lost += 1
    for message in _stale(STATUS_UNKNOWN, unknown_cutoff):
        mark_failed(
            message,
            UNCONFIRMED,
            "Vonage never confirmed this text, so it may not have arrived. "
            "Retry sends it again (the patient may get it twice).",
        )
        unconfirmed += 1
    return SweepResult(requeued, worker_lost, unconfirmed)
