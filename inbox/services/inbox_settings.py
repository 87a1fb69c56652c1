"""Turning the Inbox on (buy a number, connect it, bill it) and off (release it)."""

from __future__ import annotations

import logging

import redis
from rq import Retry
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import carrier, events
from ..broker import get_queue
from ..extensions import db
from ..models import (
    LINE_INBOX,
    NUMBER_ACTIVE,
    NUMBER_PROVISIONING,
    NUMBER_RELEASED,
    NUMBER_RELEASING,
    PLAN_ACCELERATOR,
    InboxNumber,
    User,
    utcnow,
)
from . import billing, numbers, phones

log = logging.getLogger(__name__)
RELEASE_RETRY = Retry(max=8, interval=[5, 30, 60, 300, 900, 1800, 3600, 3600])


class SetupError(Exception):
    """Finish Setup could not complete; nothing is left half-done.

    back_to_list: the chosen number is gone, show the list again."""

    def __init__(self, message: str, *, back_to_list: bool = False) -> None:
        super().__init__(message)
        self.back_to_list = back_to_list


def _require_main_admin(user: User) -> None:
    if not user.is_main_admin:
        raise PermissionError("Only the Main Admin can manage Inbox Settings.")


def live_number(account_id: int) -> InboxNumber | None:
    return db.session.scalars(
        select(InboxNumber).where(
            InboxNumber.account_id == account_id,
            InboxNumber.status.in_([NUMBER_PROVISIONING, NUMBER_ACTIVE]),
        )
    ).first()


def was_turned_off(account_id: int) -> bool:
    """Whether the account had the Inbox and turned it off (a number released or being
    released), as against never having set it up."""
    return (
        db.session.scalar(
            select(InboxNumber.id)
            .where(
                InboxNumber.account_id == account_id,
                InboxNumber.status.in_([NUMBER_RELEASING, NUMBER_RELEASED]),
            )
            .limit(1)
        )
        is not None
    )


def enable(user: User, raw_number: str) -> InboxNumber:
    """Finish Setup: buy the chosen number, point it here, bill it, open the Inbox."""
    _require_main_admin(user)
    account = user.account
    if account.plan != PLAN_ACCELERATOR:
        raise SetupError("The Inbox needs the Accelerator Plan.")
    try:
        e164 = phones.normalize(raw_number)
    except phones.InvalidPhone as exc:
        raise SetupError("Pick a number from the list.", back_to_list=True) from exc
    if account.inbox_enabled:
        existing = live_number(account.id)
        if existing is not None and existing.status == NUMBER_ACTIVE:
            return existing  # a second click of Finish Setup: already done
    if e164 in numbers.released_by(account):
        raise SetupError(
            "That number belonged to this account before and cannot be used again. "
            "Please choose a new number.",
            back_to_list=True,
        )
    if e164 in numbers.quarantined():
        raise SetupError(
            "That number was given up by a practice on this server recently, and its patients "
            "may still text it. Please choose another number.",
            back_to_list=True,
        )
    number = InboxNumber(account_id=account.id, e164=e164, country="US", status=NUMBER_PROVISIONING)
    db.session.add(number)
    try:
        db.session.commit()  # claims the one live slot: a parallel Finish Setup stops here
    except IntegrityError:
        db.session.rollback()
        current = live_number(account.id)
        if current is not None and current.status == NUMBER_ACTIVE:
            return current
        raise SetupError("Setup is already finishing in another window. One moment…") from None
    try:
        numbers.buy_and_connect(e164, number.country)
    except carrier.NumberUnavailable as exc:
        _abandon(number)
        raise SetupError(exc.reason, back_to_list=True) from exc
    except numbers.WebhookNotConnected as exc:
        _abandon(number)
        raise SetupError(
            "We bought the number but Vonage would not connect it to your Inbox, so we "
            "released it again and nothing was charged. Please try again or pick another "
            f"number. ({exc.reason})",
            back_to_list=True,
        ) from exc
    except carrier.CarrierError as exc:
        _abandon(number)
        raise SetupError(
            f"Vonage could not be reached, so no number was bought. Please try again. "
            f"({exc.reason})"
        ) from exc
    number.status = NUMBER_ACTIVE
    number.purchased_at = utcnow()
    account.inbox_enabled = True
    billing.start_inbox_addon(account)
    db.session.commit()
    return number


def _abandon(number: InboxNumber) -> None:
    db.session.delete(number)
    db.session.commit()


def disable(user: User) -> InboxNumber | None:
    """Confirm: hide the Inbox from everyone now, stop the add-on, release the number in a
    job (with retries). Messages stay stored."""
    _require_main_admin(user)
    account = user.account
    number = live_number(account.id)
    account.inbox_enabled = False
    billing.end_lines(account, LINE_INBOX)
    if number is not None:
        number.status = NUMBER_RELEASING
    db.session.commit()
    # Every open Inbox tab of the practice hears it now, not at its next click.
    events.publish(account.id, events.access_changed())
    if number is not None:
        enqueue_release(number.id)
    return number


def enqueue_release(number_id: int) -> None:
    try:
        get_queue().enqueue(
            "workers.jobs.release_number", number_id, job_id=f"release-number-{number_id}",
            retry=RELEASE_RETRY,
        )  # fmt: skip
    except redis.RedisError:
        log.warning("could not enqueue the release of number %s; the sweep will", number_id)


def release(number_id: int) -> str:
    """The job: give a releasing number back to Vonage."""
    number = db.session.get(InboxNumber, number_id)
    if number is None or number.status != NUMBER_RELEASING:
        return number.status if number else "missing"
    try:
        numbers.release(number)
    except carrier.CarrierError as exc:
        number.release_error = exc.reason
        db.session.commit()
        raise
    number.status = NUMBER_RELEASED
    number.released_at = utcnow()
    number.release_error = None
    db.session.commit()
    return number.status
