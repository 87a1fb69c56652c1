"""Appointments and paperwork on the patient profile: booked in the clinic's time zone,
changed and cancelled, feeding the 24-hour reminder (a cancelled one never reminded, a
moved one reminded for its new time, once); forms added and marked completed, and the
paperwork reminder asking only for what is outstanding. Refusals keep what was typed."""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select

from inbox.extensions import db
from inbox.models import Appointment, AuditEvent, Clinic, Message, PaperworkItem, Patient
from inbox.services import reminders
from tests.conftest import clinic_limited_user, csrf_token, fresh, login

NY = ZoneInfo("America/New_York")


@pytest.fixture
def ava(demo) -> Patient:
    db.session.execute(delete(Appointment))
    db.session.commit()
    return db.session.scalars(select(Patient).where(Patient.phone == "+19175550100")).one()


def _day_after_tomorrow() -> str:
    return (datetime.now(NY) + timedelta(days=2)).date().isoformat()


def _book(client, patient: Patient, **fields):
    token = csrf_token(client, f"/patients/{patient.id}")
    data = {"csrf_token": token, "clinic_id": patient.home_clinic_id, "day": _day_after_tomorrow(),
            "time": "15:30", "service": "HydraFacial", "provider": "Dr. Kim", "duration": "60",
            **fields}  # fmt: skip
    return client.post(f"/patients/{patient.id}/appointments", data=data)


def _only_appointment() -> Appointment:
    fresh()
    return db.session.scalars(select(Appointment)).one()


def _audit(action: str) -> int:
    fresh()
    return len(db.session.scalars(select(AuditEvent.id).where(AuditEvent.action == action)).all())


def test_front_desk_books_an_appointment_in_the_clinics_time_zone(client, ava):
    login(client, "frontdesk@glow.test")  # no Inbox privilege: appointments are still theirs
    r = _book(client, ava)
    assert r.status_code == 302 and r.headers["Location"].endswith("#upcoming")
    appt = _only_appointment()
    local = appt.starts_at.astimezone(NY)
    assert (local.date().isoformat(), local.hour, local.minute) == (_day_after_tomorrow(), 15, 30)
    assert (appt.service, appt.provider, appt.status) == ("HydraFacial", "Dr. Kim", "booked")
    page = client.get(f"/patients/{ava.id}").get_data(as_text=True)
    assert "Booked: HydraFacial" in page and "3:30 PM" in page
    assert _audit("added_appointment") == 1


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"day": "2020-01-02"}, "already passed"),
        ({"day": "not a date"}, "Pick the appointment's date"),
        ({"time": ""}, "Pick the appointment's time"),
        ({"service": "  "}, "Say what the appointment is for"),
        ({"clinic_id": "999999"}, "Pick the clinic"),
        ({"duration": "7"}, "Pick how long"),
    ],
)
def test_a_refused_booking_says_why_and_keeps_what_was_typed(client, ava, fields, reason):
    login(client, "staff@glow.test")
    r = _book(client, ava, provider="Dr. Typed Name", **fields)
    assert r.status_code == 422
    page = html.unescape(r.get_data(as_text=True))
    assert reason in page and 'id="add-appointment" open' in page
    assert 'value="Dr. Typed Name"' in page
    fresh()
    assert db.session.scalars(select(Appointment)).first() is None


def test_a_clinic_limited_teammate_books_only_at_their_clinics(app, client, ava):
    glow = ava.account
    uptown = db.session.scalars(select(Clinic).where(Clinic.name == "Uptown")).one()
    downtown = db.session.scalars(select(Clinic).where(Clinic.name == "Downtown")).one()
    clinic_limited_user(glow, [downtown], email="dt@glow.test")
    login(client, "dt@glow.test")
    page = client.get(f"/patients/{ava.id}").get_data(as_text=True)
    assert f'<option value="{uptown.id}"' not in page
    assert _book(client, ava, clinic_id=uptown.id).status_code == 422
    # An appointment at a clinic they cannot see is shown, but not theirs to change.
    appt = Appointment(account_id=glow.id, patient_id=ava.id, clinic_id=uptown.id,
                       starts_at=datetime.now(NY) + timedelta(days=3), service="Peel")  # fmt: skip
    db.session.add(appt)
    db.session.commit()
    assert client.get(f"/patients/{ava.id}/appointments/{appt.id}").status_code == 404
    token = csrf_token(client, f"/patients/{ava.id}")
    r = client.post(f"/patients/{ava.id}/appointments/{appt.id}/cancel", data={"csrf_token": token})
    assert r.status_code == 404
    assert _only_appointment().status == "booked"


def test_a_moved_appointment_is_reminded_for_its_new_time_once(app, client, ava, sandbox):
    login(client, "staff@glow.test")
    _book(client, ava, time="10:00")
    appt = _only_appointment()
    assert reminders.send_due(now=appt.starts_at - timedelta(hours=23, minutes=59)).sent == 1
    assert _only_appointment().reminder_status == "queued"
    # Moved to the next day: the reminder starts afresh, and goes out once for the new time.
    new_day = (appt.starts_at.astimezone(NY) + timedelta(days=1)).date().isoformat()
    token = csrf_token(client, f"/patients/{ava.id}/appointments/{appt.id}")
    r = client.post(f"/patients/{ava.id}/appointments/{appt.id}",
                    data={"csrf_token": token, "clinic_id": appt.clinic_id, "day": new_day,
                          "time": "11:00", "service": "HydraFacial", "provider": "",
                          "duration": "90"})  # fmt: skip
    assert r.status_code == 302
    moved = _only_appointment()
    assert moved.reminder_status is None and moved.duration_minutes == 90
    assert moved.starts_at.astimezone(NY).hour == 11
    due = moved.starts_at - timedelta(hours=23, minutes=59)
    assert reminders.send_due(now=due).sent == 1
    assert reminders.send_due(now=due + timedelta(minutes=30)).sent == 0  # once
    # Saving without moving it does not remind again.
    token = csrf_token(client, f"/patients/{ava.id}/appointments/{appt.id}")
    when = moved.starts_at.astimezone(NY)
    client.post(f"/patients/{ava.id}/appointments/{appt.id}",
                data={"csrf_token": token, "clinic_id": appt.clinic_id,
                      "day": when.date().isoformat(), "time": "11:00", "service": "HydraFacial 2",
                      "duration": "90"})  # fmt: skip
    assert _only_appointment().reminder_status == "queued"
    assert _audit("edited_appointment") == 2


def test_a_cancelled_appointment_is_never_reminded(app, client, ava):
    login(client, "staff@glow.test")
    _book(client, ava)
    appt = _only_appointment()
    page = client.get(f"/patients/{ava.id}").get_data(as_text=True)
    assert "No reminder will go out." in page  # the confirm question
    token = csrf_token(client, f"/patients/{ava.id}")
    r = client.post(f"/patients/{ava.id}/appointments/{appt.id}/cancel", data={"csrf_token": token})
    assert r.status_code == 302
    assert _only_appointment().status == "cancelled"
    assert reminders.send_due(now=appt.starts_at - timedelta(hours=23)).sent == 0
    page = client.get(f"/patients/{ava.id}").get_data(as_text=True)
    assert "Cancelled: HydraFacial" in page
    assert _audit("cancelled_appointment") == 1
    # A cancelled appointment cannot be changed any more.
    again = {"csrf_token": token, "clinic_id": appt.clinic_id, "day": _day_after_tomorrow(),
             "time": "12:00", "service": "X"}  # fmt: skip
    r = client.post(f"/patients/{ava.id}/appointments/{appt.id}", data=again)
    assert r.status_code == 422 and "cannot be changed" in r.get_data(as_text=True)


def test_paperwork_added_and_completed_and_the_reminder_asks_for_what_is_outstanding(
    app, client, ava, sandbox
):
    db.session.execute(delete(PaperworkItem).where(PaperworkItem.patient_id == ava.id))
    db.session.commit()
    login(client, "staff@glow.test")
    for name in ("Medical history", "Photo consent"):
        token = csrf_token(client, f"/patients/{ava.id}")
        r = client.post(f"/patients/{ava.id}/paperwork", data={"csrf_token": token, "name": name})
        assert r.status_code == 302
    token = csrf_token(client, f"/patients/{ava.id}")
    r = client.post(
        f"/patients/{ava.id}/paperwork", data={"csrf_token": token, "name": "medical  HISTORY"}
    )
    assert r.status_code == 422 and "already outstanding" in r.get_data(as_text=True)
    assert 'value="medical  HISTORY"' in r.get_data(as_text=True)
    fresh()
    consent = db.session.scalars(
        select(PaperworkItem).where(PaperworkItem.name == "Photo consent")
    ).one()
    r = client.post(
        f"/patients/{ava.id}/paperwork/{consent.id}/complete", data={"csrf_token": token}
    )
    assert r.status_code == 302
    fresh()
    assert db.session.get(PaperworkItem, consent.id).status == "completed"
    # The reminder from the profile names only the outstanding form.
    r = client.post(f"/patients/{ava.id}/paperwork-reminder", data={"csrf_token": token})
    assert r.status_code == 302
    fresh()
    text = db.session.scalars(select(Message.body).where(Message.kind == "paperwork")).one()
    assert "Medical history" in text and "Photo consent" not in text
    page = client.get(f"/patients/{ava.id}").get_data(as_text=True)
    assert "Photo consent completed" in page  # on the timeline
    assert _audit("added_paperwork") == 2 and _audit("completed_paperwork") == 1
