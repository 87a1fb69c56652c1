"""The audit log: what is recorded (and what never is), that entries cannot be changed,
and Settings › Audit log for the Main Admin."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import delete, inspect, select, update

from inbox.extensions import db
from inbox.models import (
    STATUS_FAILED,
    Account,
    AuditEvent,
    AuditLogIsAppendOnly,
    Conversation,
    Message,
    Patient,
    User,
)
from inbox.services import audit
from tests.conftest import csrf_token, fresh, login

HTMX = {"HX-Request": "true"}
DIGITS = re.compile(r"\d[\d\s().\-]{5,}\d")


def _entries(account_name: str = "Glow Aesthetics") -> list[AuditEvent]:
    fresh()
    account = db.session.scalars(select(Account).where(Account.name == account_name)).one()
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.account_id == account.id).order_by(AuditEvent.id)
        )
    )


def _actions(account_name: str = "Glow Aesthetics") -> list[str]:
    return [e.action for e in _entries(account_name)]


def _user(email: str) -> User:
    return db.session.scalars(select(User).where(User.email == email)).one()


# ---- what is recorded ------------------------------------------------------------------------


def test_sign_in_sign_out_and_failed_sign_in(client, demo):
    assert login(client, "staff@glow.test", "wrong").status_code == 401
    assert login(client, "nobody@glow.test", "wrong").status_code == 401  # no account: not here
    login(client, "staff@glow.test")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/settings/profile")})
    entries = _entries()
    assert [e.action for e in entries] == ["sign_in_failed", "signed_in", "signed_out"]
    staff = _user("staff@glow.test")
    assert {e.user_id for e in entries} == {staff.id}
    assert all(e.ip == "127.0.0.1" and e.user_agent.startswith("Werkzeug") for e in entries)
    assert "nobody" not in " ".join(e.summary for e in entries)
    assert _actions("Fresh Face Clinic") == []


def test_inbox_actions_are_recorded_without_text_or_phone_numbers(client, demo, sandbox):
    login(client, "staff@glow.test")
    token = csrf_token(client, "/inbox")
    convs = list(db.session.scalars(
        select(Conversation).where(Conversation.opted_out.is_(False)).order_by(Conversation.id)
    ))  # fmt: skip
    conv = convs[0]
    start = len(_entries())

    assert client.get(f"/inbox/c/{conv.id}").status_code == 200
    client.get(f"/inbox/c/{conv.id}", headers={**HTMX, "HX-Target": "conversation-pane"})
    client.get(f"/inbox/c/{conv.id}?find=x", headers={**HTMX, "HX-Target": "messages"})  # no entry
    secret = "Private note for +1 917 555 0100 about filler"
    r = client.post(f"/inbox/c/{conv.id}/messages", data={"body": secret, "csrf_token": token})
    assert r.status_code == 302
    client.post(f"/inbox/c/{conv.id}/read-state", data={"unread": "1", "csrf_token": token})
    read_ids = [c.id for c in convs[1:] if not c.unread][:3]
    r = client.post("/inbox/bulk", data={"ids": read_ids, "action": "unread", "csrf_token": token})
    client.post("/inbox/bulk", data={"ids": read_ids[:2], "action": "read", "csrf_token": token})
    client.post("/inbox/bulk", data={"ids": [], "action": "read", "csrf_token": token})  # no-op
    failed = db.session.scalars(select(Message).where(Message.status == STATUS_FAILED)).first()
    assert client.post(f"/inbox/messages/{failed.id}/retry",
                       data={"csrf_token": token}).status_code == 302  # fmt: skip
    patient = db.session.scalars(select(Patient).order_by(Patient.id.desc())).first()
    form = {"patient_id": patient.id, "body": secret, "clinic_id": patient.home_clinic_id}
    r = client.post("/inbox/new", data={**form, "csrf_token": token})
    assert r.status_code == 302
    assert client.get(f"/patients/{patient.id}").status_code == 200

    entries = _entries()[start:]
    assert [e.action for e in entries] == [
        "viewed_conversation", "viewed_conversation", "sent_text", "marked_unread",
        "marked_unread", "marked_read", "retried_text", "sent_text", "viewed_patient",
    ]  # fmt: skip
    sent = entries[2]
    assert sent.object_type == "message"
    assert db.session.get(Message, sent.object_id).body == secret
    assert entries[0].object_type == "conversation" and entries[0].object_id == conv.id
    assert entries[3].summary == "1 conversation"
    assert entries[4].summary == f"{len(read_ids)} conversations (bulk)" and len(read_ids) == 3
    assert entries[5].summary == "2 conversations (bulk)"
    assert entries[6].object_id == failed.id
    assert (entries[8].object_type, entries[8].object_id) == ("patient", patient.id)
    for e in entries:
        assert "filler" not in e.summary and "Private" not in e.summary
        assert not DIGITS.search(e.summary), e.summary
        assert e.user_id == _user("staff@glow.test").id


def test_settings_actions_are_recorded(client, demo, sandbox):
    login(client, "admin2@glow.test")
    frontdesk = _user("frontdesk@glow.test")
    token = csrf_token(client, f"/settings/teammates/{frontdesk.id}")
    r = client.post(f"/settings/teammates/{frontdesk.id}",
                    data={"inbox": "on", "all_clinics": "on", "csrf_token": token})  # fmt: skip
    assert r.status_code == 302
    entry = _entries()[-1]
    assert (entry.action, entry.object_type, entry.object_id) == (
        "changed_privileges", "user", frontdesk.id)  # fmt: skip
    assert entry.summary == "Inbox privilege on; clinics: All Clinics"
    assert entry.user_id == _user("admin2@glow.test").id

    login(client, "admin@fresh.test")
    token = csrf_token(client, "/settings/billing")
    client.post("/settings/billing", data={"plan": "accelerator", "csrf_token": token})
    form = {"number": "+12125550131", "area_code": "212", "csrf_token": token}
    r = client.post("/settings/inbox/setup/finish", data=form)
    assert r.headers["Location"] == "/settings/inbox/setup/done"
    client.post("/settings/inbox/setup/finish", data=form)  # a second click buys nothing
    client.post("/settings/inbox/disable", data={"csrf_token": token})
    entries = _entries("Fresh Face Clinic")
    assert [e.action for e in entries] == [
        "signed_in", "changed_plan", "bought_number", "enabled_inbox", "disabled_inbox",
    ]  # fmt: skip
    assert entries[2].object_type == "number"
    assert entries[2].object_id == entries[3].object_id == entries[4].object_id
    assert all("555" not in e.summary for e in entries)


def test_summaries_lose_phone_numbers():
    assert audit.clean_summary("call +1 (917) 555-0100 now") == "call [number] now"
    assert audit.clean_summary("3 conversations (bulk)") == "3 conversations (bulk)"
    assert audit.clean_summary("text 9175550100 and 12-345") == "text [number] and 12-345"
    assert audit.clean_summary("2026-11-01 to 2026-11-27") == "2026-11-01 to 2026-11-27"
    assert len(audit.clean_summary("x" * 1000)) == audit.SUMMARY_CHARS


def test_unknown_actions_are_refused(ctx, demo):
    with pytest.raises(ValueError):
        audit.record(_user("admin@glow.test"), "deleted_everything")


# ---- append-only ------------------------------------------------------------------------------


def test_entries_cannot_be_changed_or_deleted(ctx, demo):
    entry = audit.record(_user("admin@glow.test"), "signed_in", origin=audit.Origin("10.0.0.1"))
    entry.summary = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEvent, entry.id))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.execute(update(AuditEvent).values(summary="x"))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.execute(delete(AuditEvent))
    db.session.rollback()
    fresh()
    kept = db.session.get(AuditEvent, entry.id)
    assert kept.summary == "" and kept.ip == "10.0.0.1"


def test_no_route_changes_the_log(app, client, demo):
    rules = [r for r in app.url_map.iter_rules() if "audit" in r.rule]
    assert rules and all(r.methods <= {"GET", "HEAD", "OPTIONS"} for r in rules)
    login(client, "admin@glow.test")
    token = csrf_token(client, "/settings/audit")
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert client.open("/settings/audit", method=method,
                           data={"csrf_token": token}).status_code == 405  # fmt: skip


# ---- Settings › Audit log -----------------------------------------------------------------------


def _add(account: Account, user: User, action: str, at: datetime, **kw) -> None:
    db.session.add(AuditEvent(account_id=account.id, user_id=user.id, action=action,
                              created_at=at, **kw))  # fmt: skip


def test_audit_log_page_shows_filters_and_pages(client, demo):
    glow = demo
    admin, staff = _user("admin@glow.test"), _user("staff@glow.test")
    conv = db.session.scalars(select(Conversation).order_by(Conversation.id)).first()
    base = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 10:00 AM in New York
    _add(glow, staff, "viewed_conversation", base, object_type="conversation",
         object_id=conv.id, ip="203.0.113.9")  # fmt: skip
    for i in range(119):
        _add(glow, admin, "signed_in", base + timedelta(minutes=i + 1), ip="198.51.100.7")
    _add(glow, staff, "viewed_patient", datetime(2026, 11, 24, 16, 0, tzinfo=UTC),
         object_type="patient", object_id=conv.patient_id)  # fmt: skip
    db.session.commit()
    login(client, "admin@glow.test")  # one more entry: now

    html = client.get("/settings/audit").get_data(as_text=True)
    assert 'id="settings-audit-tab"' in html and "Audit log" in html
    assert html.count("<tr data-action=") == 50
    assert 'id="audit-older"' in html
    older = re.search(r'id="audit-older" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    page2 = client.get(older).get_data(as_text=True)
    assert page2.count("<tr data-action=") == 50
    older = re.search(r'id="audit-older" href="([^"]+)"', page2).group(1).replace("&amp;", "&")
    page3 = client.get(older).get_data(as_text=True)
    assert page3.count("<tr data-action=") == 22 and 'id="audit-older"' not in page3
    # The oldest entry: New York time, who, the action in words, a link to the conversation, IP.
    assert "Fri, Nov 20, 2026 at 10:00 AM" in page3
    assert "Sam Lee" in page3 and "Viewed a conversation" in page3
    assert f'href="/inbox/c/{conv.id}"' in page3 and "203.0.113.9" in page3

    # Filters: person, action, dates (days in the practice's timezone).
    by_staff = client.get(f"/settings/audit?user={staff.id}").get_data(as_text=True)
    assert by_staff.count("<tr data-action=") == 2
    viewed = client.get("/settings/audit?action=viewed_patient").get_data(as_text=True)
    assert viewed.count("<tr data-action=") == 1 and "Viewed a patient profile" in viewed
    assert f'href="/patients/{conv.patient_id}"' in viewed
    days = client.get("/settings/audit?from=2026-11-21&to=2026-11-24").get_data(as_text=True)
    assert days.count("<tr data-action=") == 1
    day = client.get("/settings/audit?from=2026-11-20&to=2026-11-20").get_data(as_text=True)
    assert day.count("<tr data-action=") == 50 and 'id="audit-older"' in day
    none = client.get("/settings/audit?action=exported").get_data(as_text=True)
    assert 'id="audit-empty"' in none and "No entries match" in none


def test_each_practice_sees_only_its_own_log(client, demo):
    login(client, "staff@glow.test")
    login(client, "admin@fresh.test")
    html = client.get("/settings/audit").get_data(as_text=True)
    assert html.count("<tr data-action=") == 1 and "Alex Kim" in html and "Sam Lee" not in html


# ---- the migration ----------------------------------------------------------------------------


def test_migration_goes_down_and_up(app):
    with app.app_context():
        # Fresh connections around the DDL: a pooled SQLite connection in WAL mode could
        # otherwise read the schema as it was before.
        db.session.remove()
        db.engine.dispose()
        downgrade(revision="0f54ef250ff5")
        db.engine.dispose()
        assert "audit_events" not in inspect(db.engine).get_table_names()
        upgrade()
        db.engine.dispose()
        columns = {c["name"] for c in inspect(db.engine).get_columns("audit_events")}
        assert columns == set(AuditEvent.__table__.columns.keys())
        indexes = {i["name"] for i in inspect(db.engine).get_indexes("audit_events")}
        assert indexes == {i.name for i in AuditEvent.__table__.indexes}
