"""Saved replies with merge fields, filled in for one conversation."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func

from ..extensions import db
from ..models import Account, Conversation, ReplyTemplate, get_scoped, scoped, utcnow
from ..timefmt import local
from . import patients as patient_service
from . import segments

FIELDS = ("first_name", "practice_name", "clinic_name", "portal_link", "next_appointment")


def field_error(text: str, allowed: tuple[str, ...]) -> str | None:
    """Why a text's merge fields would not fill in, in words for the person who typed it;
    None when every field is one of `allowed`, written as {name}. Braces are doubled for a
    literal one ({{ and }})."""
    usage = ", ".join("{" + f + "}" for f in allowed)
    try:
        fields = [(name, conv, spec) for _, name, spec, conv in string.Formatter().parse(text)]
    except ValueError:
        return (
            "A { or } has no partner. Merge fields are written like {first_name}; "
            f"use: {usage}."
        )
    unknown: list[str] = []
    for name, conv, spec in fields:
        if name is None:
            continue  # literal text
        if name == "" or name.isdigit():
            return f"An empty merge field {{}}. Put a field's name between the braces: {usage}."
        if conv or spec:
            written = "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            return f"Write merge fields without ! or :, for example {{first_name}}, not {written}."
        if name not in allowed and name not in unknown:
            unknown.append(name)
    if unknown:
        return (
            "Unknown merge field "
            + ", ".join("{" + u + "}" for u in sorted(unknown))
            + f". Use: {usage}."
        )
    return None


@dataclass(frozen=True)
class FilledTemplate:
    template: ReplyTemplate
    text: str
    suggested: bool  # offered first: e.g. paperwork is outstanding


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"  # unknown fields stay visible for staff to fix


def _appointment_words(conv: Conversation) -> str:
    appt = patient_service.next_appointment(conv.patient)
    if appt is None:
        return "[no upcoming appointment]"
    when = local(appt.starts_at, appt.clinic.timezone)
    return f"{when:%a, %b} {when.day} at {when:%-I:%M %p} at {appt.clinic.name}"


def fill(body: str, conv: Conversation, extra: dict[str, str] | None = None) -> str:
    patient = conv.patient
    clinic = conv.clinic or patient.home_clinic
    values = _Fields(
        first_name=patient.first_name or "there",
        practice_name=conv.account.name,  # the name patients know; clinics are locations
        clinic_name=clinic.name if clinic else conv.account.name,
        portal_link=conv.account.portal_url or "[portal link not set]",
        next_appointment=_appointment_words(conv) if "{next_appointment}" in body else "",
    )
    values.update(extra or {})
    return _format(body, values)


def _format(body: str, values: dict[str, str]) -> str:
    try:
        return string.Formatter().vformat(body, (), values)
    except (ValueError, IndexError):
        return body  # a template with a stray brace is shown as written


def for_conversation(conv: Conversation) -> list[FilledTemplate]:
    templates = db.session.scalars(
        scoped(ReplyTemplate, conv.account_id).order_by(ReplyTemplate.position, ReplyTemplate.id)
    )
    has_paperwork = bool(patient_service.outstanding_paperwork(conv.patient))
    filled = [
        FilledTemplate(t, fill(t.body, conv), has_paperwork and t.kind == "paperwork")
        for t in templates
    ]
    return sorted(filled, key=lambda f: not f.suggested)


# ---- Settings › Inbox › Saved replies ---------------------------------------------------

NAME_CHARS = 80
BODY_CHARS = 1000
SAMPLE_FIRST_NAME = "Ava"


class ReplyRefused(ValueError):
    """A saved reply that cannot be saved; the message says why, for the person typing."""


@dataclass(frozen=True)
class Preview:
    text: str  # filled in for a sample patient
    info: segments.SegmentInfo
    error: str | None  # why it would not fill in or send


def exist(account_id: int) -> bool:
    """Whether the practice has any saved reply (the composer's Templates menu)."""
    return (
        db.session.scalar(scoped(ReplyTemplate, account_id).with_only_columns(ReplyTemplate.id))
        is not None
    )


def saved_replies(account_id: int) -> list[ReplyTemplate]:
    return list(
        db.session.scalars(
            scoped(ReplyTemplate, account_id).order_by(ReplyTemplate.position, ReplyTemplate.id)
        )
    )


def get_reply(account_id: int, reply_id: int | str) -> ReplyTemplate | None:
    return get_scoped(ReplyTemplate, reply_id, account_id)


def sample_fields(account: Account) -> dict[str, str]:
    """What the merge fields say for a sample patient of this practice (the preview)."""
    clinic = account.active_clinics[0] if account.active_clinics else None
    zone = clinic.timezone if clinic else "America/New_York"
    when = local(utcnow() + timedelta(days=2), zone).replace(hour=15, minute=0)
    place = clinic.name if clinic else account.name
    return {
        "first_name": SAMPLE_FIRST_NAME,
        "practice_name": account.name,
        "clinic_name": place,
        "portal_link": account.portal_url or "[portal link not set]",
        "next_appointment": f"{when:%a, %b} {when.day} at {when:%-I:%M %p} at {place}",
    }


def preview(account: Account, body: str) -> Preview:
    """The saved reply as a sample patient would get it, its size in texts, and what is
    wrong with it, if anything."""
    body = (body or "").strip()
    error = field_error(body, FIELDS) if body else None
    text = _format(body, _Fields(sample_fields(account))) if body and not error else body
    info = segments.count(text)
    if error is None and info.too_long:
        error = (
            f"Filled in, this reply would go out as {info.segments} texts; the limit is "
            f"{segments.MAX_SEGMENTS}. Please shorten it."
        )
    return Preview(text, info, error)


def _checked(account: Account, reply: ReplyTemplate | None, name: str, body: str) -> tuple:
    name = " ".join((name or "").split())
    body = (body or "").strip()
    if not name:
        raise ReplyRefused("Give the saved reply a name, like “Running late”.")
    if len(name) > NAME_CHARS:
        raise ReplyRefused(f"Keep the name to {NAME_CHARS} characters.")
    if not body:
        raise ReplyRefused("Write the text of the saved reply.")
    if len(body) > BODY_CHARS:
        raise ReplyRefused(f"Keep the text to {BODY_CHARS} characters.")
    error = preview(account, body).error
    if error:
        raise ReplyRefused(error)
    clash = db.session.scalar(
        scoped(ReplyTemplate, account.id)
        .where(func.lower(ReplyTemplate.name) == name.lower())
        .where(ReplyTemplate.id != (reply.id if reply else -1))
        .with_only_columns(ReplyTemplate.id)
    )
    if clash is not None:
        raise ReplyRefused(f"There is already a saved reply named “{name}”. Pick another name.")
    return name, body


def save_reply(
    account: Account,
    reply: ReplyTemplate | None,
    *,
    name: str,
    body: str,
    paperwork: bool,
) -> ReplyTemplate:
    """Add (reply None: at the end of the list) or edit a saved reply. Raises ReplyRefused."""
    name, body = _checked(account, reply, name, body)
    if reply is None:
        last = db.session.scalar(
            scoped(ReplyTemplate, account.id).with_only_columns(func.max(ReplyTemplate.position))
        )
        reply = ReplyTemplate(account_id=account.id, position=(last or 0) + 1)
        db.session.add(reply)
    reply.name, reply.body = name, body
    if paperwork:
        reply.kind = "paperwork"
    elif reply.kind in (None, "paperwork"):
        reply.kind = "general"  # any other kind it had stays (the demo's "appointment")
    db.session.commit()
    return reply


def delete_reply(reply: ReplyTemplate) -> None:
    db.session.delete(reply)
    db.session.commit()


def move_reply(account: Account, reply: ReplyTemplate, step: int) -> bool:
    """Move a saved reply one place up (step -1) or down (+1) in the list staff see.
    False when it is already first or last."""
    replies = saved_replies(account.id)
    at = next(i for i, r in enumerate(replies) if r.id == reply.id)
    to = at + step
    if not 0 <= to < len(replies):
        return False
    replies[at], replies[to] = replies[to], replies[at]
    for position, r in enumerate(replies, start=1):
        r.position = position  # positions made whole again (the demo's may repeat)
    db.session.commit()
    return True
