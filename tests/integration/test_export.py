"""Export conversations: the Main Admin's CSV of a date range, streamed, safe to open in a
spreadsheet, including texts of a disabled Inbox or a released number, never another
practice's, and always audited."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from inbox.extensions import db
from inbox.models import (
    DIRECTION_IN,
    DIRECTION_OUT,
    NUMBER_RELEASED,
    STATUS_DELIVERED,
    STATUS_RECEIVED,
    AuditEvent,
    Conversation,
    InboxNumber,
    Message,
    Patient,
    User,
    utcnow,
)
from inbox.services import export
from tests.conftest import csrf_token, fresh, login
from tests.integration.practices import set_up_two_practices

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def _export(client, start: str, end: str):
    token = csrf_token(client, "/settings/export")
    # buffered: the test client reads the streamed body inside the request's own context.
    return client.post(
        "/settings/export", data={"from": start, "to": end, "csrf_token": token}, buffered=True
    )


def _rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def _today_range() -> tuple[str, str]:
    today = utcnow().date()
    return (today - timedelta(days=30)).isoformat(), (today + timedelta(days=1)).isoformat()


def test_csv_safe_prefixes_formula_cells():
    for cell in (
        "=1+1",
        "+1 555",
        "-2",
        "@SUM(A1)",
        "\t=1",
        "\r=1",
        " =1",
        '   =HYPERLINK("http://evil")',
        "\n+cmd",
        "\u00a0@SUM(A1)",
        "+1212555013x",
    ):
        assert export.csv_safe(cell) == "'" + cell  # fmt: skip
    for cell in ("Hello", "3pm please", "", "'quoted", "a =1", "1+1"):
        assert export.csv_safe(cell) == cell
    assert export.csv_safe(None) == ""
    # Phone numbers stay whole: a program reads +12125550134, a spreadsheet 12125550134.
    for phone in ("+12125550134", "+447700900123"):
        assert export.csv_safe(phone) == phone


def test_the_main_admin_exports_every_text_of_the_range(client, demo):
    glow = demo
    set_up_two_practices()  # Fresh Face Clinic has texts of its own
    login(client, "admin@glow.test")
    start, end = _today_range()
    r = _export(client, start, end)
    assert r.status_code == 200
    assert "Content-Length" not in r.headers  # streamed, not built in memory first
    assert r.mimetype == "text/csv"
    assert (
        f'filename="conversations-{glow.id}-{start}-{end}.csv"' in r.headers["Content-Disposition"]
    )
    assert r.headers["Cache-Control"] == "no-store"
    rows = _rows(r)
    fresh()
    expected = db.session.scalars(select(Message).where(Message.account_id == glow.id)).all()
    assert len(rows) == len(expected) > 50
    assert list(rows[0]) == export.HEADER
    assert all(ISO.match(row["sent at"]) for row in rows)
    assert [row["sent at"] for row in rows] == sorted(row["sent at"] for row in rows)
    # Nothing of the other practice.
    text = r.get_data(as_text=True)
    assert "Fresh secret" not in text and "Quinn" not in text and "+1312" not in text
    # One row, column by column: times in the clinic's timezone, the patient, who sent it.
    out = db.session.scalars(
        select(Message).where(Message.account_id == glow.id, Message.direction == DIRECTION_OUT)
        .order_by(Message.sent_at)
    ).first()  # fmt: skip
    conv = out.conversation
    row = next(
        r for r in rows if r["text"] == out.body and r["patient name"] == conv.patient.full_name
    )  # noqa: E501
    assert row["clinic"] == conv.clinic.name
    assert row["patient phone"] == conv.patient.phone  # E.164, whole (nothing to run)
    assert row["direction"] == "outbound" and row["sent by"] == "Sam Lee"
    assert row["status"] == out.status and row["inbox number"] == "+12125550134"
    assert row["sent at"].endswith(("-05:00", "-04:00"))  # New York
    inbound = next(r for r in rows if r["direction"] == "inbound")
    assert inbound["sent by"] == ""

    # The export is in the audit log, with the range and without any text.
    entry = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "exported")).one()
    assert entry.account_id == glow.id and entry.summary == f"Conversations, {start} to {end}"
    assert (
        entry.user_id
        == db.session.scalars(select(User.id).where(User.email == "admin@glow.test")).one()
    )  # noqa: E501


def test_the_csv_comes_in_chunks_of_rows(ctx, demo, monkeypatch):
    monkeypatch.setattr(export, "BATCH", 10)
    today = utcnow().date()
    chunks = list(export.export_csv(demo, export.DateRange(today - timedelta(days=30), today)))
    lines = "".join(chunks).splitlines()
    assert len(chunks) == (len(lines) - 1) // 10 + 1 and len(chunks) > 3
    assert lines[0] == ",".join(export.HEADER)


def test_texts_of_a_released_number_and_a_disabled_inbox_are_exported(client, demo):
    glow = demo
    patient = db.session.scalars(select(Patient).where(Patient.account_id == glow.id)).first()
    old = InboxNumber(account_id=glow.id, e164="+12125550199", status=NUMBER_RELEASED,
                      released_at=utcnow())  # fmt: skip
    db.session.add(old)
    db.session.flush()
    conv = Conversation(account_id=glow.id, inbox_number_id=old.id, patient_id=patient.id,
                        clinic_id=patient.home_clinic_id)  # fmt: skip
    db.session.add(conv)
    db.session.flush()
    at = datetime(2026, 3, 10, 17, 30, tzinfo=UTC)
    for direction, body in ((DIRECTION_IN, '=HYPERLINK("http://evil")'), (DIRECTION_OUT, "-1")):
        db.session.add(Message(
            account_id=glow.id, conversation_id=conv.id, direction=direction, body=body,
            from_number=patient.phone, to_number=old.e164, sent_at=at,
            status=STATUS_RECEIVED if direction == DIRECTION_IN else STATUS_DELIVERED,
        ))  # fmt: skip
    glow.inbox_enabled = False  # the Inbox is off today
    db.session.commit()

    login(client, "admin@glow.test")
    rows = _rows(_export(client, "2026-03-10", "2026-03-10"))
    assert [r["text"] for r in rows] == ['\'=HYPERLINK("http://evil")', "'-1"]
    assert rows[0]["inbox number"] == "+12125550199"
    assert rows[0]["sent at"] == "2026-03-10T13:30:00-04:00"  # New York, daylight time
    assert rows[1]["sent by"] == "Automated"
    # The range is whole days in the practice's timezone: the day before has nothing.
    assert _rows(_export(client, "2026-03-09", "2026-03-09")) == []


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [("", "", "Pick a start"), ("2026-03-10", "2026-03-01", "before the start"),
     ("2025-01-01", "2026-03-01", "at most")],
)  # fmt: skip
def test_bad_ranges_are_refused_in_words(client, demo, start, end, words):
    login(client, "admin@glow.test")
    r = _export(client, start, end)
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and words in page
    # The dates stay as the admin picked them, to correct rather than pick again.
    assert f'name="from" value="{start}"' in page and f'name="to" value="{end}"' in page
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "exported")).all() == []


@pytest.mark.parametrize("email", ["staff@glow.test", "frontdesk@glow.test", "admin2@glow.test"])
def test_nobody_else_exports(client, demo, email):
    login(client, email)
    token = csrf_token(client, "/settings/profile")
    start, end = _today_range()
    assert client.get("/settings/export").status_code == 403
    r = client.post("/settings/export", data={"from": start, "to": end, "csrf_token": token})
    assert r.status_code == 403 and "text/csv" not in r.content_type


def test_another_practices_main_admin_exports_only_their_own(client, demo):
    set_up_two_practices()
    login(client, "admin@fresh.test")
    start, end = _today_range()
    rows = _rows(_export(client, start, end))
    assert sorted(r["text"] for r in rows) == ["Fresh secret answer", "Fresh secret question"]
    assert {r["clinic"] for r in rows} == {"Main Street"}
    assert all(r["sent at"].endswith(("-06:00", "-05:00")) for r in rows)  # Chicago


def test_export_form_is_in_settings(client, demo):
    login(client, "admin@glow.test")
    html = client.get("/settings/export").get_data(as_text=True)
    assert 'id="export-form"' in html and "Export conversations" in html
    assert 'type="date"' in html
