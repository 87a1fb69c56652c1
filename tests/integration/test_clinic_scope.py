"""Clinic scope: a teammate limited to some clinics never reads, nor re-files, a
conversation of another clinic, by id, by New message, or through a patient's profile; and
every route that takes a record's id answers another clinic's record exactly as it answers
another practice's."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inbox.extensions import db
from inbox.models import Appointment, Clinic, Conversation, Message, PaperworkItem, Patient, User
from inbox.services import phones
from tests.conftest import IsolatedClient, fresh, login, row_count
from tests.integration.practices import ID_PARAMS, fill, set_up_two_practices, signed_in

SCOPED_PARAMS = {"conversation_id", "message_id", "patient_id", "appointment_id", "paperwork_id"}
LIAM = "(646) 555-0101"  # an Uptown patient of the demo


def _clinic(name: str) -> Clinic:
    return db.session.scalars(select(Clinic).where(Clinic.name == name)).one()


def _limit(email: str, *clinic_names: str) -> User:
    user = db.session.scalars(select(User).where(User.email == email)).one()
    user.all_clinics = False
    user.clinics = [_clinic(n) for n in clinic_names]
    db.session.commit()
    return user


def _patient(e164: str) -> Patient:
    return db.session.scalars(select(Patient).where(Patient.phone == e164)).one()


def _conversation(patient: Patient) -> Conversation:
    return db.session.scalars(
        select(Conversation).where(Conversation.patient_id == patient.id)
    ).one()


def _compose(client, **fields):
    from tests.conftest import csrf_token

    token = csrf_token(client, "/inbox/new")
    return client.post("/inbox/new", data={"csrf_token": token, "body": "Hi!", **fields})


@pytest.fixture
def downtown_staff(app, demo):
    _limit("staff@glow.test", "Downtown")
    app.test_client_class = IsolatedClient
    client = app.test_client()
    login(client, "staff@glow.test")
    return client


def test_new_message_to_another_clinics_patient_by_number_is_refused(downtown_staff):
    liam = _patient(phones.normalize(LIAM))
    conv = _conversation(liam)
    assert conv.clinic.name == "Uptown"
    before = row_count(Message)
    r = _compose(downtown_staff, phone=LIAM, clinic_id=_clinic("Downtown").id)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "a clinic you do not have access to" in page
    # Nothing of the conversation shown, nothing sent, and the conversation stays Uptown's.
    for text in db.session.scalars(select(Message.body).where(Message.conversation_id == conv.id)):
        assert text not in page
    fresh()
    assert row_count(Message) == before
    assert db.session.get(Conversation, conv.id).clinic.name == "Uptown"


def test_new_message_cannot_take_an_own_patients_conversation_from_another_clinic(
    app, demo, downtown_staff
):
    """Ava is a Downtown patient, but her conversation was filed under Uptown: a Downtown
    teammate may not open it, by patient or by number, nor move it back."""
    ava = db.session.scalars(select(Patient).where(Patient.first_name == "Ava")).first()
    conv = _conversation(ava)
    conv.clinic_id = _clinic("Uptown").id
    db.session.commit()
    before = row_count(Message)
    for fields in ({"patient_id": ava.id}, {"phone": phones.display(ava.phone)}):
        r = _compose(downtown_staff, clinic_id=_clinic("Downtown").id, **fields)
        assert r.status_code == 422, fields
        assert "filed under a clinic you do not have access to" in r.get_data(as_text=True)
    fresh()
    assert row_count(Message) == before
    assert db.session.get(Conversation, conv.id).clinic.name == "Uptown"
    # The Main Admin, who sees every clinic, may still file it under Downtown.
    admin = app.test_client()
    login(admin, "admin@glow.test")
    r = _compose(admin, patient_id=ava.id, clinic_id=_clinic("Downtown").id)
    assert r.status_code == 302
    fresh()
    assert db.session.get(Conversation, conv.id).clinic.name == "Downtown"


def test_the_timeline_shows_no_text_of_a_conversation_the_user_cannot_open(
    app, demo, downtown_staff
):
    ava = db.session.scalars(select(Patient).where(Patient.first_name == "Ava")).first()
    conv = _conversation(ava)
    texts = list(db.session.scalars(select(Message.body).where(Message.conversation_id == conv.id)))
    assert texts
    own = downtown_staff.get(f"/patients/{ava.id}").get_data(as_text=True)
    assert any(t in own for t in texts)  # filed under Downtown: the texts show
    conv.clinic_id = _clinic("Uptown").id
    db.session.commit()
    r = downtown_staff.get(f"/patients/{ava.id}")
    assert r.status_code == 200  # her profile is still theirs (home clinic Downtown)
    page = r.get_data(as_text=True)
    for text in texts:
        assert text not in page
    assert downtown_staff.get(f"/inbox/c/{conv.id}").status_code == 404


def _uptown_ids(glow_id: int) -> dict[str, int]:
    """Records of Glow's Uptown clinic: a conversation, its failed or latest message, a
    patient whose home is Uptown."""
    uptown = _clinic("Uptown")
    conv = db.session.scalars(
        select(Conversation)
        .where(Conversation.account_id == glow_id, Conversation.clinic_id == uptown.id)
        .order_by(Conversation.id)
    ).first()
    message = db.session.scalars(
        select(Message.id).where(Message.conversation_id == conv.id).order_by(Message.id.desc())
    ).first()
    patient = db.session.get(Patient, conv.patient_id)
    assert patient.home_clinic_id == uptown.id
    appointment = db.session.scalars(
        select(Appointment.id).where(Appointment.patient_id == patient.id)
    ).first() or _appointment_at(uptown, patient)
    paperwork = db.session.scalars(
        select(PaperworkItem.id).where(PaperworkItem.patient_id == patient.id)
    ).first()
    return {"conversation_id": conv.id, "message_id": message, "patient_id": patient.id,
            "appointment_id": appointment, "paperwork_id": paperwork}  # fmt: skip


def _appointment_at(clinic: Clinic, patient: Patient) -> int:
    from datetime import timedelta

    from inbox.models import utcnow

    appt = Appointment(account_id=patient.account_id, patient_id=patient.id, clinic_id=clinic.id,
                       starts_at=utcnow() + timedelta(days=3), service="Uptown peel")  # fmt: skip
    db.session.add(appt)
    db.session.commit()
    return appt.id


def test_every_route_answers_another_clinics_record_as_another_practices(app, demo):
    glow, fresh_face = set_up_two_practices()
    _limit("staff@glow.test", "Downtown")
    app.test_client_class = IsolatedClient
    client, token = signed_in(app, "inbox")  # staff@glow.test, Downtown only
    uptown = {**glow.ids, **_uptown_ids(glow.account.id)}
    fresh()
    before = db.session.execute(
        select(Conversation.id, Conversation.clinic_id, Conversation.unread)
    ).all()
    checked = 0
    for rule in app.url_map.iter_rules():
        params = rule.arguments & set(ID_PARAMS)
        if not params or not params <= SCOPED_PARAMS or rule.endpoint.startswith("api_v1."):
            continue  # the API's key sees every clinic of its practice (test_api_access.py)
        for method in sorted(rule.methods - {"OPTIONS", "HEAD"}):
            answers = []
            for ids in (uptown, fresh_face.ids):
                url = rule.build(fill(rule, ids), append_unknown=False)[1]
                data = {"csrf_token": token, "body": "leak?", "unread": "1"}
                r = client.open(url, method=method, data=data if method == "POST" else None)
                answers.append(r.status_code)
            assert answers[0] == answers[1] == 404, (rule.rule, method, answers)
            checked += 1
    assert checked >= 6
    fresh()
    after = db.session.execute(
        select(Conversation.id, Conversation.clinic_id, Conversation.unread)
    ).all()
    assert sorted(after) == sorted(before)
