"""Settings › Clinics (Main Admin): Add clinic, edit, Archive (gone from the Inbox clinic
menu, New message and Manage Privileges; its conversations keep its name), Restore."""

from __future__ import annotations

import re

from sqlalchemy import select

from inbox.extensions import db
from inbox.models import AuditEvent, Clinic, Conversation, User
from tests.conftest import csrf_token, fresh, login


def post(client, path: str, **data):
    return client.post(path, data={"csrf_token": csrf_token(client, "/settings/clinics"), **data})


def add(client, **fields):
    form = {"name": "Brooklyn", "address": "12 Court St, Brooklyn, NY",
            "phone": "(718) 555-0142", "timezone": "America/New_York"} | fields  # fmt: skip
    return post(client, "/settings/clinics", **form)


def clinic(name: str) -> Clinic | None:
    fresh()
    return db.session.scalars(select(Clinic).where(Clinic.name == name)).first()


def actions() -> list[str]:
    fresh()
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_add_and_edit_a_clinic(client, demo):
    login(client, "admin@glow.test")
    page = client.get("/settings/clinics").get_data(as_text=True)
    assert "Downtown" in page and "Add clinic" in page
    assert '<option value="America/Chicago">' in page and "US/Eastern" not in page
    r = add(client)
    assert r.status_code == 302
    brooklyn = clinic("Brooklyn")
    assert brooklyn.phone == "+17185550142" and brooklyn.timezone == "America/New_York"
    assert brooklyn.address == "12 Court St, Brooklyn, NY" and not brooklyn.archived
    page = client.get("/settings/clinics").get_data(as_text=True)
    assert "Brooklyn added." in page and "(718) 555-0142" in page
    # Edit: rename and move it to Chicago.
    r = post(client, f"/settings/clinics/{brooklyn.id}", name="Brooklyn Heights",
             address="", phone="", timezone="America/Chicago")  # fmt: skip
    assert r.status_code == 302
    edited = clinic("Brooklyn Heights")
    assert edited.id == brooklyn.id and edited.timezone == "America/Chicago"
    assert edited.phone is None and edited.address is None
    assert actions()[-2:] == ["added_clinic", "edited_clinic"]
    entry = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert entry.summary == "Brooklyn → Brooklyn Heights (America/Chicago)"
    # It is offered at once: the Inbox clinic menu and Manage Privileges.
    assert "Brooklyn Heights" in client.get("/inbox").get_data(as_text=True)
    staff = db.session.scalars(select(User).where(User.email == "staff@glow.test")).one()
    assert "Brooklyn Heights" in client.get(f"/settings/teammates/{staff.id}").text


def test_refusals_keep_what_was_typed(client, demo):
    login(client, "admin@glow.test")
    before = len(db.session.scalars(select(Clinic)).all())
    cases = [
        ({"name": "uptown"}, "There is already a clinic named “uptown”"),
        ({"name": " "}, "Type the clinic&#39;s name."),
        ({"phone": "555"}, ""),
        ({"timezone": "Mars/Olympus_Mons"}, "“Mars/Olympus_Mons” is not a time zone"),
        ({"timezone": "US/Eastern"}, "is not a time zone"),
        ({"timezone": ""}, "Choose the clinic&#39;s time zone from the list"),
    ]
    for fields, words in cases:
        r = add(client, **fields)
        page = r.get_data(as_text=True)
        assert r.status_code == 422, fields
        assert 'id="clinic-error"' in page and words in page, (fields, page[-3000:])
        assert 'value="12 Court St, Brooklyn, NY"' in page  # kept as typed
    assert len(db.session.scalars(select(Clinic)).all()) == before
    # Editing into another clinic's name: refused, the form keeps the typed values.
    uptown = clinic("Uptown")
    r = post(client, f"/settings/clinics/{uptown.id}", name="Downtown", timezone="Europe/Paris")
    assert r.status_code == 422 and 'value="Europe/Paris"' in r.get_data(as_text=True)
    assert clinic("Uptown").timezone == "America/New_York"


def cancel_bookings(c: Clinic) -> None:
    """The demo books appointments at every clinic; a clinic is archived without them."""
    from inbox.models import APPOINTMENT_CANCELLED, Appointment

    for a in db.session.scalars(select(Appointment).where(Appointment.clinic_id == c.id)):
        a.status = APPOINTMENT_CANCELLED
    db.session.commit()


def test_archive_hides_a_clinic_from_menus_and_pickers_but_not_its_conversations(client, demo):
    login(client, "admin@glow.test")
    lakeside = clinic("Lakeside")
    conv = db.session.scalars(
        select(Conversation).where(Conversation.clinic_id == lakeside.id)
    ).first()
    assert conv is not None
    cancel_bookings(lakeside)
    r = post(client, f"/settings/clinics/{lakeside.id}/archive")
    assert r.status_code == 302 and clinic("Lakeside").archived
    page = client.get("/settings/clinics").get_data(as_text=True)
    assert "Lakeside archived" in page and "Archived</span>" in page and ">Restore<" in page

    inbox = client.get("/inbox").get_data(as_text=True)
    menu = re.search(r'<nav class="menu-pane".*?</nav>', inbox, re.S).group(0)
    assert "Lakeside" not in menu
    tab = "unread" if conv.unread else "read"
    listed = client.get(f"/inbox?tab={tab}").get_data(as_text=True)
    assert '<span class="conv-clinic">Lakeside</span>' in listed  # still listed, by its name
    assert f'data-clinic="{lakeside.id}"' not in inbox
    conversation = client.get(f"/inbox/c/{conv.id}")
    assert conversation.status_code == 200 and "Lakeside" in conversation.get_data(as_text=True)
    compose = client.get("/inbox/new").get_data(as_text=True)
    assert f'<option value="{lakeside.id}"' not in compose
    staff = db.session.scalars(select(User).where(User.email == "staff@glow.test")).one()
    assert "Lakeside" not in client.get(f"/settings/teammates/{staff.id}").text

    # Restore brings it back everywhere.
    r = post(client, f"/settings/clinics/{lakeside.id}/restore")
    assert r.status_code == 302 and not clinic("Lakeside").archived
    assert f'data-clinic="{lakeside.id}"' in client.get("/inbox").get_data(as_text=True)
    done = [a for a in actions() if a.endswith("_clinic")]
    assert done == ["archived_clinic", "restored_clinic"]


def test_a_clinic_with_upcoming_appointments_is_archived_once_they_are_moved(client, demo):
    """Archived, its booked appointments would still be reminded, and no picker offers its
    name to move them: the archive is refused, saying how many, until none is left."""
    from datetime import timedelta

    from inbox.models import APPOINTMENT_CANCELLED, Appointment, Patient, utcnow

    login(client, "admin@glow.test")
    lakeside = clinic("Lakeside")
    cancel_bookings(lakeside)
    patient = db.session.scalars(
        select(Patient).where(Patient.account_id == lakeside.account_id)
    ).first()
    soon = Appointment(account_id=lakeside.account_id, patient_id=patient.id,
                       clinic_id=lakeside.id, starts_at=utcnow() + timedelta(days=2),
                       service="Peel")  # fmt: skip
    past = Appointment(account_id=lakeside.account_id, patient_id=patient.id,
                       clinic_id=lakeside.id, starts_at=utcnow() - timedelta(days=2),
                       service="Peel")  # fmt: skip
    db.session.add_all([soon, past])
    db.session.commit()
    r = post(client, f"/settings/clinics/{lakeside.id}/archive")
    assert r.status_code == 422
    assert "Lakeside has 1 upcoming appointment still booked" in r.get_data(as_text=True)
    assert not clinic("Lakeside").archived
    soon.status = APPOINTMENT_CANCELLED  # (or moved to another clinic)
    db.session.commit()
    r = post(client, f"/settings/clinics/{lakeside.id}/archive")
    assert r.status_code == 302 and clinic("Lakeside").archived  # the past one stays its


def test_the_last_active_clinic_cannot_be_archived(client, demo):
    login(client, "admin@fresh.test")  # Fresh Face Clinic has one clinic
    main_street = clinic("Main Street")
    r = post(client, f"/settings/clinics/{main_street.id}/archive")
    assert r.status_code == 422
    assert "the only active clinic" in r.get_data(as_text=True)
    assert not clinic("Main Street").archived


def test_a_teammate_keeps_an_archived_clinic_when_their_privileges_are_saved(client, demo):
    from tests.conftest import clinic_limited_user

    dee = clinic_limited_user(demo, [clinic("Downtown"), clinic("Lakeside")])
    login(client, "admin@glow.test")
    cancel_bookings(clinic("Lakeside"))
    post(client, f"/settings/clinics/{clinic('Lakeside').id}/archive")
    token = csrf_token(client, f"/settings/teammates/{dee.id}")
    form = {"csrf_token": token, "inbox": "on", "clinics": [clinic("Uptown").id]}
    r = client.post(f"/settings/teammates/{dee.id}", data=form)
    assert r.status_code == 302
    fresh()
    dee = db.session.get(User, dee.id)
    assert sorted(c.name for c in dee.clinics) == ["Lakeside", "Uptown"]


def test_only_the_main_admin_manages_clinics_and_ids_stay_in_their_practice(client, demo):
    login(client, "admin2@glow.test")
    assert client.get("/settings/clinics").status_code == 403
    login(client, "admin@glow.test")
    main_street = clinic("Main Street")  # Fresh Face Clinic's
    for path in (f"/settings/clinics/{main_street.id}",
                 f"/settings/clinics/{main_street.id}/archive",
                 f"/settings/clinics/{main_street.id}/restore"):  # fmt: skip
        assert post(client, path, name="Mine", timezone="America/Chicago").status_code == 404
    assert client.get(f"/settings/clinics/{main_street.id}").status_code == 404
    assert (
        clinic("Main Street").timezone == "America/Chicago" and not clinic("Main Street").archived
    )
