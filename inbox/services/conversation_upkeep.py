"""What a conversation shows in the list (its newest time, preview and direction), kept
in step with the texts written to it; and finding or starting a patient, and a patient's
conversation on a number, for the texts that need one."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import ARRAY, DateTime, Integer, Text, bindparam, case, func, or_, select, update
from sqlalchemy.engine import Connection

from ..extensions import db
from ..models import DIRECTION_OUT, KIND_TEXT, Conversation, InboxNumber, Message, Patient, scoped
from ..models.conversations import KIND_WORDS
from . import phones

PREVIEW_CHARS = 140


def list_preview(body: str, direction: str, kind: str = KIND_TEXT) -> str:
    """The list row's preview: a staff text is "You: ...", an automatic one says what it is
    (an opt-out confirmation was not written by anyone on the team)."""
    if direction != DIRECTION_OUT:
        return _preview(body)
    return _preview(f"{KIND_WORDS.get(kind, 'You')}: {body}")


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def touch_conversation(conv: Conversation, message: Message) -> None:
    """Keep the list's columns in step with the newest message of the conversation."""
    if conv.last_message_at is None or message.sent_at >= conv.last_message_at:
        conv.last_message_at = message.sent_at
        conv.last_message_preview = list_preview(message.body, message.direction, message.kind)
        conv.last_direction = message.direction


@cache
def _touch_statement(dialect: str):
    """On PostgreSQL one UPDATE for all the conversations, from arrays (its counter trigger runs
    once per statement, so once per batch); on SQLite an executemany, whose row triggers
    run per row either way."""
    t = Conversation.__table__
    at_type = t.c.last_message_at.type
    if dialect == "postgresql":
        v = select(
            func.unnest(bindparam("conv_ids", type_=ARRAY(Integer))).label("conv_id"),
            func.unnest(bindparam("ats", type_=ARRAY(DateTime(timezone=True)))).label("at"),
            func.unnest(bindparam("previews", type_=ARRAY(Text))).label("preview"),
            func.unnest(bindparam("dirs", type_=ARRAY(Text))).label("dir"),
        ).subquery("v")
        src = {"conv_id": v.c.conv_id, "at": v.c.at, "preview": v.c.preview, "dir": v.c.dir}
    else:
        src = {
            "conv_id": bindparam("conv_id"),
            "at": bindparam("at", type_=at_type),
            "preview": bindparam("preview"),
            "dir": bindparam("dir"),
        }
    newer = or_(t.c.last_message_at.is_(None), t.c.last_message_at <= src["at"])
    return (
        update(t)
        .where(t.c.id == src["conv_id"])
        .values(
            unread=bindparam("unread"),
            last_message_at=case((newer, src["at"]), else_=t.c.last_message_at),
            last_message_preview=case((newer, src["preview"]), else_=t.c.last_message_preview),
            last_direction=case((newer, src["dir"]), else_=t.c.last_direction),
        )
    )


def touch_conversations(
    newest: list[tuple[int, datetime, str, str]], *, unread: bool, conn: Connection
) -> None:
    """touch_conversation() for many conversations, on the caller's connection: each
    (conversation id, sent_at, body, direction) is its conversation's newest text of a batch,
    and moves the list's columns only if it is newer than what the conversation shows. The
    caller tells the page cache which accounts changed."""
    if not newest:
        return
    previews = [list_preview(body, direction) for _, _, body, direction in newest]
    statement = _touch_statement(conn.dialect.name)
    if conn.dialect.name == "postgresql":
        conn.execute(
            statement,
            {
                "conv_ids": [conv_id for conv_id, *_ in newest],
                "ats": [at for _, at, *_ in newest],
                "previews": previews,
                "dirs": [d for *_, d in newest],
                "unread": unread,
            },
        )
    else:
        conn.execute(
            statement,
            [
                {"conv_id": conv_id, "at": at, "preview": preview, "dir": d, "unread": unread}
                for (conv_id, at, _, d), preview in zip(newest, previews, strict=True)
            ],
        )


def find_patient(account_id: int, e164: str) -> Patient | None:
    """The account's patient with this mobile number, if any."""
    return db.session.scalars(scoped(Patient, account_id).where(Patient.phone == e164)).first()


def find_or_add_patient(account_id: int, e164: str, **new_fields) -> Patient:
    """The account's patient with this mobile number, created (with new_fields) if none."""
    patient = find_patient(account_id, e164)
    if patient is None:
        patient = Patient(
            account_id=account_id, phone=e164, phone_digits=phones.national_digits(e164),
            **new_fields,
        )  # fmt: skip
        db.session.add(patient)
        db.session.flush()
    return patient


def find_conversation(number: InboxNumber | None, patient: Patient) -> Conversation | None:
    """The patient's conversation on this number (None: the account's default sender), if any."""
    return db.session.scalars(
        select(Conversation).where(
            Conversation.inbox_number_id.is_(None)
            if number is None
            else Conversation.inbox_number_id == number.id,
            Conversation.patient_id == patient.id,
        )
    ).first()


def find_or_start_conversation(
    number: InboxNumber | None, patient: Patient, *, clinic_id: int | None
) -> Conversation:
    """The patient's conversation on this number (None: the account's default sender, used
    for reminders while the Inbox is off), started under clinic_id if there is none."""
    conv = find_conversation(number, patient)
    if conv is None:
        conv = Conversation(
            account_id=patient.account_id,
            inbox_number_id=number.id if number else None,
            patient_id=patient.id,
            clinic_id=clinic_id,
            opted_out=patient.opted_out,
        )
        db.session.add(conv)
        db.session.flush()
    return conv
