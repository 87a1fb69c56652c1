"""The Patients page: the user's patients by last name, searched as the inbox searches;
Add patient and Edit with every field checked (the mobile parsed, one patient per mobile
with a link to the first); an unknown sender added as a new patient, their conversation
filed under the home clinic. Scoped to the user's clinics; audited."""

from __future__ import annotations

import html

from sqlalchemy import select

from inbox.extensions import db
from inbox.models import AuditEvent, Clinic, Conversation, Message, Patient
from inbox.sandbox import send_inbound
from tests.conftest import clinic_limited_user, csrf_token, fresh, login, wait_for

HTMX = {"HX-Request": "true", "HX-Target": "patient-rows"}


def _clinic(name: str) -> Clinic:
    return db.session.scalars(select(Clinic).where(Clinic.name == name)).one()


def _add(client, **fields):
    token = csrf_token(client, "/patients/new")
    data = {"csrf_token": token, "first_name": "Zoë", "last_name": "Adler",
            "phone": "(917) 555-0999", "email": "zoe@example.com", "date_of_birth": "1990-04-02",
            "home_clinic_id": _clinic("Uptown").id, **fields}  # fmt: skip
    return client.post("/patients/new", data=data)


def test_the_same_mobile_added_at_the_same_moment_is_refused_with_a_link(client, demo, monkeypatch):
    """Two front desks add one caller at once: both pass the check, one commits first; the
    other is refused as if it had been second all along (the form kept, the first linked),
    never a 500."""
    from inbox.services import patients as service

    checked = service._checked

    def and_meanwhile(user, patient, form):
        values = checked(user, patient, form)
        with db.engine.begin() as other_desk:
            other_desk.execute(
                Patient.__table__.insert().values(
                    account_id=user.account_id, first_name="Zoe", last_name="Adler",
                    phone=values["phone"], phone_digits=values["phone_digits"],
                    name_search="zoe adler", unknown_sender=False,
                )
            )  # fmt: skip
        return values

    monkeypatch.setattr(service, "_checked", and_meanwhile)
    login(client, "staff@glow.test")
    r = _add(client)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "(917) 555-0999 is already the mobile of Zoe Adler" in page
    first = db.session.scalars(select(Patient).where(Patient.phone == "+19175550999")).one()
    assert f'href="/patients/{first.id}"' in page and 'value="Zoë"' in page


def test_the_directory_pages_and_searches_the_users_patients(client, demo):
    login(client, "staff@glow.test")
    page = client.get("/patients").get_data(as_text=True)
    assert "Add patient" in page and 'id="nav-patients"' in page
    assert page.count("/patients/") >= 25
    # A search answers rows only, by name prefix or phone fragment in any format.
    rows = client.get("/patients?q=mart", headers=HTMX).get_data(as_text=True)
    assert "Ava Martinez" in rows and "<html" not in rows
    rows = client.get("/patients?q=555-0100", headers=HTMX).get_data(as_text=True)
    assert "Ava Martinez" in rows
    empty = client.get("/patients?q=zzzz", headers=HTMX).get_data(as_text=True)
    assert "No patient matches" in html.unescape(empty)


def test_the_directory_is_scoped_to_the_users_clinics(client, demo):
    clinic_limited_user(demo, [_clinic("Downtown")])
    login(client, "dt@glow.test")
    page = client.get("/patients").get_data(as_text=True)
    downtown = {p.full_name for p in db.session.scalars(
        select(Patient).where(Patient.home_clinic_id == _clinic("Downtown").id))}  # fmt: skip
    others = {p.full_name for p in db.session.scalars(
        select(Patient).where(Patient.home_clinic_id != _clinic("Downtown").id))}  # fmt: skip
    page = html.unescape(page)
    assert all(n in page for n in downtown) and not any(n in page for n in others)


def test_add_a_patient_then_edit(client, demo):
    login(client, "staff@glow.test")
    r = _add(client)
    assert r.status_code == 302
    fresh()
    zoe = db.session.scalars(select(Patient).where(Patient.phone == "+19175550999")).one()
    assert (zoe.first_name, zoe.email, str(zoe.date_of_birth)) == (
        "Zoë",
        "zoe@example.com",
        "1990-04-02",
    )
    assert zoe.name_search.startswith("zoe adler") and zoe.phone_digits == "9175550999"
    # Found by the New message picker and the directory at once.
    assert "Zoë Adler" in client.get("/inbox/patients?q=zoe").get_data(as_text=True)
    token = csrf_token(client, f"/patients/{zoe.id}/edit")
    r = client.post(f"/patients/{zoe.id}/edit", data={
        "csrf_token": token, "first_name": "Zoë", "last_name": "Adler-Brandt",
        "phone": "+1 917 555 0998", "email": "", "date_of_birth": "",
        "home_clinic_id": _clinic("Downtown").id})  # fmt: skip
    assert r.status_code == 302
    fresh()
    zoe = db.session.get(Patient, zoe.id)
    assert (zoe.last_name, zoe.phone, zoe.email, zoe.home_clinic.name) == (
        "Adler-Brandt",
        "+19175550998",
        None,
        "Downtown",
    )
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"added_patient", "edited_patient"} <= actions


def test_refusals_say_why_keep_what_was_typed_and_link_the_first_patient(client, demo):
    login(client, "staff@glow.test")
    cases = [
        ({"phone": "555"}, "not a"),
        ({"phone": "(212) 555-0100x12"}, "extension"),
        ({"first_name": "", "last_name": ""}, "first and last name"),
        ({"email": "zoe@"}, "is not an email address"),
        ({"date_of_birth": "2999-01-01"}, "not possible"),
        ({"home_clinic_id": "0"}, "home clinic"),
    ]
    for fields, reason in cases:
        r = _add(client, **{"last_name": "Typedname", **fields})
        page = html.unescape(r.get_data(as_text=True))
        assert r.status_code == 422, fields
        assert reason in page, (reason, page[page.find("patient-error") :][:300])
        if "last_name" not in fields:
            assert 'value="Typedname"' in page
    ava = db.session.scalars(select(Patient).where(Patient.phone == "+19175550100")).one()
    r = _add(client, phone="917.555.0100")
    page = html.unescape(r.get_data(as_text=True))
    assert r.status_code == 422 and "already the mobile of Ava Martinez" in page
    assert f'href="/patients/{ava.id}" id="existing-patient"' in page
    fresh()
    assert db.session.scalars(select(Patient).where(Patient.first_name == "Zoë")).first() is None


def test_an_unknown_sender_is_added_as_a_new_patient(app, client, demo, sandbox):
    send_inbound(sandbox.state, "13125550142", "12125550134", "Hi, do you do lip filler?")
    assert wait_for(lambda: fresh() or db.session.scalars(
        select(Patient).where(Patient.phone == "+13125550142")).first())  # fmt: skip
    fresh()
    stranger = db.session.scalars(select(Patient).where(Patient.phone == "+13125550142")).one()
    assert stranger.unknown_sender
    login(client, "staff@glow.test")
    profile = client.get(f"/patients/{stranger.id}").get_data(as_text=True)
    assert "Add as new patient" in profile
    # The conversation offers both where the text is read.
    conv_id = db.session.scalars(
        select(Conversation.id).where(Conversation.patient_id == stranger.id)
    ).one()
    conversation = client.get(f"/inbox/c/{conv_id}").get_data(as_text=True)
    assert (
        f'href="/patients/{stranger.id}/edit" id="conversation-add-patient">Add as new patient'
        in conversation
    )
    assert (
        f'href="/patients/{stranger.id}/link" id="conversation-link-patient">Link to existing'
        in conversation
    )
    form = client.get(f"/patients/{stranger.id}/edit").get_data(as_text=True)
    assert 'value="(312) 555-0142"' in form
    token = csrf_token(client, f"/patients/{stranger.id}/edit")
    r = client.post(f"/patients/{stranger.id}/edit", data={
        "csrf_token": token, "first_name": "Rita", "last_name": "Moreno",
        "phone": "(312) 555-0142", "home_clinic_id": _clinic("Lakeside").id})  # fmt: skip
    assert r.status_code == 302
    fresh()
    rita = db.session.get(Patient, stranger.id)
    conv = db.session.scalars(select(Conversation).where(Conversation.patient_id == rita.id)).one()
    assert not rita.unknown_sender and rita.full_name == "Rita Moreno"
    assert conv.clinic.name == "Lakeside"  # now in Lakeside's list, for Lakeside's staff
    assert "Rita Moreno" in client.get(f"/inbox?clinic={conv.clinic_id}").get_data(as_text=True)
    assert "conversation-add-patient" not in client.get(f"/inbox/c/{conv.id}").get_data(
        as_text=True
    )


def test_patients_page_needs_the_inbox_privilege_and_ids_are_scoped(client, demo):
    login(client, "frontdesk@glow.test")
    assert client.get("/patients").status_code == 403
    assert client.get("/patients/new").status_code == 403
    ava = db.session.scalars(select(Patient).where(Patient.phone == "+19175550100")).one()
    login(client, "admin@fresh.test")
    assert client.get(f"/patients/{ava.id}/edit").status_code == 404


def _stranger(sandbox, phone: str, text: str) -> Patient:
    send_inbound(sandbox.state, phone.lstrip("+"), "12125550134", text)
    assert wait_for(lambda: fresh() or db.session.scalars(
        select(Patient).where(Patient.phone == phone)).first())  # fmt: skip
    fresh()
    return db.session.scalars(select(Patient).where(Patient.phone == phone)).one()


def _link(client, stranger: Patient, target: Patient):
    token = csrf_token(client, f"/patients/{stranger.id}/link")
    return client.post(f"/patients/{stranger.id}/link",
                       data={"csrf_token": token, "target_id": target.id})  # fmt: skip


def test_link_an_unknown_number_to_an_existing_patient(app, client, demo, sandbox):
    """Ava texts from a new phone: linked, the number is her mobile, the texts join her
    conversation (one list of texts, newest first, unread), replies go to the new number, and the
    counters stay exact."""
    from tests.integration.test_counts import assert_exact

    ava = db.session.scalars(select(Patient).where(Patient.phone == "+19175550100")).one()
    mine = db.session.scalars(select(Conversation).where(Conversation.patient_id == ava.id)).one()
    before = len(
        db.session.scalars(select(Message.id).where(Message.conversation_id == mine.id)).all()
    )
    stranger = _stranger(sandbox, "+13125550143", "It's Ava, new phone!")
    login(client, "staff@glow.test")
    assert "Link to existing patient" in client.get(f"/patients/{stranger.id}").get_data(
        as_text=True
    )
    found = client.get(f"/patients/{stranger.id}/link?q=ava", headers={"HX-Request": "true"})
    page = html.unescape(found.get_data(as_text=True))
    assert "Link to Ava Martinez" in page and "will go to (312) 555-0143" in page
    stranger_id = stranger.id
    r = _link(client, stranger, ava)
    assert r.status_code == 302 and r.headers["Location"] == f"/patients/{ava.id}"
    fresh()
    ava = db.session.get(Patient, ava.id)
    assert ava.phone == "+13125550143" and ava.phone_digits == "3125550143"
    assert db.session.get(Patient, stranger_id) is None
    conv = db.session.scalars(select(Conversation).where(Conversation.patient_id == ava.id)).one()
    assert conv.id == mine.id and conv.unread and conv.last_message_preview.startswith("It's Ava")
    texts = db.session.scalars(select(Message).where(Message.conversation_id == conv.id)).all()
    assert len(texts) == before + 1
    assert_exact(demo)
    assert "linked_number" in set(db.session.scalars(select(AuditEvent.action)))
    # A reply goes to the number she texted from.
    token = csrf_token(client, f"/inbox/c/{conv.id}")
    r = client.post(
        f"/inbox/c/{conv.id}/messages", data={"csrf_token": token, "body": "Got it, Ava!"}
    )
    assert r.status_code == 302  # back to the conversation
    fresh()
    reply = db.session.scalars(select(Message).where(Message.body == "Got it, Ava!")).one()
    assert reply.to_number == "+13125550143"


def test_a_number_that_said_stop_stays_opted_out_when_linked(app, client, demo, sandbox):
    liam = db.session.scalars(select(Patient).where(Patient.phone == "+16465550101")).one()
    stranger = _stranger(sandbox, "+13125550144", "STOP")
    assert wait_for(lambda: fresh() or db.session.get(Patient, stranger.id).opted_out)
    login(client, "staff@glow.test")
    assert _link(client, stranger, liam).status_code == 302
    fresh()
    liam = db.session.get(Patient, liam.id)
    assert liam.opted_out and liam.phone == "+13125550144"
    conv = db.session.scalars(select(Conversation).where(Conversation.patient_id == liam.id)).one()
    assert conv.opted_out


def test_only_an_unknown_number_is_linked_and_only_to_a_visible_patient(app, client, demo, sandbox):
    ava = db.session.scalars(select(Patient).where(Patient.phone == "+19175550100")).one()
    liam = db.session.scalars(select(Patient).where(Patient.phone == "+16465550101")).one()
    login(client, "staff@glow.test")
    assert client.get(f"/patients/{ava.id}/link").status_code == 302  # not an unknown sender
    stranger = _stranger(sandbox, "+13125550145", "hello?")
    clinic_limited_user(demo, [_clinic("Downtown")])
    login(client, "dt@glow.test")
    assert liam.home_clinic.name == "Uptown"
    # The unknown sender has no clinic: not this Downtown teammate's to link at all.
    assert client.get(f"/patients/{stranger.id}/link").status_code == 404
