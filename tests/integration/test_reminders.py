"""Reminders from the inbox number: appointment reminders a day ahead (once, in the
clinic's daytime, never after STOP) and the one-click paperwork reminder."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import delete, func, select

from inbox.extensions import db
from inbox.models import (
    Account,
    Appointment,
    Conversation,
    Message,
    PaperworkItem,
    Patient,
    utcnow,
)
from inbox.sandbox import sign_params
from inbox.services import reminders
from inbox.services.sending import SendRefused
from tests.conftest import csrf_token, fresh, login, run_jobs

NY = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")


@pytest.fixture
def ava(demo) -> Patient:
    db.session.execute(delete(Appointment))  # only the appointments each test books
    db.session.commit()
    return db.session.scalars(select(Patient).where(Patient.phone == "+19175550100")).one()


def _book(patient: Patient, local_start: datetime, **kw) -> Appointment:
    appt = Appointment(
        account_id=patient.account_id,
        patient_id=patient.id,
        clinic_id=patient.home_clinic_id,
        starts_at=local_start.astimezone(UTC),
        service=kw.pop("service", "HydraFacial"),
        **kw,
    )
    db.session.add(appt)
    db.session.commit()
    return appt


def _day_after_tomorrow(hour: int, minute: int = 0) -> datetime:
    day = datetime.now(NY) + timedelta(days=2)
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


def _reminders() -> list[Message]:
    fresh()
    return list(db.session.scalars(select(Message).where(Message.kind == "reminder")))


def test_reminder_goes_24_hours_before_once_into_the_conversation(app, ava, sandbox):
    appt = _book(ava, _day_after_tomorrow(15, 30))
    start = appt.starts_at
    assert reminders.send_due(now=start - timedelta(hours=25)).sent == 0
    assert reminders.send_due(now=start - timedelta(hours=24) + timedelta(minutes=1)).sent == 1
    assert reminders.send_due(now=start - timedelta(hours=23)).sent == 0  # once only
    [message] = _reminders()
    conv = db.session.get(Conversation, message.conversation_id)
    assert conv.patient_id == ava.id and conv.inbox_number_id is not None
    assert message.from_number == "+12125550134"  # the inbox number
    assert "HydraFacial" in message.body and "3:30 PM" in message.body
    assert "Ava" in message.body and "STOP" in message.body
    # Patients know the practice; the clinic is where the visit is.
    assert "this is Glow Aesthetics reminding you" in message.body
    assert f"3:30 PM ({appt.clinic.name})" in message.body
    fresh()
    assert db.session.get(Appointment, appt.id).reminder_message_id == message.id
    run_jobs(app)
    [sent] = sandbox.requests_to("/sms/json")
    assert sent["params"]["from"] == "12125550134" and sent["params"]["to"] == "19175550100"

    # The patient's reply lands in the same conversation, right under the reminder.
    params = {
        "msisdn": "19175550100", "to": "12125550134", "messageId": uuid.uuid4().hex[:16],
        "text": "Can we make it 4?", "type": "text",
        "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "timestamp": str(int(time.time())), "nonce": uuid.uuid4().hex,
    }  # fmt: skip
    url = app.config["PUBLIC_BASE_URL"] + "/webhooks/vonage/inbound"
    assert requests.post(url, data=sign_params(sandbox.state, params), timeout=5).status_code == 200
    fresh()
    reply = db.session.scalars(select(Message).where(Message.body == "Can we make it 4?")).one()
    assert reply.conversation_id == message.conversation_id


def test_two_runs_at_once_send_one_reminder(app, ava):
    import threading

    appt = _book(ava, _day_after_tomorrow(12))
    now = appt.starts_at - timedelta(hours=23)
    results = []

    def run():
        with app.app_context():
            results.append(reminders.send_due(now=now).sent)
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 1 and len(_reminders()) == 1


@pytest.mark.parametrize(
    ("hour", "minute", "quiet_check", "allowed_check"),
    [
        # 07:00 appointment: due 07:00 the day before, too early: goes at 08:00.
        (7, 0, (-1, 7, 30), (-1, 8, 1)),
        # 22:30 appointment: due 22:30 the evening before, too late: goes at 08:00 that day.
        (22, 30, (-1, 22, 31), (0, 8, 5)),
    ],
)
def test_reminders_wait_for_the_clinics_daytime(app, ava, hour, minute, quiet_check, allowed_check):
    local_start = _day_after_tomorrow(hour, minute)
    _book(ava, local_start)

    def at(days, h, m):
        return (local_start + timedelta(days=days)).replace(hour=h, minute=m).astimezone(UTC)

    assert reminders.send_due(now=at(*quiet_check)).sent == 0
    assert reminders.send_due(now=at(*allowed_check)).sent == 1


def test_no_reminder_to_an_opted_out_patient_or_for_a_cancelled_visit(app, ava, sandbox):
    ava.opted_out_at = utcnow()
    db.session.commit()
    appt = _book(ava, _day_after_tomorrow(14))
    cancelled = _book(
        db.session.scalars(select(Patient).where(Patient.phone == "+16465550101")).one(),
        _day_after_tomorrow(14),
        status="cancelled",
    )
    run = reminders.send_due(now=appt.starts_at - timedelta(hours=23))
    assert (run.sent, run.skipped) == (0, 1)
    fresh()
    assert db.session.get(Appointment, appt.id).reminder_status == "skipped_opted_out"
    assert db.session.get(Appointment, cancelled.id).reminder_status is None
    assert _reminders() == []
    run_jobs(app)
    assert sandbox.requests_to("/sms/json") == []


def test_with_the_inbox_off_reminders_come_from_the_default_sender(app, ava, sandbox, client):
    account = db.session.get(Account, ava.account_id)
    account.inbox_enabled = False
    db.session.commit()
    appt = _book(ava, _day_after_tomorrow(11))
    assert reminders.send_due(now=appt.starts_at - timedelta(hours=23)).sent == 1
    [message] = _reminders()
    assert message.from_number == app.config["SMS_DEFAULT_SENDER"]
    assert db.session.get(Conversation, message.conversation_id).inbox_number_id is None
    run_jobs(app)
    [sent] = sandbox.requests_to("/sms/json")
    assert sent["params"]["from"] == app.config["SMS_DEFAULT_SENDER"].removeprefix("+")
    fresh()
    assert db.session.get(Message, message.id).status in ("sent", "delivered")
    # The profile's timeline says the reminder went, without showing the Inbox.
    login(client, "admin@glow.test")
    page = client.get(f"/patients/{ava.id}").get_data(as_text=True)
    assert "Reminder texted" in page


def test_the_reminder_text_is_the_accounts_own(app, ava):
    account = db.session.get(Account, ava.account_id)
    with pytest.raises(SendRefused, match=r"\{pet_name\}"):
        reminders.save_template(account, "Hi {pet_name}!")
    reminders.save_template(
        account, "{first_name}: {service} at {clinic_name}, {appointment_time}."
    )
    appt = _book(ava, _day_after_tomorrow(10, 15))
    reminders.send_due(now=appt.starts_at - timedelta(hours=23))
    [message] = _reminders()
    assert message.body.startswith("Ava: HydraFacial at ") and message.body.endswith("10:15 AM.")


def test_reminder_text_is_edited_in_settings(app, demo, client):
    login(client, "admin@glow.test")
    token = csrf_token(client, "/settings/inbox")
    r = client.post(
        "/settings/inbox/reminders",
        data={
            "reminder_template": "See you {appointment_date}, {first_name}!",
            "csrf_token": token,
        },
    )
    assert r.status_code == 302
    page = client.get("/settings/inbox").get_data(as_text=True)
    assert "See you {appointment_date}, {first_name}!" in page and "Reminder text saved" in page
    # Refused: the page comes back with the reason beside the box and the text as typed
    # (none of it cut at a length), and the saved text stays as it was.
    for typed, reason in (
        ("Hi {pet_name}, see you soon", "Unknown merge field {pet_name}"),
        # These used to be a 500 (an unclosed brace) or were saved and then sent raw.
        ("Hi {first_name, see you soon", "has no partner"),
        ("Hi {}, see you soon", "An empty merge field"),
        ("Hi {first_name!r}", "without ! or :"),
        ("x" * 600, "Keep the reminder under 480 characters"),
    ):
        r = client.post(
            "/settings/inbox/reminders", data={"reminder_template": typed, "csrf_token": token}
        )
        page = r.get_data(as_text=True)
        assert r.status_code == 422
        assert reason in page and 'id="reminder-error"' in page
        assert f">{typed}</textarea>" in page
    page = client.get("/settings/inbox").get_data(as_text=True)
    assert ">See you {appointment_date}, {first_name}!</textarea>" in page
    assert "reminder-error" not in page
    # Line breaks stay (spaces within a line are tidied; blank lines at most one).
    r = client.post(
        "/settings/inbox/reminders",
        data={
            "reminder_template": "Hi  {first_name},\r\n\r\n\r\nSee you {appointment_date}. ",
            "csrf_token": token,
        },
    )
    assert r.status_code == 302
    db.session.refresh(demo)
    assert demo.reminder_template == "Hi {first_name},\n\nSee you {appointment_date}."
    login(client, "staff@glow.test")
    token = csrf_token(client, "/inbox")
    r = client.post(
        "/settings/inbox/reminders", data={"reminder_template": "x", "csrf_token": token}
    )
    assert r.status_code in (403, 404)


# ---- paperwork ----------------------------------------------------------------------------


def test_paperwork_reminder_from_the_conversation(app, ava, client, sandbox):
    outstanding = [
        p.name
        for p in db.session.scalars(
            select(PaperworkItem).where(
                PaperworkItem.patient_id == ava.id, PaperworkItem.status == "outstanding"
            )
        )
    ]
    assert outstanding
    conv = db.session.scalars(select(Conversation).where(Conversation.patient_id == ava.id)).one()
    login(client, "staff@glow.test")
    page = client.get(f"/inbox/c/{conv.id}").get_data(as_text=True)
    assert "Send paperwork reminder" in page
    token = csrf_token(client, f"/inbox/c/{conv.id}")
    r = client.post(
        f"/inbox/c/{conv.id}/paperwork-reminder",
        data={"csrf_token": token},
        headers={"HX-Request": "true", "HX-Target": "conversation-pane"},
    )
    assert r.status_code == 200 and "Paperwork reminder" in r.get_data(as_text=True)
    fresh()
    message = db.session.scalars(select(Message).where(Message.kind == "paperwork")).one()
    assert message.conversation_id == conv.id and message.sent_by.email == "staff@glow.test"
    assert "https://portal.glowaesthetics.example" in message.body
    assert all(name in message.body for name in outstanding)
    assert all(
        p.reminded_at is not None
        for p in db.session.scalars(select(PaperworkItem).where(PaperworkItem.patient_id == ava.id))
        if p.status == "outstanding"
    )
    run_jobs(app)
    assert "portal.glowaesthetics.example" in sandbox.requests_to("/sms/json")[0]["params"]["text"]
    # Within a day, the conversation and the profile offer it "again", asking first; a click
    # from a page drawn before the first one (another tab) is refused, with words.
    page = client.get(f"/inbox/c/{conv.id}").get_data(as_text=True)
    assert "Send paperwork reminder again" in page
    asks = r'hx-confirm="Ava was sent a paperwork reminder today at [^"]+\. Send it again\?"'
    assert re.search(asks, page)
    profile = client.get(f"/patients/{ava.id}").get_data(as_text=True)
    assert "Text paperwork reminder again" in profile and 'name="again" value="1"' in profile
    assert re.search(asks, profile)
    r = client.post(
        f"/inbox/c/{conv.id}/paperwork-reminder",
        data={"csrf_token": token, "body": "Half a reply"},
        headers={"HX-Request": "true", "HX-Target": "conversation-pane"},
    )
    text = r.get_data(as_text=True)
    assert "Ava was sent a paperwork reminder today at" in text and "Use Send again" in text
    assert "Half a reply" in text  # the draft stays
    fresh()
    assert db.session.scalar(select(func.count()).where(Message.kind == "paperwork")) == 1
    r = client.post(
        f"/inbox/c/{conv.id}/paperwork-reminder",
        data={"csrf_token": token, "again": "1"},
        headers={"HX-Request": "true", "HX-Target": "conversation-pane"},
    )
    assert r.status_code == 200
    fresh()
    assert db.session.scalar(select(func.count()).where(Message.kind == "paperwork")) == 2


def test_paperwork_reminder_from_the_profile_and_its_refusals(app, ava, client):
    login(client, "staff@glow.test")
    page = client.get(f"/patients/{ava.id}").get_data(as_text=True)
    assert "Text paperwork reminder" in page
    token = csrf_token(client, f"/patients/{ava.id}")
    r = client.post(f"/patients/{ava.id}/paperwork-reminder", data={"csrf_token": token})
    assert r.status_code == 302
    page = client.get(f"/patients/{ava.id}").get_data(as_text=True)
    assert "Paperwork reminder texted to Ava" in page
    assert 'flash" role="status"' in page  # a confirmation is announced politely
    fresh()
    assert db.session.scalar(select(func.count()).where(Message.kind == "paperwork")) == 1

    # Everything complete: a clear refusal, nothing sent.
    for p in db.session.scalars(select(PaperworkItem).where(PaperworkItem.patient_id == ava.id)):
        p.status = "completed"
    db.session.commit()
    r = client.post(f"/patients/{ava.id}/paperwork-reminder", data={"csrf_token": token})
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "has no outstanding paperwork" in page
    assert "None outstanding." in page  # under Outstanding paperwork
    assert 'flash" role="alert"' in page  # a refusal interrupts, for a screen reader too
    fresh()
    assert db.session.scalar(select(func.count()).where(Message.kind == "paperwork")) == 1
