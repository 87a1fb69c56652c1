"""A patient's reply comes back: signed webhook -> dedupe -> routing -> unread."""

import json
import time

import requests
from sqlalchemy import select

from inbox.extensions import db
from inbox.models import Conversation, Message, Patient
from inbox.sandbox import send_inbound, sign_params
from tests.conftest import fresh, inbound_params, login, row_count

AVA = "19175550100"  # the first demo patient
OURS = "12125550134"


def _url(app) -> str:
    return app.config["PUBLIC_BASE_URL"] + "/webhooks/vonage/inbound"


def _count(model=Message) -> int:
    return row_count(model)


def test_patient_phone_reply_lands_unread(app, demo, sandbox):
    before = _count()
    assert send_inbound(sandbox.state, AVA, OURS, "Running 5 minutes late!") == 200
    assert _count() == before + 1
    message = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
    assert (message.direction, message.status, message.body) == (
        "in",
        "received",
        "Running 5 minutes late!",
    )
    assert (message.from_number, message.to_number) == ("+" + AVA, "+" + OURS)
    conv = db.session.get(Conversation, message.conversation_id)
    assert conv.unread and conv.patient.first_name == "Ava"
    assert conv.last_message_preview == "Running 5 minutes late!"


def test_the_same_webhook_three_times_creates_one_message(app, demo, sandbox):
    signed = sign_params(sandbox.state, inbound_params())
    before = _count()
    codes = [requests.post(_url(app), data=signed, timeout=5).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    assert _count() == before + 1


def test_get_form_and_json_are_all_accepted(app, demo, sandbox):
    before = _count()
    assert (
        requests.get(
            _url(app), params=sign_params(sandbox.state, inbound_params()), timeout=5
        ).status_code
        == 200
    )
    assert (
        requests.post(
            _url(app), data=sign_params(sandbox.state, inbound_params()), timeout=5
        ).status_code
        == 200
    )
    r = requests.post(_url(app), json=sign_params(sandbox.state, inbound_params()), timeout=5)
    assert r.status_code == 200
    assert _count() == before + 3


def test_forged_signature_is_refused_and_stores_nothing(app, demo, sandbox):
    signed = sign_params(sandbox.state, inbound_params())
    signed["text"] = "Tampered"
    before = _count()
    assert requests.post(_url(app), data=signed, timeout=5).status_code == 401
    unsigned = inbound_params()
    assert requests.post(_url(app), data=unsigned, timeout=5).status_code == 401
    assert _count() == before


def test_signed_webhook_older_than_the_carriers_retry_span_is_refused(app, demo, sandbox):
    # Vonage retries for 24 hours with the first try's timestamp: an hour-old retry is
    # taken, a day-and-two-hours-old one is not.
    late = sign_params(sandbox.state, inbound_params(timestamp=str(int(time.time()) - 3600)))
    assert requests.post(_url(app), data=late, timeout=5).status_code == 200
    old = sign_params(sandbox.state, inbound_params(timestamp=str(int(time.time()) - 26 * 3600)))
    assert requests.post(_url(app), data=old, timeout=5).status_code == 401


def test_unknown_to_number_answers_200_and_stores_nothing(app, demo, sandbox):
    before = _count()
    signed = sign_params(sandbox.state, inbound_params(to="13125550100"))
    assert requests.post(_url(app), data=signed, timeout=5).status_code == 200
    assert _count() == before


def test_empty_check_request_answers_200(app, demo):
    assert requests.get(_url(app), timeout=5).status_code == 200


def test_malformed_bodies_get_400_never_500(app, demo, sandbox):
    url = _url(app)
    r = requests.post(
        url, data="{not json", headers={"Content-Type": "application/json"}, timeout=5
    )
    assert r.status_code == 400
    r = requests.post(
        url, data=json.dumps([1, 2]), headers={"Content-Type": "application/json"}, timeout=5
    )
    assert r.status_code == 400
    missing = sign_params(sandbox.state, {"msisdn": AVA, "timestamp": str(int(time.time()))})
    assert requests.post(url, data=missing, timeout=5).status_code == 400
    bad_number = sign_params(sandbox.state, inbound_params(msisdn="not-a-number"))
    assert requests.post(url, data=bad_number, timeout=5).status_code == 400


def test_unknown_sender_gets_a_flagged_conversation(app, demo, sandbox, client):
    assert send_inbound(sandbox.state, "16465559999", OURS, "Hi, is this the spa?") == 200
    fresh()
    patient = db.session.scalars(select(Patient).where(Patient.phone == "+16465559999")).one()
    assert patient.unknown_sender
    conv = db.session.scalars(
        select(Conversation).where(Conversation.patient_id == patient.id)
    ).one()
    assert conv.unread
    login(client, "staff@glow.test")
    html = client.get("/inbox").get_data(as_text=True)
    assert "(646) 555-9999" in html and "Unknown sender" in html
    # The profile is named by the number once, and says whose it is not known yet.
    profile = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert 'id="patient-name">(646) 555-9999</h1>' in profile
    assert '<div class="text-secondary">Unknown sender</div>' in profile
    assert (
        '<i class="bi bi-person" aria-hidden="true"></i></div>' in profile
    )  # not a "#" for initials


def test_conversation_is_ordered_by_carrier_timestamp(app, demo, sandbox, client):
    late = inbound_params(text="second", **{"message-timestamp": "2030-01-01 10:00:05"})
    early = inbound_params(text="first", **{"message-timestamp": "2030-01-01 10:00:01"})
    for p in (late, early):  # arrive out of order
        requests.post(_url(app), data=sign_params(sandbox.state, p), timeout=5)
    fresh()
    conv = db.session.scalars(
        select(Conversation).join(Patient).where(Patient.phone == "+" + AVA)
    ).one()
    login(client, "staff@glow.test")
    html = client.get(f"/inbox/c/{conv.id}").get_data(as_text=True)
    conversation = html[html.index('id="messages"') :]
    assert conversation.index(">first<") < conversation.index(">second<")
    assert conv.last_message_preview == "second"
