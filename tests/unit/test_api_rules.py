"""The API's pure rules: scopes, the key's actor, field errors flattened for problem
details, the rate-limit and problem vocabularies."""

from __future__ import annotations

from datetime import timedelta

import pytest

from inbox.api.problems import PROBLEMS, _field_errors
from inbox.models import ApiKey, utcnow
from inbox.services import access, api_keys


def test_scopes_are_checked_and_kept_in_a_fixed_order():
    assert api_keys.clean_scopes("send, READ") == ["read", "send"]
    assert api_keys.clean_scopes(["write", "write"]) == ["write"]
    with pytest.raises(api_keys.KeyRefused, match="Unknown scope “admin”"):
        api_keys.clean_scopes("read,admin")
    with pytest.raises(api_keys.KeyRefused, match="at least one scope"):
        api_keys.clean_scopes("")


def test_a_key_allows_only_its_scopes():
    key = ApiKey(scopes="read,send")
    assert key.allows("read") and key.allows("send") and not key.allows("write")


def test_the_secret_is_hashed_and_unguessable_prefixes_are_refused_without_a_query():
    assert api_keys.hash_secret("ci_x") == api_keys.hash_secret("ci_x")
    assert len(api_keys.hash_secret("ci_x")) == 64
    # Not one of ours: answered before any lookup (no app context needed).
    assert api_keys.authenticate("Basic abc") is None
    assert api_keys.authenticate("ci_" + "x" * 300) is None


def test_the_actor_sees_every_clinic_and_names_the_key():
    key = ApiKey(id=7, name="EHR sync", account_id=3)
    actor = api_keys.ApiActor(key=key, account=type("A", (), {"id": 3})())
    assert access.clinic_scope(actor).every
    assert actor.can_use_inbox and not actor.is_main_admin
    assert actor.id is None and actor.api_key_id == 7 and actor.account_id == 3
    assert actor.name == "API key “EHR sync”"


def test_touch_waits_a_minute_between_writes():
    key = ApiKey(last_used_at=utcnow())
    api_keys.touch(key, now=key.last_used_at + timedelta(seconds=30))  # no write, no session


def test_field_errors_are_flattened_to_dotted_paths():
    messages = {
        "json": {
            "phone": ["Missing data for required field."],
            "patients": {"3": {"phone": ["Too long."]}},
        },
        "query": {"limit": ["Must be at most 200."]},
    }
    assert _field_errors(messages) == [
        {"field": "phone", "message": "Missing data for required field."},
        {"field": "patients.3.phone", "message": "Too long."},
        {"field": "limit", "message": "Must be at most 200."},
    ]


def test_every_problem_type_has_a_status_and_title():
    assert {status for status, _ in PROBLEMS.values()} >= {401, 403, 404, 409, 422, 429}
    assert all(title for _, title in PROBLEMS.values())
