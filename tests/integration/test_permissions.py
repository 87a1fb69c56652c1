"""The permission matrix: every route declares who may call it (guards.access), and every
route answers every role as declared, for every method it accepts."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from simple_websocket import ConnectionError

from inbox import create_app
from inbox.web import guards
from tests.conftest import IsolatedClient, http_session, ws_connect
from tests.integration.practices import ROLES, fill, set_up_two_practices, signed_in

# Which declared levels each role meets.
MEETS = {
    "anonymous": {guards.PUBLIC, guards.WEBHOOK},
    "staff": {guards.PUBLIC, guards.WEBHOOK, guards.STAFF},
    "inbox": {guards.PUBLIC, guards.WEBHOOK, guards.STAFF, guards.INBOX},
    "admin": {guards.PUBLIC, guards.WEBHOOK, guards.STAFF, guards.INBOX, guards.ADMIN},
    "main_admin": set(guards.LEVELS),
    "other_account": set(guards.LEVELS),  # the Main Admin of the other practice
}
# The policy, written out: who may call what. The app's declarations must say the same,
# so changing who may call a route is a change a reviewer sees here too.
POLICY = {
    "static": {"*": guards.PUBLIC},
    "auth.login": {"*": guards.PUBLIC},
    "auth.logout": {"*": guards.STAFF},
    "auth.logout_everywhere": {"*": guards.STAFF},
    "auth.session_status": {"*": guards.STAFF},
    "auth.keepalive": {"*": guards.STAFF},
    "account.forgot_password": {"*": guards.PUBLIC},
    "account.set_password": {"*": guards.PUBLIC},
    "account.show": {"*": guards.STAFF},
    "home.index": {"*": guards.STAFF},
    "home.healthz": {"*": guards.PUBLIC},
    "patients.show": {"*": guards.STAFF},
    "settings.index": {"*": guards.STAFF},
    "settings.profile": {"*": guards.STAFF, "POST": guards.MAIN_ADMIN},
    "conversations.index": {"*": guards.INBOX},
    "conversations.list_rows": {"*": guards.INBOX},
    "conversations.show": {"*": guards.INBOX},
    "conversations.older": {"*": guards.INBOX},
    "conversations.saved_replies": {"*": guards.INBOX},
    "conversations.send": {"*": guards.INBOX},
    "conversations.read_state": {"*": guards.INBOX},
    "conversations.seen": {"*": guards.INBOX},
    "conversations.bulk": {"*": guards.INBOX},
    "conversations.retry": {"*": guards.INBOX},
    "conversations.segment_counter": {"*": guards.INBOX},
    "conversations.compose": {"*": guards.INBOX},
    "conversations.patient_options": {"*": guards.INBOX},
    "conversations.paperwork_reminder": {"*": guards.INBOX},
    "patients.paperwork_reminder": {"*": guards.INBOX},
    "patients.index": {"*": guards.INBOX},
    "patients.new": {"*": guards.INBOX},
    "patients.edit": {"*": guards.INBOX},
    "patients.link": {"*": guards.INBOX},
    "patients.add_appointment": {"*": guards.STAFF},
    "patients.appointment": {"*": guards.STAFF},
    "patients.cancel_appointment": {"*": guards.STAFF},
    "patients.add_paperwork": {"*": guards.STAFF},
    "patients.complete_paperwork": {"*": guards.STAFF},
    "patients.import_upload": {"*": guards.ADMIN},
    "patients.import_template": {"*": guards.ADMIN},
    "patients.import_show": {"*": guards.ADMIN},
    "patients.import_start": {"*": guards.ADMIN},
    "patients.import_progress": {"*": guards.ADMIN},
    "patients.import_skipped": {"*": guards.ADMIN},
    "patients.import_problems": {"*": guards.ADMIN},
    "live.ws": {"*": guards.INBOX},
    "settings.users": {"*": guards.ADMIN},
    "settings.user": {"*": guards.ADMIN},
    "settings.invite": {"*": guards.ADMIN},
    "settings.resend_invitation": {"*": guards.ADMIN},
    "settings.revoke_invitation": {"*": guards.ADMIN},
    "settings.deactivate": {"*": guards.ADMIN},
    "settings.reactivate": {"*": guards.ADMIN},
    "settings.hand_over": {"*": guards.MAIN_ADMIN},
    "settings.clinics_page": {"*": guards.MAIN_ADMIN},
    "settings.clinic": {"*": guards.MAIN_ADMIN},
    "settings.archive_clinic": {"*": guards.MAIN_ADMIN},
    "settings.restore_clinic": {"*": guards.MAIN_ADMIN},
    "settings.inbox": {"*": guards.MAIN_ADMIN},
    "settings.setup": {"*": guards.MAIN_ADMIN},
    "settings.review": {"*": guards.MAIN_ADMIN},
    "settings.finish": {"*": guards.MAIN_ADMIN},
    "settings.done": {"*": guards.MAIN_ADMIN},
    "settings.disable": {"*": guards.MAIN_ADMIN},
    "settings.subscriptions": {"*": guards.MAIN_ADMIN},
    "settings.reminder_template": {"*": guards.MAIN_ADMIN},
    "settings.replies": {"*": guards.MAIN_ADMIN},
    "settings.reply": {"*": guards.MAIN_ADMIN},
    "settings.delete_reply": {"*": guards.MAIN_ADMIN},
    "settings.move_reply": {"*": guards.MAIN_ADMIN},
    "settings.reply_preview": {"*": guards.MAIN_ADMIN},
    "records.audit_log": {"*": guards.MAIN_ADMIN},
    "records.export_conversations": {"*": guards.MAIN_ADMIN},
    "hooks.index": {"*": guards.MAIN_ADMIN},
    "hooks.endpoint": {"*": guards.MAIN_ADMIN},
    "hooks.log": {"*": guards.MAIN_ADMIN},
    "hooks.delete": {"*": guards.MAIN_ADMIN},
    "hooks.rotate": {"*": guards.MAIN_ADMIN},
    "hooks.enable": {"*": guards.MAIN_ADMIN},
    "hooks.test": {"*": guards.MAIN_ADMIN},
    "hooks.resend": {"*": guards.MAIN_ADMIN},
    "webhooks.inbound": {"*": guards.WEBHOOK},
    "webhooks.status": {"*": guards.WEBHOOK},
    "settings.integrations": {"*": guards.MAIN_ADMIN},
    "settings.revoke_api_key": {"*": guards.MAIN_ADMIN},
    "api_docs.openapi_json": {"*": guards.PUBLIC},
    "api_docs.reference_page": {"*": guards.PUBLIC},
    # The API: a bearer key with the scope (tests/integration/test_api_access.py).
    "api_v1.list_patients": {"*": guards.API_READ},
    "api_v1.create_patient": {"*": guards.API_WRITE},
    "api_v1.get_patient": {"*": guards.API_READ},
    "api_v1.update_patient": {"*": guards.API_WRITE},
    "api_v1.upsert_patient": {"*": guards.API_WRITE},
    "api_v1.batch_patients": {"*": guards.API_WRITE},
    "api_v1.list_clinics": {"*": guards.API_READ},
    "api_v1.list_appointments": {"*": guards.API_READ},
    "api_v1.upsert_appointment": {"*": guards.API_WRITE},
    "api_v1.batch_appointments": {"*": guards.API_WRITE},
    "api_v1.cancel_appointment": {"*": guards.API_WRITE},
    "api_v1.upsert_paperwork": {"*": guards.API_WRITE},
    "api_v1.complete_paperwork": {"*": guards.API_WRITE},
    "api_v1.list_conversations": {"*": guards.API_READ},
    "api_v1.get_conversation": {"*": guards.API_READ},
    "api_v1.send_message": {"*": guards.API_SEND},
    "api_v1.get_message": {"*": guards.API_READ},
    "api_v1.list_webhook_endpoints": {"*": guards.API_READ},
    "api_v1.create_webhook_endpoint": {"*": guards.API_WRITE},
    "api_v1.get_webhook_endpoint": {"*": guards.API_READ},
    "api_v1.update_webhook_endpoint": {"*": guards.API_WRITE},
    "api_v1.delete_webhook_endpoint": {"*": guards.API_WRITE},
}
# Calls that change who is signed in or switch the Inbox off go last, in this order.
LAST = [
    ("settings.disable", "POST"),
    ("auth.logout_everywhere", "POST"),
    ("auth.logout", "POST"),
    ("auth.login", "POST"),
]
# Calls that end the session on the server: the client signs in again after them.
SIGN_OUTS = {("auth.logout_everywhere", "POST")}


def http_rules(app: Flask):
    return [r for r in app.url_map.iter_rules() if not r.websocket]


def calls(app: Flask):
    """(rule, method) for every route and every method it accepts. OPTIONS is answered
    by Flask itself (an Allow header, no body, no view)."""
    out = [
        (rule, method)
        for rule in sorted(http_rules(app), key=lambda r: r.rule)
        for method in sorted(rule.methods - {"OPTIONS"})
    ]

    def order(call) -> int:
        key = (call[0].endpoint, call[1])
        return LAST.index(key) + 1 if key in LAST else 0

    return sorted(out, key=order)


def is_login_denial(response) -> bool:
    """Flask-Login's answer to an anonymous request: 302 to the login form, with next."""
    if response.status_code != 302:
        return False
    loc = urlsplit(response.headers["Location"])
    return loc.path == "/login" and "next" in parse_qs(loc.query)


def test_every_endpoint_declares_its_access(app):
    missing = [
        r.endpoint for r in app.url_map.iter_rules() if guards.declared(app, r.endpoint) is None
    ]
    assert missing == [], f"routes without @access(...): {missing}"
    declared = {r.endpoint: guards.declared(app, r.endpoint) for r in app.url_map.iter_rules()}
    assert declared == POLICY
    # The websocket and static/ are in the url map, and declared.
    endpoints = {r.endpoint: r for r in app.url_map.iter_rules()}
    assert (
        endpoints["live.ws"].websocket and guards.level_for(app, "live.ws", "GET") == guards.INBOX
    )
    assert guards.level_for(app, "static", "GET") == guards.PUBLIC


def test_an_undeclared_route_is_refused(database_url, redis_url, app):
    other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                        "REDIS_URL": redis_url})  # fmt: skip

    @other.get("/undeclared")
    def undeclared():
        return "secret"

    assert other.test_client().get("/undeclared").status_code == 403


def test_declaration_rejects_unknown_levels():
    with pytest.raises(ValueError):
        guards.access("everyone")


@pytest.mark.parametrize("role", list(ROLES))
def test_every_route_answers_every_role_as_declared(app, demo, role):
    glow, _ = set_up_two_practices()
    app.test_client_class = IsolatedClient
    client, token = signed_in(app, role)
    checked = 0
    for rule, method in calls(app):
        level = guards.level_for(app, rule.endpoint, method)
        url = rule.build(fill(rule, glow.ids), append_unknown=False)[1]
        data = {"csrf_token": token}
        if rule.endpoint == "auth.login":
            data |= {"email": ROLES[role] or "frontdesk@glow.test", "password": "demo1234"}
        if level == guards.WEBHOOK:
            # A session never authenticates a webhook: without the carrier's signature
            # the answer is 401 for everyone.
            data = {"msisdn": "19175550100", "to": "12125550134", "text": "hi",
                    "messageId": "X1", "type": "text"}  # fmt: skip
            r = client.open(url, method=method, data=data if method == "POST" else None,
                            query_string=data if method != "POST" else None)  # fmt: skip
            assert r.status_code == 401, (role, method, url, r.status_code)
            checked += 1
            continue
        if level in guards.API_LEVELS:
            # A session never authenticates the API: only a bearer key does (401).
            r = client.open(url, method=method, json={})
            assert r.status_code == 401, (role, method, url, r.status_code)
            assert r.mimetype == "application/problem+json"
            checked += 1
            continue
        r = client.open(url, method=method, data=data if method == "POST" else None)
        where = (role, method, url, level, r.status_code, r.headers.get("Location"))
        if level in MEETS[role]:
            assert r.status_code not in (401, 403), where
            assert not is_login_denial(r), where
            if role == "other_account" and rule.arguments - {"filename"}:
                assert r.status_code == 404, where  # another practice's ids
            else:
                assert r.status_code < 500, where
        elif role == "anonymous":
            assert is_login_denial(r), where
        else:
            assert r.status_code == 403, where
        if (rule.endpoint, method) in SIGN_OUTS:
            client, token = signed_in(app, role)
        checked += 1
    assert checked >= 30


# ---- the websocket, as a real handshake ------------------------------------------------


def _handshake(app, session: requests.Session) -> int:
    """101 if the socket opened, else the HTTP status of the refusal."""
    try:
        ws = ws_connect(app, session)
    except ConnectionError as exc:
        return exc.status_code
    ws.close()
    return 101


@pytest.mark.parametrize("role", list(ROLES))
def test_the_websocket_answers_every_role_as_declared(app, demo, role):
    set_up_two_practices()  # the other practice has its own Inbox, so its admin may connect
    status = _handshake(app, http_session(app, ROLES[role]))
    level = guards.level_for(app, "live.ws", "GET")
    if level in MEETS[role]:
        assert status == 101
    elif role == "anonymous":
        assert status == 401
    else:
        assert status == 403
