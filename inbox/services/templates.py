"""Saved replies with merge fields, filled in for one conversation."""

from __future__ import annotations

import string
from dataclasses import dataclass

from ..extensions import db
from ..models import Conversation, ReplyTemplate, scoped
from ..timefmt import local
from . import patients as patient_service

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
