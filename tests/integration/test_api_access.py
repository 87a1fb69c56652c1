"""The API's permission table: every /api/v1 route needs a live key (401), the scope its
declaration names (403), and answers 404 for another practice's ids, never data."""

from __future__ import annotations

import pytest

from inbox.extensions import db
from inbox.services import api_keys
from inbox.web import guards
from tests.conftest import IsolatedClient
from tests.integration.practices import API_SECRETS, fill, set_up_two_practices

# A body each write accepts (so a 404 is about the id, not the fields).
BODIES = {
    "api_v1.update_patient": {"first_name": "Ava"},
    "api_v1.upsert_patient": {"phone": "+12125550111", "first_name": "Ann"},
    "api_v1.upsert_paperwork": {"name": "Consent"},
    "api_v1.send_message": {"body": "Hello"},
    "api_v1.update_webhook_endpoint": {"include_text": True},
}


def api_calls(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith("api_v1."):
            continue
        for method in sorted(rule.methods - {"OPTIONS", "HEAD"}):
            yield rule, method, guards.level_for(app, rule.endpoint, method)


def _bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def test_every_api_route_needs_a_key_the_scope_and_its_own_practice(app, demo):
    glow, fresh = set_up_two_practices()
    app.test_client_class = IsolatedClient
    client = app.test_client()
    scoped_keys = {
        scope: api_keys.create(glow.account.id, f"only {scope}", scope)[1]
        for scope in ("read", "write", "send")
    }
    revoked, revoked_secret = api_keys.create(glow.account.id, "old", "read,write,send")
    api_keys.revoke(revoked)
    full = API_SECRETS[glow.account.id]
    checked = 0
    for rule, method, level in api_calls(app):
        assert level in guards.API_LEVELS, rule.endpoint
        need = guards.API_LEVELS[level]
        own = rule.build(fill(rule, glow.ids), append_unknown=False)[1]
        body = BODIES.get(rule.endpoint, {})
        where = (method, own)
        for headers in ({}, _bearer("ci_nonsense"), _bearer(revoked_secret)):
            r = client.open(own, method=method, json=body, headers=headers)
            assert r.status_code == 401, (*where, headers, r.status_code)
            assert r.mimetype == "application/problem+json"
            assert r.json["type"].endswith("#problem-unauthenticated")
        for scope, secret in scoped_keys.items():
            r = client.open(own, method=method, json=body, headers=_bearer(secret))
            if scope == need:
                assert r.status_code not in (401, 403), (*where, scope, r.status_code)
                assert r.status_code < 500, (*where, scope, r.status_code, r.data[:300])
            else:
                assert r.status_code == 403, (*where, scope, r.status_code)
                assert r.json["type"].endswith("#problem-missing-scope")
        if rule.arguments - {"external_id"}:
            other = rule.build(fill(rule, fresh.ids), append_unknown=False)[1]
            r = client.open(other, method=method, json=body, headers=_bearer(full))
            assert r.status_code == 404, (method, other, r.status_code, r.data[:300])
            assert b"Fresh" not in r.data
        checked += 1
    assert checked >= 17
    db.session.rollback()


def test_ids_that_exist_nowhere_answer_404(app, demo):
    """Too large for any id column (PostgreSQL refuses to compare them): 404, not 500."""
    set_up_two_practices()
    app.test_client_class = IsolatedClient
    client = app.test_client()
    headers = _bearer(API_SECRETS[demo.id])
    checked = 0
    for rule, method, _level in api_calls(app):
        if not rule.arguments - {"external_id"}:
            continue
        for huge in (2**31, 10**25):
            url = rule.build(dict.fromkeys(rule.arguments, huge), append_unknown=False)[1]
            body = BODIES.get(rule.endpoint, {})
            r = client.open(url, method=method, json=body, headers=headers)
            assert r.status_code == 404, (method, url, r.status_code)
        checked += 1
    assert checked >= 6


def test_a_session_cookie_is_never_read_and_none_is_set(app, demo):
    set_up_two_practices()
    from tests.integration.practices import signed_in

    app.test_client_class = IsolatedClient
    client, _token = signed_in(app, "main_admin")
    r = client.get("/api/v1/patients")
    assert r.status_code == 401
    r = client.get("/api/v1/patients", headers=_bearer(API_SECRETS[demo.id]))
    assert r.status_code == 200
    assert "Set-Cookie" not in r.headers


@pytest.mark.parametrize("path", ["/api/v1/nowhere", "/api/v1/patients/999999999"])
def test_unknown_paths_and_ids_answer_problem_details(app, demo, path):
    set_up_two_practices()
    app.test_client_class = IsolatedClient
    r = app.test_client().get(path, headers=_bearer(API_SECRETS[demo.id]))
    assert r.status_code == 404
    assert r.mimetype == "application/problem+json"
    assert r.json["status"] == 404
