"""Delivery receipts: idempotent, never backward, failures in words."""

import time
import uuid

import requests
from sqlalchemy import select

from inbox.extensions import db
from inbox.models import Conversation, Message, Patient
from inbox.sandbox import sign_params
from tests.conftest import fresh


def _outbound(status="sent") -> Message:
    conv = db.session.scalars(
        select(Conversation).join(Patient).where(Patient.first_name == "Ava")
    ).one()
    m = Message(
        account_id=conv.account_id, conversation_id=conv.id, direction="out", body="Hi",
        from_number="+12125550134", to_number=conv.patient.phone, status=status,
        carrier_message_id="SBX" + uuid.uuid4().hex[:10],
    )  # fmt: skip
    db.session.add(m)
    db.session.commit()
    return m


def _receipt(app, sandbox, m: Message, status: str, err: str = "0") -> int:
    params = {
        "msisdn": m.to_number.removeprefix("+"), "to": "12125550134",
        "messageId": m.carrier_message_id,
        "status": status, "err-code": err, "client-ref": str(m.id),
        "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "timestamp": str(int(time.time())), "nonce": str(uuid.uuid4()),
    }  # fmt: skip
    url = app.config["PUBLIC_BASE_URL"] + "/webhooks/vonage/status"
    return requests.post(url, data=sign_params(sandbox.state, params), timeout=5).status_code


def test_delivered_stays_delivered(app, demo, sandbox):
    m = _outbound()
    assert _receipt(app, sandbox, m, "delivered") == 200
    assert _receipt(app, sandbox, m, "delivered") == 200
    assert _receipt(app, sandbox, m, "accepted") == 200
    fresh()
    assert db.session.get(Message, m.id).status == "delivered"


def test_failed_receipt_gives_reason_in_words(app, demo, sandbox):
    m = _outbound()
    assert _receipt(app, sandbox, m, "failed", err="4") == 200
    fresh()
    m = db.session.get(Message, m.id)
    assert m.status == "failed" and m.error_text == "The number is barred from receiving texts"
    assert m.conversation.has_failed


def test_receipt_for_unknown_message_is_acknowledged(app, demo, sandbox):
    m = _outbound()
    ghost = Message(id=999999, to_number=m.to_number, carrier_message_id="NOPE")  # not stored
    assert _receipt(app, sandbox, ghost, "delivered") == 200
    fresh()
    assert db.session.get(Message, m.id).status == "sent"


def test_forged_receipt_is_refused(app, demo, sandbox):
    m = _outbound()
    url = app.config["PUBLIC_BASE_URL"] + "/webhooks/vonage/status"
    r = requests.post(url, data={"messageId": m.carrier_message_id, "status": "failed"}, timeout=5)
    assert r.status_code == 401
    fresh()
    assert db.session.get(Message, m.id).status == "sent"


def _params(m: Message, status: str, err: str = "0") -> dict[str, str]:
    return {"msisdn": m.to_number.removeprefix("+"), "to": "12125550134",
            "messageId": m.carrier_message_id, "status": status, "err-code": err,
            "client-ref": str(m.id)}  # fmt: skip


def test_one_writer_takes_failures_in_bulk_and_leaves_opt_outs_and_strangers(app, demo, sandbox):
    """apply_receipt_batch is the only writer of receipts: the intake's batches take a
    failure in bulk too (its reason, the conversation's failure mark, the list pages old);
    an opt-out and a receipt naming no text of ours are left to be held and applied alone."""
    from inbox.services import receipts

    failing, opting_out, delivered = _outbound(), _outbound(), _outbound()
    stranger = {**_params(delivered, "delivered"), "client-ref": "", "messageId": "NOT-OURS"}
    items = [(1, _params(failing, "failed", err="4")), (2, _params(opting_out, "failed", err="9")),
             (3, _params(delivered, "delivered")), (4, stranger)]  # fmt: skip
    done = receipts.apply_receipt_batch(items, lambda: None, db.session.connection())
    db.session.commit()
    assert done.outcomes == {1: "stored", 3: "stored"}  # 2 and 4: the one-at-a-time way
    assert done.accounts == {failing.account_id}
    assert [e["status"] for _, e in done.events] == ["failed", "delivered"]
    fresh()
    m = db.session.get(Message, failing.id)
    assert m.status == "failed" and m.error_code == "4"
    assert m.error_text == "The number is barred from receiving texts"
    assert m.conversation.has_failed
    assert db.session.get(Message, delivered.id).status == "delivered"
    assert db.session.get(Message, opting_out.id).status == "sent"
    # Alone (held first, then applied on the session): the opt-out and the stranger.
    assert receipts.apply_receipt(_params(opting_out, "failed", err="9")).outcome == "stored"
    assert receipts.apply_receipt(stranger).outcome == "ignored"
    fresh()
    assert db.session.get(Message, opting_out.id).conversation.patient.opted_out
