"""A text goes out: composer -> queued row -> RQ job -> real SDK -> sandbox -> receipt."""

from sqlalchemy import select

from inbox.extensions import db
from inbox.models import Conversation, Message, Patient
from tests.conftest import csrf_token, fresh, login, run_jobs, wait_for


def _ava_conversation():
    return db.session.scalars(
        select(Conversation).join(Patient).where(Patient.first_name == "Ava")
    ).one()


def test_send_goes_through_sdk_to_sandbox_and_is_delivered(app, demo, client, sandbox):
    login(client, "staff@glow.test")
    conv = _ava_conversation()
    token = csrf_token(client, f"/inbox/c/{conv.id}")
    r = client.post(
        f"/inbox/c/{conv.id}/messages",
        data={"body": "See you Thursday at 3!", "csrf_token": token},
    )
    assert r.status_code == 302
    fresh()
    message = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
    assert (message.status, message.body, message.direction) == (
        "queued",
        "See you Thursday at 3!",
        "out",
    )
    assert message.sent_by.email == "staff@glow.test"

    run_jobs(app)

    sent = sandbox.requests_to("/sms/json")
    assert len(sent) == 1
    params = sent[0]["params"]
    assert params["from"] == "12125550134"  # the inbox number, digits only
    assert params["to"] == conv.patient.phone.removeprefix("+")
    assert params["text"] == "See you Thursday at 3!"
    assert params["client-ref"] == str(message.id)

    def delivered():
        fresh()
        return db.session.get(Message, message.id).status == "delivered"

    assert wait_for(delivered), "the sandbox's delivery receipt should mark it delivered"
    fresh()
    message = db.session.get(Message, message.id)
    assert message.carrier_message_id.startswith("SBX")
    page = client.get(f"/inbox/c/{conv.id}").get_data(as_text=True)
    assert "See you Thursday at 3!" in page and "Delivered" in page


def test_unicode_text_is_sent_as_unicode_with_segments(app, demo, client, sandbox):
    login(client, "staff@glow.test")
    conv = _ava_conversation()
    token = csrf_token(client, f"/inbox/c/{conv.id}")
    client.post(
        f"/inbox/c/{conv.id}/messages", data={"body": "Merci 🙏 " * 12, "csrf_token": token}
    )
    run_jobs(app)
    params = sandbox.requests_to("/sms/json")[0]["params"]
    assert params["type"] == "unicode"
    fresh()
    message = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
    assert (message.encoding, message.segments) == ("UCS-2", 2)


def test_empty_and_too_long_texts_are_refused_with_words(app, demo, client, sandbox):
    login(client, "staff@glow.test")
    conv = _ava_conversation()
    token = csrf_token(client, f"/inbox/c/{conv.id}")
    fresh()
    before = db.session.scalar(select(db.func.count(Message.id)))
    r = client.post(f"/inbox/c/{conv.id}/messages", data={"body": "   ", "csrf_token": token})
    assert r.status_code == 422 and "Write a message before sending" in r.get_data(as_text=True)
    long = "a" * 990
    r = client.post(
        f"/inbox/c/{conv.id}/messages",
        data={"body": long, "csrf_token": token},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    html = r.get_data(as_text=True)
    assert "would go out as 7 texts" in html
    assert long in html, "the draft is kept so nothing typed is lost"
    fresh()
    assert db.session.scalar(select(db.func.count(Message.id))) == before
    assert sandbox.requests_to("/sms/json") == []


def test_permanent_carrier_error_fails_with_reason(app, demo, client, sandbox):
    login(client, "staff@glow.test")
    conv = _ava_conversation()
    token = csrf_token(client, f"/inbox/c/{conv.id}")
    sandbox.fail_next("error")
    client.post(f"/inbox/c/{conv.id}/messages", data={"body": "Hello", "csrf_token": token})
    run_jobs(app)
    fresh()
    message = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
    fresh()
    assert message.status == "failed"
    assert message.error_text == "The phone number is barred by the carrier"
    assert db.session.get(Conversation, conv.id).has_failed


def test_transient_error_is_retried_not_failed(app, demo, client, sandbox):
    from inbox.services import delivery

    login(client, "staff@glow.test")
    conv = _ava_conversation()
    token = csrf_token(client, f"/inbox/c/{conv.id}")
    sandbox.fail_next("http503")
    client.post(f"/inbox/c/{conv.id}/messages", data={"body": "Hello", "csrf_token": token})
    fresh()
    message = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
    try:
        delivery.deliver(message.id)
        raise AssertionError("a 503 should ask for a retry")
    except delivery.RetryLater:
        pass
    fresh()
    assert message.status == "queued"
    assert delivery.deliver(message.id) == "sent"
    assert len(sandbox.requests_to("/sms/json")) == 2


def test_a_message_is_sent_once_even_if_its_job_runs_twice(app, demo, client, sandbox):
    from inbox.services import delivery

    login(client, "staff@glow.test")
    conv = _ava_conversation()
    token = csrf_token(client, f"/inbox/c/{conv.id}")
    client.post(f"/inbox/c/{conv.id}/messages", data={"body": "Once", "csrf_token": token})
    fresh()
    message = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
    delivery.deliver(message.id)
    delivery.deliver(message.id)
    assert len(sandbox.requests_to("/sms/json")) == 1


def test_lost_connection_marks_outcome_unknown_and_does_not_resend(app, demo, client, sandbox):
    from inbox.services import delivery

    login(client, "staff@glow.test")
    conv = _ava_conversation()
    token = csrf_token(client, f"/inbox/c/{conv.id}")
    sandbox.fail_next("timeout", seconds=3)  # answers after our 2 s timeout
    client.post(f"/inbox/c/{conv.id}/messages", data={"body": "Maybe", "csrf_token": token})
    fresh()
    message = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
    assert delivery.deliver(message.id) == "unknown"
    assert delivery.deliver(message.id) == "unknown"
    assert len(sandbox.requests_to("/sms/json")) == 1
