"""Patients › Import › Appointments: a booking system's schedule as CSV. Each row's patient
found by Patient ID or mobile, its time read in the clinic's own zone, every problem named
in the preview; re-importing moves, cancels and never books twice; appointments starting
within a day are reminded at once only when the admin says so."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from inbox.extensions import db
from inbox.models import (
    APPOINTMENT_BOOKED,
    APPOINTMENT_CANCELLED,
    KIND_REMINDER,
    Appointment,
    AuditEvent,
    Message,
    Patient,
    utcnow,
)
from inbox.models.care import REMINDER_SKIPPED_IMPORTED
from inbox.services import reminders
from tests.conftest import clinic_limited_user, csrf_token, fresh, login, run_jobs
from tests.integration.test_patient_import import _clinic, _import_id

NEW_YORK = ZoneInfo("America/New_York")
HEADER = "Appt #,Client ID,Mobile Phone,Date,Start Time,Duration,Service,Staff,Location,Status\r\n"


def _upload(client, text: str, *, clinic: int | str = ""):
    token = csrf_token(client, "/patients/import?kind=appointments")
    return client.post(
        "/patients/import?kind=appointments",
        data={"csrf_token": token, "default_clinic_id": str(clinic),
              "file": (io.BytesIO(text.encode("utf-8-sig")), "schedule.csv")},
        content_type="multipart/form-data",
    )  # fmt: skip


def _start(client, import_id: int, **form):
    token = csrf_token(client, f"/patients/import/{import_id}")
    return client.post(f"/patients/import/{import_id}/start", data={"csrf_token": token, **form})


def _counts(page: str) -> dict[str, int]:
    return {k: int(re.search(rf'id="{k}">([\d,]+)<', page).group(1))
            for k in ("to-add", "to-update", "to-skip")}  # fmt: skip


def _appointments() -> dict[str, Appointment]:
    fresh()
    return {a.external_id: a for a in db.session.scalars(select(Appointment)) if a.external_id}


def _reminded_at_any_hour(app) -> set[str]:
    """Run the reminder job as if every hour were allowed; the imported appointments it
    reminded (the demo's own may be due too, and which depends on the hour of the run)."""
    app.config["REMINDER_HOURS"], hours = (0, 24), app.config["REMINDER_HOURS"]
    try:
        reminders.send_due()
    finally:
        app.config["REMINDER_HOURS"] = hours
    return {key for key, a in _appointments().items() if a.reminder_message_id is not None}


def _patients():
    ava = db.session.scalars(select(Patient).where(Patient.phone == "+19175550100")).one()
    liam = db.session.scalars(select(Patient).where(Patient.first_name == "Liam")).first()
    liam.external_id = "C-77"
    db.session.commit()
    return ava, liam


def test_a_schedule_is_previewed_imported_and_reimported_without_double_bookings(app, client, demo):
    ava, liam = _patients()
    login(client, "admin@glow.test")
    tomorrow = (utcnow().astimezone(NEW_YORK) + timedelta(days=3)).date()
    soon = (utcnow() + timedelta(hours=5)).astimezone(NEW_YORK)
    day = f"{tomorrow:%m/%d/%Y}"
    schedule = HEADER + (
        f"A-1,,(917) 555-0100,{day},2:30 PM,45,Botox consultation,Dr. Rivera,Uptown,Booked\r\n"
        f"A-2,C-77,,{tomorrow.isoformat()},09:00,1 h,HydraFacial,,,Confirmed\r\n"
        f"A-3,C-404,,{day},10:00,,Peel,,,\r\n"  # no such patient
        f"A-4,,(917) 555-0100,{day},25:00,,Peel,,,\r\n"  # not a time
        f"A-5,,(917) 555-0100,{day},11:00,,Peel,,Nowhere,\r\n"  # not a clinic
        f"A-1,,(917) 555-0100,{day},3:30 PM,,Peel,,,\r\n"  # the same Appointment ID again
        f"A-6,C-77,,{soon:%Y-%m-%d},{soon:%H:%M},30,Laser,,,\r\n"  # in five hours
        f"A-7,C-77,,2027-03-14,2:30 AM,,Peel,,,\r\n"  # the clocks skip 2-3 AM that night
        f"A-8,C-77,,{day},4:00 PM,,Filler,,,Cancelled\r\n"
    )
    downtown = _clinic("Downtown").id
    import_id = _import_id(_upload(client, schedule, clinic=downtown))
    page = html.unescape(client.get(f"/patients/import/{import_id}").get_data(as_text=True))
    assert _counts(page) == {"to-add": 4, "to-update": 0, "to-skip": 5}
    for problem in (
        "No patient with Patient ID “C-404”", "Bad date or time", "Unknown clinic “Nowhere”",
        "Same Appointment ID as row 2", "2:30 AM does not exist on Mar 14, 2027",
    ):  # fmt: skip
        assert f"Skipped: {problem}" in page, problem
    # Columns guessed from the booking system's own headers.
    for field, header in (
        ("external_id", "Appt #"),
        ("patient_external_id", "Client ID"),
        ("time", "Start Time"),
        ("provider", "Staff"),
        ("clinic", "Location"),
    ):
        assert re.search(rf'id="map-{field}".*?<option value="\d+" selected>{re.escape(header)}<',
                         page, re.S), field  # fmt: skip
    assert "appointment starting within a day" in page and 'name="remind_soon"' in page
    imported = select(func.count(Appointment.id)).where(Appointment.external_id.is_not(None))
    assert db.session.scalar(imported) == 0  # nothing saved yet

    assert _start(client, import_id).status_code == 302
    run_jobs(app)
    done = client.get(f"/patients/import/{import_id}/progress").get_data(as_text=True)
    assert re.search(r'id="count-added">4<', done) and re.search(r'id="count-skipped">5<', done)
    booked = _appointments()
    a1 = booked["A-1"]
    assert (a1.patient_id, a1.clinic.name, a1.service, a1.provider, a1.duration_minutes) == (
        ava.id, "Uptown", "Botox consultation", "Dr. Rivera", 45,
    )  # fmt: skip
    local = a1.starts_at.astimezone(NEW_YORK)
    assert (local.date(), local.hour, local.minute) == (tomorrow, 14, 30)
    a2 = booked["A-2"]
    assert (a2.patient_id, a2.clinic_id, a2.duration_minutes, a2.status) == (
        liam.id, downtown, 60, APPOINTMENT_BOOKED,
    )  # fmt: skip
    assert booked["A-8"].status == APPOINTMENT_CANCELLED
    # Five hours away, imported without "remind now": marked, and never texted.
    assert booked["A-6"].reminder_status == REMINDER_SKIPPED_IMPORTED
    assert "A-6" not in _reminded_at_any_hour(app)
    assert _appointments()["A-6"].reminder_status == REMINDER_SKIPPED_IMPORTED
    skipped = list(
        csv.reader(
            io.StringIO(
                client.get(f"/patients/import/{import_id}/skipped.csv").get_data(as_text=True)
            )
        )
    )
    assert [row[0] for row in skipped[1:]] == ["4", "5", "6", "7", "9"]  # fmt: skip
    entry = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "imported_appointments")
    ).one()
    assert entry.summary == "4 added, 0 updated, 5 skipped of 9 rows"
    assert "Imported appointments" in client.get("/settings/audit").get_data(as_text=True)

    # The same schedule a day later: A-1 moved to 4 PM, A-2 cancelled, the rest as they were.
    a1_reminder = "queued"
    db.session.execute(
        Appointment.__table__.update().where(Appointment.id == a1.id)
        .values(reminder_status=a1_reminder)
    )  # fmt: skip
    db.session.commit()
    again = schedule.replace(",2:30 PM,45,", ",4:00 PM,45,").replace(",Confirmed", ",Canceled")
    import_id = _import_id(_upload(client, again, clinic=downtown))
    page = html.unescape(client.get(f"/patients/import/{import_id}").get_data(as_text=True))
    assert _counts(page) == {"to-add": 0, "to-update": 4, "to-skip": 5}
    assert "Already booked: will be updated" in page
    assert 'name="remind_soon"' not in page  # A-6 did not move: nothing to decide
    _start(client, import_id)
    run_jobs(app)
    after = _appointments()
    assert len(after) == 4  # never booked twice
    assert after["A-1"].starts_at.astimezone(NEW_YORK).hour == 16
    assert after["A-1"].reminder_status is None  # moved: reminded for its new time, once
    assert after["A-2"].status == APPOINTMENT_CANCELLED
    assert after["A-6"].reminder_status == REMINDER_SKIPPED_IMPORTED


def test_remind_now_texts_the_reminder_of_an_appointment_within_a_day(app, client, demo, sandbox):
    ava, _liam = _patients()
    login(client, "admin@glow.test")
    soon = (utcnow() + timedelta(hours=3)).astimezone(NEW_YORK)
    schedule = HEADER + f"B-1,,(917) 555-0100,{soon:%Y-%m-%d},{soon:%-I:%M %p},,Peel,,,\r\n"
    import_id = _import_id(_upload(client, schedule, clinic=_clinic("Downtown").id))
    _start(client, import_id, remind_soon="1")
    run_jobs(app)
    appt = _appointments()["B-1"]
    assert appt.reminder_status is None
    assert _reminded_at_any_hour(app) == {"B-1"}
    texted = db.session.get(Message, _appointments()["B-1"].reminder_message_id)
    assert (texted.kind, texted.to_number) == (KIND_REMINDER, ava.phone)


def test_without_an_appointment_id_a_reimport_matches_patient_clinic_and_time(app, client, demo):
    _patients()
    login(client, "admin@glow.test")
    day = (utcnow() + timedelta(days=5)).astimezone(NEW_YORK).date()
    schedule = ("Patient ID,Start,Type\r\n"
                f"C-77,{day} 10:00,Peel\r\n"
                f"C-77,{day}T15:00:00-05:00,Filler\r\n")  # fmt: skip
    for _ in range(2):
        import_id = _import_id(_upload(client, schedule, clinic=_clinic("Lakeside").id))
        _start(client, import_id)
        run_jobs(app)
    fresh()
    rows = db.session.scalars(select(Appointment).where(Appointment.service.in_(
        ("Peel", "Filler")), Appointment.clinic_id == _clinic("Lakeside").id)).all()  # fmt: skip
    assert sorted(a.service for a in rows) == ["Filler", "Peel"]
    filler = next(a for a in rows if a.service == "Filler")
    assert filler.starts_at.astimezone(ZoneInfo("UTC")).hour == 20  # 15:00 at -05:00


def test_a_clinic_limited_admin_imports_only_into_their_clinics(app, client, demo):
    ava, _liam = _patients()
    admin = clinic_limited_user(demo, [_clinic("Downtown")], email="dt-admin@glow.test")
    admin.role = "admin"
    db.session.commit()
    login(client, "dt-admin@glow.test")
    day = (utcnow() + timedelta(days=4)).astimezone(NEW_YORK).date()
    schedule = HEADER + (
        f"C-1,,(917) 555-0100,{day},10:00,,Peel,,Uptown,\r\n"
        f"C-2,,(917) 555-0100,{day},11:00,,Peel,,Downtown,\r\n"
    )
    import_id = _import_id(_upload(client, schedule, clinic=_clinic("Downtown").id))
    page = html.unescape(client.get(f"/patients/import/{import_id}").get_data(as_text=True))
    assert _counts(page) == {"to-add": 1, "to-update": 0, "to-skip": 1}
    assert "Skipped: Unknown clinic “Uptown”" in page
    assert "Uptown" not in re.search(r'id="default_clinic_id".*?</select>', page, re.S).group(0)
