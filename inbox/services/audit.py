"""The audit log: record what people did, and read it back for the Main Admin.

Entries are appended and never changed (the model refuses updates and deletes). A summary
never carries message text or phone numbers: objects are stored as (type, id) and named
from the live records, scoped to the account, only when the log is shown."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ..extensions import db
from ..models import (
    Account,
    ApiKey,
    AuditEvent,
    Clinic,
    Conversation,
    InboxNumber,
    Message,
    Patient,
    User,
    get_scoped,
    scoped,
)
from ..models.audit import (
    AUDIT_ADDED_APPOINTMENT,
    AUDIT_ADDED_CLINIC,
    AUDIT_ADDED_PAPERWORK,
    AUDIT_ADDED_PATIENT,
    AUDIT_ADDED_SAVED_REPLY,
    AUDIT_ADDED_WEBHOOK,
    AUDIT_API_READ,
    AUDIT_ARCHIVED_CLINIC,
    AUDIT_BOUGHT_NUMBER,
    AUDIT_CANCELLED_APPOINTMENT,
    AUDIT_CHANGED_PASSWORD,
    AUDIT_CHANGED_PLAN,
    AUDIT_CHANGED_PRIVILEGES,
    AUDIT_COMPLETED_PAPERWORK,
    AUDIT_CREATED_API_KEY,
    AUDIT_CREATED_PRACTICE,
    AUDIT_DEACTIVATED_TEAMMATE,
    AUDIT_DELETED_SAVED_REPLY,
    AUDIT_DELETED_WEBHOOK,
    AUDIT_DISABLED_INBOX,
    AUDIT_EDITED_APPOINTMENT,
    AUDIT_EDITED_CLINIC,
    AUDIT_EDITED_PAPERWORK,
    AUDIT_EDITED_PATIENT,
    AUDIT_EDITED_SAVED_REPLY,
    AUDIT_EDITED_WEBHOOK,
    AUDIT_ENABLED_INBOX,
    AUDIT_ENABLED_WEBHOOK,
    AUDIT_EXPORTED,
    AUDIT_HANDED_OVER_MAIN_ADMIN,
    AUDIT_IMPORTED_APPOINTMENTS,
    AUDIT_IMPORTED_PATIENTS,
    AUDIT_INVITED_TEAMMATE,
    AUDIT_LINKED_NUMBER,
    AUDIT_MARKED_READ,
    AUDIT_MARKED_UNREAD,
    AUDIT_REACTIVATED_TEAMMATE,
    AUDIT_REORDERED_SAVED_REPLIES,
    AUDIT_REQUESTED_RESET,
    AUDIT_RESENT_INVITATION,
    AUDIT_RESENT_WEBHOOK,
    AUDIT_RESET_PASSWORD,
    AUDIT_RESTORED_CLINIC,
    AUDIT_RETRIED_TEXT,
    AUDIT_REVOKED_API_KEY,
    AUDIT_REVOKED_INVITATION,
    AUDIT_ROTATED_WEBHOOK_SECRET,
    AUDIT_SENT_TEXT,
    AUDIT_SET_PASSWORD,
    AUDIT_SIGN_IN_FAILED,
    AUDIT_SIGNED_IN,
    AUDIT_SIGNED_OUT,
    AUDIT_TESTED_WEBHOOK,
    AUDIT_VIEWED_CONVERSATION,
    AUDIT_VIEWED_PATIENT,
)
from ..models.base import MAX_ID
from ..timefmt import DEFAULT_TIMEZONE
from . import phones

if TYPE_CHECKING:
    from .api_keys import ApiActor

log = logging.getLogger(__name__)

PAGE_SIZE = 50
SUMMARY_CHARS = 255
USER_AGENT_CHARS = 120

# The audit log's words for each action, in the order its filter lists them.
ACTION_WORDS: dict[str, str] = {
    AUDIT_VIEWED_CONVERSATION: "Viewed a conversation",
    AUDIT_VIEWED_PATIENT: "Viewed a patient profile",
    AUDIT_SENT_TEXT: "Sent a text",
    AUDIT_RETRIED_TEXT: "Retried a text",
    AUDIT_MARKED_READ: "Marked as read",
    AUDIT_MARKED_UNREAD: "Marked as unread",
    AUDIT_EXPORTED: "Exported conversations",
    AUDIT_CHANGED_PRIVILEGES: "Changed a teammate's privileges",
    AUDIT_INVITED_TEAMMATE: "Invited a teammate",
    AUDIT_RESENT_INVITATION: "Resent an invitation",
    AUDIT_REVOKED_INVITATION: "Revoked an invitation",
    AUDIT_DEACTIVATED_TEAMMATE: "Deactivated a teammate",
    AUDIT_REACTIVATED_TEAMMATE: "Reactivated a teammate",
    AUDIT_HANDED_OVER_MAIN_ADMIN: "Handed over Main Admin",
    AUDIT_ADDED_CLINIC: "Added a clinic",
    AUDIT_EDITED_CLINIC: "Edited a clinic",
    AUDIT_ARCHIVED_CLINIC: "Archived a clinic",
    AUDIT_RESTORED_CLINIC: "Restored a clinic",
    AUDIT_ENABLED_INBOX: "Turned the Inbox on",
    AUDIT_DISABLED_INBOX: "Turned the Inbox off",
    AUDIT_BOUGHT_NUMBER: "Bought a number",
    AUDIT_CHANGED_PLAN: "Changed the plan",
    AUDIT_ADDED_PATIENT: "Added a patient",
    AUDIT_EDITED_PATIENT: "Edited a patient",
    AUDIT_LINKED_NUMBER: "Linked an unknown number to a patient",
    AUDIT_IMPORTED_PATIENTS: "Imported patients",
    AUDIT_IMPORTED_APPOINTMENTS: "Imported appointments",
    AUDIT_ADDED_APPOINTMENT: "Booked an appointment",
    AUDIT_EDITED_APPOINTMENT: "Changed an appointment",
    AUDIT_CANCELLED_APPOINTMENT: "Cancelled an appointment",
    AUDIT_ADDED_PAPERWORK: "Requested paperwork",
    AUDIT_COMPLETED_PAPERWORK: "Marked paperwork completed",
    AUDIT_EDITED_PAPERWORK: "Changed paperwork",
    AUDIT_ADDED_SAVED_REPLY: "Added a saved reply",
    AUDIT_EDITED_SAVED_REPLY: "Edited a saved reply",
    AUDIT_DELETED_SAVED_REPLY: "Deleted a saved reply",
    AUDIT_REORDERED_SAVED_REPLIES: "Reordered saved replies",
    AUDIT_ADDED_WEBHOOK: "Added a webhook endpoint",
    AUDIT_EDITED_WEBHOOK: "Changed a webhook endpoint",
    AUDIT_DELETED_WEBHOOK: "Deleted a webhook endpoint",
    AUDIT_ROTATED_WEBHOOK_SECRET: "Rotated a webhook signing secret",
    AUDIT_ENABLED_WEBHOOK: "Enabled a webhook endpoint",
    AUDIT_TESTED_WEBHOOK: "Sent a webhook test event",
    AUDIT_RESENT_WEBHOOK: "Resent a webhook delivery",
    AUDIT_CREATED_PRACTICE: "Created the practice",
    AUDIT_SET_PASSWORD: "Set a password",
    AUDIT_REQUESTED_RESET: "Asked for a password reset",
    AUDIT_RESET_PASSWORD: "Reset a password",
    AUDIT_CHANGED_PASSWORD: "Changed the password",
    AUDIT_CREATED_API_KEY: "Created an API key",
    AUDIT_REVOKED_API_KEY: "Revoked an API key",
    AUDIT_API_READ: "Read patient data through the API",
    AUDIT_SIGNED_IN: "Signed in",
    AUDIT_SIGNED_OUT: "Signed out",
    AUDIT_SIGN_IN_FAILED: "Failed sign-in",
}

# Object types, by model.
OBJECT_TYPES: dict[type, str] = {
    Conversation: "conversation",
    Message: "message",
    Patient: "patient",
    User: "user",
    Clinic: "clinic",
    InboxNumber: "number",
    ApiKey: "api_key",
}

# Anything that looks like a phone number: 7+ digits with the usual punctuation (but not
# an ISO date, which the export's summary carries).
_PHONE_LIKE = re.compile(r"\+?\d[\d\s().\-]{5,}\d")
_ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d")


def _scrub(match: re.Match[str]) -> str:
    text = match.group(0)
    if _ISO_DATE.fullmatch(text) or sum(ch.isdigit() for ch in text) < 7:
        return text
    return "[number]"


@dataclass(frozen=True)
class Origin:
    """Where a request came from; the web layer fills it in."""

    ip: str | None = None
    user_agent: str | None = None


def clean_summary(text: str) -> str:
    """One line, no phone numbers, at most SUMMARY_CHARS characters."""
    flat = " ".join((text or "").split())
    return _PHONE_LIKE.sub(_scrub, flat)[:SUMMARY_CHARS]


def _short_agent(agent: str | None) -> str | None:
    if not agent:
        return None
    return " ".join(agent.split())[:USER_AGENT_CHARS]


def record(
    user: User | ApiActor,
    action: str,
    obj: object | None = None,
    *,
    summary: str = "",
    origin: Origin | None = None,
    commit: bool = True,
) -> AuditEvent:
    """Append one entry for something `user` (a person, or an API key's ApiActor) did to
    `obj` (a model instance or None), and commit it (commit=False: it goes with the
    caller's next commit, in the same transaction as what it records)."""
    if action not in ACTION_WORDS:
        raise ValueError(f"unknown audit action {action!r}")
    object_type = object_id = None
    if obj is not None:
        object_type = OBJECT_TYPES[type(obj)]
        object_id = obj.id  # type: ignore[attr-defined]
    origin = origin or Origin()
    entry = AuditEvent(
        account_id=user.account_id,
        user_id=user.id,
        api_key_id=getattr(user, "api_key_id", None),
        action=action,
        object_type=object_type,
        object_id=object_id,
        summary=clean_summary(summary),
        ip=(origin.ip or None) and origin.ip[:45],
        user_agent=_short_agent(origin.user_agent),
    )
    db.session.add(entry)
    if commit:
        db.session.commit()
    return entry


def record_failed_sign_in(email: str, origin: Origin | None = None) -> AuditEvent | None:
    """A wrong password for a known login goes in that account's log. An unknown email
    belongs to no account: it is only logged (without the address)."""
    user = db.session.scalars(
        select(User).where(func.lower(User.email) == (email or "").strip().lower())
    ).first()
    if user is None:
        log.info("failed sign-in for an unknown email from %s", (origin or Origin()).ip)
        return None
    return record(user, AUDIT_SIGN_IN_FAILED, summary="Wrong password", origin=origin)


# ---- reading the log --------------------------------------------------------------------


def account_timezone(account: Account | int) -> str:
    """The timezone the account's records are shown in (the audit log, billing, a conversation
    with no clinic): its first clinic's."""
    account_id = account if isinstance(account, int) else account.id
    first = db.session.scalar(
        select(Clinic.timezone).where(Clinic.account_id == account_id).order_by(Clinic.name)
    )
    return first or DEFAULT_TIMEZONE


def day_bounds(account: Account, start: date, end: date) -> tuple[datetime, datetime]:
    """UTC [from, to) covering the whole days start..end in the account's timezone."""
    tz = ZoneInfo(account_timezone(account))
    lower = datetime.combine(start, time.min, tz).astimezone(UTC)
    upper = datetime.combine(end + timedelta(days=1), time.min, tz).astimezone(UTC)
    return lower, upper


def _date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip()) if raw else None
    except ValueError:
        return None


@dataclass(frozen=True)
class LogFilters:
    """The audit log's filters: person, action, date from / to (days in account time)."""

    user_id: int | None = None
    action: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str], account: Account) -> LogFilters:
        raw_user = (args.get("user") or "").strip()
        user_id = None
        if raw_user:
            # Only a teammate of this account can be picked; anything else filters nothing.
            teammate = get_scoped(User, raw_user, account.id)
            user_id = teammate.id if teammate is not None else -1
        action = args.get("action") or None
        return cls(
            user_id=user_id,
            action=action if action in ACTION_WORDS else None,
            date_from=_date(args.get("from")),
            date_to=_date(args.get("to")),
        )

    def args(self, **changes: object) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.user_id:
            out["user"] = self.user_id
        if self.action:
            out["action"] = self.action
        if self.date_from:
            out["from"] = self.date_from.isoformat()
        if self.date_to:
            out["to"] = self.date_to.isoformat()
        out.update(changes)
        return out

    @property
    def active(self) -> bool:
        return bool(self.user_id or self.action or self.date_from or self.date_to)


@dataclass(frozen=True)
class ObjectRef:
    """What an entry was about, named from today's records of the same account.
    `link_id` is set when there is a page this account can open for it."""

    kind: str
    id: int
    label: str
    link_id: int | None = None


@dataclass(frozen=True)
class LogRow:
    event: AuditEvent
    who: str
    action: str
    object: ObjectRef | None


def parse_cursor(raw: str | None) -> int | None:
    """The `before` of a page link: an entry id, or None for the newest page."""
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_ID else None


def page(
    account: Account, f: LogFilters, before: int | None = None, limit: int = PAGE_SIZE
) -> tuple[list[LogRow], int | None]:
    """One page of the log, newest first, by keyset on id (append-only: ids grow with time).
    Returns the rows and the id to continue from, or None on the last page."""
    stmt = scoped(AuditEvent, account.id)
    if f.user_id:
        stmt = stmt.where(AuditEvent.user_id == f.user_id)
    if f.action:
        stmt = stmt.where(AuditEvent.action == f.action)
    if f.date_from:
        stmt = stmt.where(AuditEvent.created_at >= day_bounds(account, f.date_from, f.date_from)[0])
    if f.date_to:
        stmt = stmt.where(AuditEvent.created_at < day_bounds(account, f.date_to, f.date_to)[1])
    if before:
        stmt = stmt.where(AuditEvent.id < before)
    events = list(db.session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    more = len(events) > limit
    events = events[:limit]
    return _rows(account, events), (events[-1].id if more and events else None)


def people(account: Account) -> list[User]:
    """Everyone who can appear in the log, for the person filter."""
    return list(db.session.scalars(scoped(User, account.id).order_by(User.name)))


def _ids(events: list[AuditEvent], kind: str) -> set[int]:
    return {e.object_id for e in events if e.object_type == kind and e.object_id is not None}


def _rows(account: Account, events: list[AuditEvent]) -> list[LogRow]:
    """Name every person and object of a page in a few scoped queries."""
    users = {u.id: u for u in people(account)}
    refs: dict[tuple[str, int], ObjectRef] = {}

    from .numbers import active_number

    live = active_number(account.id) if account.inbox_enabled else None
    message_ids = _ids(events, "message")
    messages = (
        {
            m.id: m
            for m in db.session.scalars(
                scoped(Message, account.id).where(Message.id.in_(message_ids))
            )
        }
        if message_ids
        else {}
    )
    conv_ids = _ids(events, "conversation") | {m.conversation_id for m in messages.values()}
    convs = (
        {
            c.id: c
            for c in db.session.scalars(
                scoped(Conversation, account.id).where(Conversation.id.in_(conv_ids))
            )
        }
        if conv_ids
        else {}
    )

    def conv_link(conv: Conversation | None) -> int | None:
        return (
            conv.id
            if conv is not None and live is not None and conv.inbox_number_id == live.id
            else None
        )

    for cid, conv in convs.items():
        refs[("conversation", cid)] = ObjectRef(
            "conversation", cid, _patient_label(conv.patient), conv_link(conv)
        )
    for mid, message in messages.items():
        conv = convs.get(message.conversation_id)
        label = f"Text in {_patient_label(conv.patient)}'s conversation" if conv else "A text"
        refs[("message", mid)] = ObjectRef("message", mid, label, conv_link(conv))
    patient_ids = _ids(events, "patient")
    if patient_ids:
        for p in db.session.scalars(scoped(Patient, account.id).where(Patient.id.in_(patient_ids))):
            refs[("patient", p.id)] = ObjectRef("patient", p.id, _patient_label(p), p.id)
    for uid in _ids(events, "user"):
        if uid in users:
            refs[("user", uid)] = ObjectRef("user", uid, users[uid].name, uid)
    clinic_ids = _ids(events, "clinic")
    if clinic_ids:
        for c in db.session.scalars(scoped(Clinic, account.id).where(Clinic.id.in_(clinic_ids))):
            refs[("clinic", c.id)] = ObjectRef("clinic", c.id, c.name, None)
    number_ids = _ids(events, "number")
    if number_ids:
        for n in db.session.scalars(
            scoped(InboxNumber, account.id).where(InboxNumber.id.in_(number_ids))
        ):
            refs[("number", n.id)] = ObjectRef("number", n.id, phones.display(n.e164), None)

    key_ids = {e.api_key_id for e in events if e.api_key_id is not None}
    key_ids |= _ids(events, "api_key")
    api_keys = (
        {
            k.id: k
            for k in db.session.scalars(scoped(ApiKey, account.id).where(ApiKey.id.in_(key_ids)))
        }
        if key_ids
        else {}
    )
    for kid, key in api_keys.items():
        refs[("api_key", kid)] = ObjectRef("api_key", kid, f"API key “{key.name}”", None)

    rows = []
    for e in events:
        if e.api_key_id is not None:
            key = api_keys.get(e.api_key_id)
            who = f"API key “{key.name}”" if key else "An API key"
        elif e.user_id in users:
            who = users[e.user_id].name
        elif e.user_id is None and e.action == AUDIT_CREATED_PRACTICE:
            who = "The server's operator"  # flask create-practice: no login did it
        else:
            who = "—"
        ref = None
        if e.object_type and e.object_id is not None:
            ref = refs.get((e.object_type, e.object_id)) or ObjectRef(
                e.object_type, e.object_id, f"{e.object_type.capitalize()} #{e.object_id} (removed)"
            )
        rows.append(LogRow(e, who, ACTION_WORDS.get(e.action, e.action), ref))
    return rows


def _patient_label(patient: Patient) -> str:
    return patient.full_name or "Unknown sender"
