"""Export conversations as CSV: every text of the account in a date range, including
those of a disabled Inbox or a released number (the practice keeps its records).

Streamed: rows are read from the database in batches and written out as they come, so
a year of texts never sits in memory. Cells are CSV-injection safe."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import (
    DIRECTION_IN,
    Account,
    Clinic,
    Conversation,
    InboxNumber,
    Message,
    Patient,
    User,
)
from .audit import account_timezone, day_bounds

HEADER = [
    "sent at",
    "clinic",
    "patient name",
    "patient phone",
    "direction",
    "sent by",
    "status",
    "inbox number",
    "text",
]
DIRECTION_WORDS = {DIRECTION_IN: "inbound", "out": "outbound"}
MAX_DAYS = 366
BATCH = 500
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportRefused(Exception):
    """A date range that cannot be exported; the message says why."""


# A phone number as the app keeps them (E.164): a spreadsheet reads it as a number, a
# program as the number it is; nothing in it can call a function, so it stays as it is.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def csv_safe(value: object) -> str:
    """A cell a spreadsheet shows as text, never runs: a leading quote before =, +, -, @,
    also after leading spaces or line breaks (spreadsheets skip them before reading a
    formula), and before a leading tab / carriage return. Phone numbers in E.164 are
    left whole."""
    text = "" if value is None else str(value)
    if _E164.fullmatch(text):
        return text
    if text.startswith(_FORMULA_START) or text.lstrip(" \n\r\t\f\v\u00a0").startswith(
        _FORMULA_START
    ):
        return "'" + text
    return text


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"

    def filename(self, account: Account) -> str:
        return f"conversations-{account.id}-{self.start.isoformat()}-{self.end.isoformat()}.csv"


def default_range(today: date) -> DateRange:
    return DateRange(today - timedelta(days=30), today)


def parse_range(args: Mapping[str, str]) -> DateRange:
    """From / to dates (YYYY-MM-DD, both days included)."""
    try:
        start = date.fromisoformat((args.get("from") or "").strip())
        end = date.fromisoformat((args.get("to") or "").strip())
    except ValueError:
        raise ExportRefused("Pick a start and an end date.") from None
    if end < start:
        raise ExportRefused("The end date is before the start date.")
    if (end - start).days >= MAX_DAYS:
        raise ExportRefused(f"Export at most {MAX_DAYS} days at a time.")
    return DateRange(start, end)


def _rows(account: Account, span: DateRange) -> Iterator[list[str]]:
    lower, upper = day_bounds(account, span.start, span.end)
    sender = aliased(User)
    stmt = (
        select(
            Message.sent_at,
            Message.direction,
            Message.status,
            Message.body,
            Clinic.name,
            Clinic.timezone,
            Patient.first_name,
            Patient.last_name,
            Patient.phone,
            sender.name,
            InboxNumber.e164,
        )
        .join(
            Conversation,
            and_(
                Conversation.id == Message.conversation_id,
                Conversation.account_id == account.id,
            ),
        )
        .join(
            Patient, and_(Patient.id == Conversation.patient_id, Patient.account_id == account.id)
        )
        .join(
            InboxNumber,
            and_(
                InboxNumber.id == Conversation.inbox_number_id,
                InboxNumber.account_id == account.id,
            ),
        )
        .outerjoin(
            Clinic, and_(Clinic.id == Conversation.clinic_id, Clinic.account_id == account.id)
        )
        .outerjoin(
            sender, and_(sender.id == Message.sent_by_user_id, sender.account_id == account.id)
        )
        .where(
            Message.account_id == account.id,
            Message.sent_at >= lower,
            Message.sent_at < upper,
        )
        .order_by(Message.sent_at, Message.id)
        .execution_options(yield_per=BATCH)
    )
    fallback = account_timezone(account)
    zones: dict[str, ZoneInfo] = {}
    for (
        sent_at,
        direction,
        status,
        body,
        clinic,
        tz,
        first,
        last,
        phone,
        by,
        number,
    ) in db.session.execute(stmt):
        name = tz or fallback
        zone = zones.get(name) or zones.setdefault(name, ZoneInfo(name))
        inbound = direction == DIRECTION_IN
        yield [
            sent_at.astimezone(zone).isoformat(timespec="seconds"),
            clinic or "",
            f"{first} {last}".strip(),
            phone,
            DIRECTION_WORDS.get(direction, direction),
            "" if inbound else (by or "Automated"),
            status,
            number,
            body,
        ]


def export_csv(account: Account, span: DateRange) -> Iterator[str]:
    """The CSV, one chunk per batch of rows (header first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for n, row in enumerate(_rows(account, span), start=1):
        writer.writerow([csv_safe(cell) for cell in row])
        if n % BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
