"""Whether a patient may be texted: STOP opts out, START opts back in, HELP answers.

Opt-out is per account (the practice's number); the conversation rows mirror it so
the inbox list's "Opted out" view never joins patients. Each change of state gets
exactly one confirmation text; a second STOP from an opted-out patient gets none."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import update

from .. import events
from ..extensions import db
from ..models import (
    KIND_AUTO_REPLY,
    KIND_OPTOUT_CONFIRM,
    Account,
    Conversation,
    Patient,
    utcnow,
)
from . import event_hooks, keywords, phones, sending

STOP_CONFIRMATION = (
    "{practice}: you are unsubscribed and will get no more texts from this number. "
    "Reply START to subscribe again."
)
START_CONFIRMATION = (
    "{practice}: you are subscribed again to texts from this number. "
    "Reply STOP to unsubscribe, HELP for help."
)
HELP_REPLY = (
    "{practice}: to reach us call {phone}. Msg & data rates may apply. Reply STOP to unsubscribe."
)


def _mirror(patient: Patient) -> None:
    db.session.execute(
        update(Conversation)
        .where(Conversation.patient_id == patient.id)
        .values(opted_out=patient.opted_out)
    )


def _publish(patient: Patient) -> None:
    ids = list(
        db.session.scalars(db.select(Conversation.id).where(Conversation.patient_id == patient.id))
    )
    if ids:
        events.publish(patient.account_id, events.consent_changed(ids))


def opt_out(patient: Patient) -> bool:
    """Mark the patient opted out; False if they already were. The caller commits."""
    if patient.opted_out:
        return False
    patient.opted_out_at = utcnow()
    _mirror(patient)
    event_hooks.emit([event_hooks.consent_changed(patient.account_id, patient.id, opted_out=True)])
    return True


def opt_in(patient: Patient) -> bool:
    if not patient.opted_out:
        return False
    patient.opted_out_at = None
    _mirror(patient)
    event_hooks.emit([event_hooks.consent_changed(patient.account_id, patient.id, opted_out=False)])
    return True


def help_text(account: Account) -> str:
    phone = phones.display(account.contact_phone) if account.contact_phone else "the practice"
    return HELP_REPLY.format(practice=account.name, phone=phone)


def apply_keyword(conv: Conversation, text: str) -> str | None:
    """Act on STOP / START / HELP in a patient's text (already stored and committed);
    queue the one reply it calls for. Returns the keyword acted on, if any."""
    word = keywords.classify(text)
    if word is None:
        return None
    patient, account = conv.patient, conv.account
    reply: tuple[str, str] | None = None
    if word == keywords.STOP and opt_out(patient):
        reply = (STOP_CONFIRMATION.format(practice=account.name), KIND_OPTOUT_CONFIRM)
    elif word == keywords.START and opt_in(patient):
        reply = (START_CONFIRMATION.format(practice=account.name), KIND_AUTO_REPLY)
    elif word == keywords.HELP:
        reply = (help_text(account), KIND_AUTO_REPLY)
    db.session.commit()
    if word in (keywords.STOP, keywords.START):
        _publish(patient)
    if reply is not None and conv.inbox_number_id is not None:
        sending.send_automatic(conv, reply[0], kind=reply[1])
    return word


def opt_out_from_receipt(patient: Patient) -> Callable[[], None] | None:
    """The carrier says the handset refuses our texts (err-code 9): no confirmation is
    sent (it would be refused too), the patient is simply opted out, in the caller's
    transaction (with the receipt that says so). Returns what tells the open tabs, to be
    called once that is committed; None if the patient had opted out already."""
    if not opt_out(patient):
        return None
    return lambda: _publish(patient)
