"""Tenant isolation: another practice's ids answer 404 on every route that takes an id
(generated from the url map, so a new route with an id is covered on arrival), for every
method, as a page and as an htmx fragment; ids in forms and query strings change and show
nothing; live events never cross practices."""

from __future__ import annotations

import json
import time

import pytest
from simple_websocket import Client
from sqlalchemy import func, select

from inbox import events
from inbox.extensions import db
from inbox.models import AuditEvent, Conversation, Message, Patient, User
from inbox.sandbox import send_inbound
from tests.conftest import (
    IsolatedClient,
    fresh,
    http_session,
    inbound_params,
    ws_connect,
    ws_drain,
)
from tests.integration.practices import (
    FRESH_NUMBER,
    FRESH_PATIENT,
    NON_ID_PARAMS,
    fill,
    set_up_two_practices,
    signed_in,
)

HTMX = {"HX-Request": "true", "HX-Target": "conversation-pane", "HX-Current-URL": "http://x/inbox"}


def id_rules(app):
    """Routes with an id, for a signed-in browser. The API's (a bearer key, never a
    session: 401 here) are proven the same way with keys in test_api_access.py."""
    rules = [
        r
        for r in app.url_map.iter_rules()
        if r.arguments - set(NON_ID_PARAMS) and not r.endpoint.startswith("api_v1.")
    ]
    assert len(rules) >= 7  # conversations, messages, patients, teammates at least
    return rules


def _snapshot(account_id: int) -> tuple:
    """What a request of the other practice must never change."""
    fresh()
    convs = db.session.execute(
        select(Conversation.id, Conversation.unread).where(Conversation.account_id == account_id)
    ).all()
    messages = db.session.execute(
        select(Message.id, Message.status).where(Message.account_id == account_id)
    ).all()
    users = db.session.execute(
        select(User.id, User.privileges, User.all_clinics).where(User.account_id == account_id)
    ).all()
    return sorted(convs), sorted(messages), sorted(map(str, users))


@pytest.mark.parametrize("direction", ["fresh_asks_for_glow", "glow_asks_for_fresh"])
def test_every_route_with_an_id_answers_404_for_another_practice(app, demo, direction):
    glow, fresh_face = set_up_two_practices()
    if direction == "fresh_asks_for_glow":
        asker, owner = "other_account", glow  # admin@fresh.test: every privilege at home
    else:
        asker, owner = "main_admin", fresh_face  # admin@glow.test
    app.test_client_class = IsolatedClient
    client, token = signed_in(app, asker)
    before = _snapshot(owner.account.id)
    checked = []
    for rule in id_rules(app):
        url = rule.build(fill(rule, owner.ids), append_unknown=False)[1]
        for method in sorted(rule.methods - {"OPTIONS"}):
            for headers in ({}, HTMX):
                data = {"csrf_token": token, "body": "leak?", "unread": "1", "inbox": "on",
                        "all_clinics": "on"}  # fmt: skip
                r = client.open(url, method=method, headers=headers,
                                data=data if method == "POST" else None)  # fmt: skip
                assert r.status_code == 404, (direction, method, url, headers, r.status_code)
                assert "Fresh secret" not in r.get_data(as_text=True)
                checked.append((method, rule.endpoint))
    assert _snapshot(owner.account.id) == before
    # GET and POST routes are both covered.
    assert {m for m, _ in checked} >= {"GET", "POST"}


def test_ids_in_forms_and_query_strings_reach_nothing_of_another_practice(app, demo, client):
    glow, fresh_face = set_up_two_practices()
    app.test_client_class = IsolatedClient
    client, token = signed_in(app, "main_admin")  # Glow
    before = _snapshot(fresh_face.account.id)
    fresh_conv, fresh_patient = fresh_face.ids["conversation_id"], fresh_face.ids["patient_id"]

    # Bulk Mark as read / unread with the other practice's conversation ids.
    for action in ("read", "unread"):
        client.post(
            "/inbox/bulk", data={"ids": [fresh_conv], "action": action, "csrf_token": token}
        )
    # A new message to the other practice's patient.
    r = client.post("/inbox/new", data={"patient_id": fresh_patient, "body": "leak?",
                                        "clinic_id": glow.account.clinics[0].id,
                                        "csrf_token": token})  # fmt: skip
    assert r.status_code == 422
    html = client.get(f"/inbox/new?patient_id={fresh_patient}").get_data(as_text=True)
    assert "Quinn" not in html
    # Search and the patient picker.
    assert "Quinn" not in client.get("/inbox/patients?q=Fresh").get_data(as_text=True)
    assert "Quinn" not in client.get("/inbox?q=Fresh&tab=unread").get_data(as_text=True)
    assert "Quinn" not in client.get(
        f"/inbox/list?clinic={fresh_face.account.clinics[0].id}"
    ).get_data(as_text=True)  # noqa: E501
    # The audit log filtered by a person of the other practice shows nothing.
    fresh_admin = db.session.scalars(select(User.id).where(User.email == "admin@fresh.test")).one()
    html = client.get(f"/settings/audit?user={fresh_admin}").get_data(as_text=True)
    assert 'id="audit-empty"' in html and "Alex Kim" not in html
    assert _snapshot(fresh_face.account.id) == before
    fresh()
    assert (
        db.session.scalar(select(func.count()).select_from(Message).where(Message.body == "leak?"))
        == 0
    )  # noqa: E501


def test_audit_entries_never_name_another_practices_objects(app, demo):
    """An entry that points at a foreign id (it cannot happen through the app) is shown as
    removed, never with the other practice's names."""
    glow, fresh_face = set_up_two_practices()
    admin = db.session.scalars(select(User).where(User.email == "admin@glow.test")).one()
    db.session.add(AuditEvent(account_id=glow.account.id, user_id=admin.id,
                              action="viewed_patient", object_type="patient",
                              object_id=fresh_face.ids["patient_id"]))  # fmt: skip
    db.session.commit()
    app.test_client_class = IsolatedClient
    client, _ = signed_in(app, "main_admin")
    html = client.get("/settings/audit").get_data(as_text=True)
    assert "Viewed a patient profile" in html
    assert "Quinn" not in html and "(removed)" in html


# ---- live events -------------------------------------------------------------------------


def _socket(app, email: str, page: dict) -> Client:
    ws = ws_connect(app, http_session(app, email))
    assert 'id="inbox-badge"' in ws.receive(timeout=5)
    ws.send(json.dumps(page))
    return ws


def _heard(ws, seconds: float) -> str:
    return "".join(ws_drain(ws, seconds))


def test_live_events_never_cross_practices(app, demo, sandbox):
    glow, fresh_face = set_up_two_practices()
    fresh_conv = fresh_face.ids["conversation_id"]
    glow_conv = glow.ids["conversation_id"]
    # Both tabs show their inbox with their own open conversation; Fresh's also pretends to have
    # Glow's conversation open, and Glow's Fresh's (a crafted page state).
    fresh_ws = _socket(app, "admin@fresh.test", {"path": f"/inbox/c/{glow_conv}", "search": "",
                                                 "visible": True})  # fmt: skip
    glow_ws = _socket(app, "staff@glow.test", {"path": f"/inbox/c/{fresh_conv}", "search": "",
                                               "visible": True})  # fmt: skip
    time.sleep(0.2)

    # A patient texts Fresh: Fresh's tab hears it, Glow's does not.
    send_inbound(sandbox.state, FRESH_PATIENT[1:], FRESH_NUMBER[1:], "Only for Fresh")
    assert "Quinn" in _heard(fresh_ws, 2)
    # Nothing at all reaches Glow's tab.
    assert _heard(glow_ws, 1) == ""

    # A patient texts Glow: Glow's tab hears it, Fresh's does not.
    send_inbound(sandbox.state, "19175550100", "12125550134", "Only for Glow")
    assert 'id="inbox-badge"' in _heard(glow_ws, 2)
    assert _heard(fresh_ws, 1) == ""

    # Even an event naming Fresh's objects on Glow's channel renders nothing for Glow.
    fresh_msg = db.session.scalars(
        select(Message.id).where(Message.account_id == fresh_face.account.id)
    ).first()
    events.publish(glow.account.id, {"type": "message", "conversation_id": fresh_conv,
                                     "id": fresh_msg, "direction": "in"}, app)  # fmt: skip
    events.publish(glow.account.id, {"type": "read", "conversation_ids": [fresh_conv]}, app)
    got = _heard(glow_ws, 1.5)
    assert "Quinn" not in got and "Fresh secret" not in got and "Only for Fresh" not in got
    assert got == ""
    fresh_ws.close()
    glow_ws.close()
    assert db.session.get(Patient, fresh_face.ids["patient_id"]).first_name == "Quinn"


def test_one_group_of_webhooks_routes_each_text_to_its_own_practice(app, demo):
    """One read routes a whole group: the same phone texting both practices' numbers in
    one group lands with each practice's own patient. A phone Fresh knows is a new,
    unknown sender at Glow, never Fresh's patient."""
    from inbox.services import intake

    glow, fresh_face = set_up_two_practices()
    to_fresh = inbound_params(msisdn=FRESH_PATIENT[1:], to=FRESH_NUMBER[1:], text="for Fresh")
    to_glow = inbound_params(msisdn=FRESH_PATIENT[1:], text="for Glow")  # Glow's number
    group = [intake._Item("inbound", to_fresh), intake._Item("inbound", to_glow)]
    intake.store_group(group)
    assert [item.outcome for item in group] == ["stored", "stored"]
    stored = {
        m.body: m
        for m in db.session.scalars(select(Message).where(Message.body.like("for %"))).all()
    }
    fresh_conversation, glow_conversation = (
        stored["for Fresh"].conversation,
        stored["for Glow"].conversation,
    )
    assert fresh_conversation.id == fresh_face.ids["conversation_id"]
    assert fresh_conversation.patient_id == fresh_face.ids["patient_id"]
    assert stored["for Glow"].account_id == glow.account.id == glow_conversation.account_id
    assert glow_conversation.patient.account_id == glow.account.id
    assert glow_conversation.patient.unknown_sender and glow_conversation.patient.first_name in (
        None,
        "",
    )


def test_ids_that_exist_nowhere_answer_404(app, demo):
    """Too large for any database column (and for SQLite to bind): 404, not 500."""
    app.test_client_class = IsolatedClient
    client, token = signed_in(app, "main_admin")
    huge = 10**25
    for rule in id_rules(app):
        url = rule.build(dict.fromkeys(rule.arguments, huge), append_unknown=False)[1]
        for method in sorted(rule.methods - {"OPTIONS"}):
            r = client.open(url, method=method, data={"csrf_token": token})
            assert r.status_code == 404, (method, url, r.status_code)
    assert client.get(f"/settings/audit?before={huge}&user={huge}").status_code == 200
