"""The REST API through the real app, database, Redis and sandbox: upserts, paging,
sends with Idempotency-Key, problem details, rate limits, keys and their audit trail."""

from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import func, select

from inbox.extensions import db
from inbox.models import (
    PLAN_ESSENTIALS,
    ApiKey,
    Appointment,
    AuditEvent,
    Clinic,
    Message,
    Patient,
    utcnow,
)
from inbox.services import api_keys, audit
from tests.conftest import IsolatedClient, csrf_token, fresh, login, run_jobs

V1 = "/api/v1"


def _client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


def _key(account_id: int, scopes: str = "read,write,send", name: str = "EHR sync") -> dict:
    _, secret = api_keys.create(account_id, name, scopes)
    return {"Authorization": f"Bearer {secret}"}


def _clinic(account_id: int) -> int:
    return db.session.scalars(
        select(Clinic.id).where(Clinic.account_id == account_id).order_by(Clinic.id)
    ).first()


def test_upsert_a_patient_by_external_id_then_read_it_back(app, demo):
    client, key, clinic = _client(app), _key(demo.id), _clinic(demo.id)
    body = {
        "first_name": "Ann",
        "last_name": "Lee",
        "phone": "(212) 555-0111",
        "home_clinic_id": clinic,
        "date_of_birth": "1988-04-12",
    }
    r = client.put(f"{V1}/patients/by-external-id/CH-1", json=body, headers=key)
    assert r.status_code == 201, r.json
    ann = r.json
    assert ann["phone"] == "+12125550111" and ann["external_id"] == "CH-1"
    assert ann["date_of_birth"] == "1988-04-12"
    r = client.put(
        f"{V1}/patients/by-external-id/CH-1", json={**body, "first_name": "Anna"}, headers=key
    )
    assert r.status_code == 200 and r.json["id"] == ann["id"]
    assert r.json["first_name"] == "Anna"
    r = client.get(f"{V1}/patients/{ann['id']}", headers=key)
    assert r.status_code == 200 and r.json["first_name"] == "Anna"
    assert "RateLimit-Remaining" in r.headers and "RateLimit-Limit" in r.headers
    # The audit log names the key: the write, and the read of patient data.
    fresh()
    rows, _ = audit.page(demo, audit.LogFilters())
    by_key = [(row.who, row.action) for row in rows if row.event.api_key_id]
    assert ("API key “EHR sync”", "Read patient data through the API") in by_key
    assert ("API key “EHR sync”", "Added a patient") in by_key
    assert ("API key “EHR sync”", "Edited a patient") in by_key


def test_invalid_fields_are_named_in_problem_details(app, demo):
    client, key = _client(app), _key(demo.id)
    r = client.post(f"{V1}/patients", json={"first_name": "X", "shoe_size": 9}, headers=key)
    assert r.status_code == 422
    assert r.mimetype == "application/problem+json"
    fields = {e["field"] for e in r.json["errors"]}
    assert {"phone", "shoe_size"} <= fields
    assert r.json["type"].endswith("#problem-validation")
    # A number that cannot get texts: refused with the service's own words.
    r = client.put(
        f"{V1}/patients/by-external-id/CH-9",
        headers=key,
        json={"first_name": "Bo", "phone": "12", "home_clinic_id": _clinic(demo.id)},
    )
    assert r.status_code == 422 and "mobile number" in r.json["detail"]


def test_create_conflicts_with_an_existing_mobile(app, demo):
    client, key, clinic = _client(app), _key(demo.id), _clinic(demo.id)
    body = {"first_name": "Cy", "phone": "+12125550122", "home_clinic_id": clinic}
    assert client.post(f"{V1}/patients", json=body, headers=key).status_code == 201
    r = client.post(f"{V1}/patients", json=body, headers=key)
    assert r.status_code == 409 and r.json["type"].endswith("#problem-conflict")


def test_batch_upsert_reports_each_record_and_pages_by_updated_since(app, demo):
    client, key, clinic = _client(app), _key(demo.id), _clinic(demo.id)
    since = utcnow()
    records = [
        {
            "external_id": f"B-{i}",
            "first_name": f"Pat{i}",
            "phone": f"+1212555{i:04d}",
            "home_clinic_id": clinic,
        }
        for i in range(1200, 1205)
    ] + [{"external_id": "B-bad", "first_name": "Bad", "phone": "nope", "home_clinic_id": clinic}]
    r = client.post(f"{V1}/patients/batch", json={"patients": records}, headers=key)
    assert r.status_code == 200, r.json
    assert (r.json["created"], r.json["updated"], r.json["skipped"]) == (5, 0, 1)
    assert r.json["results"][5]["status"] == "skipped" and r.json["results"][5]["error"]
    r = client.post(f"{V1}/patients/batch", json={"patients": records[:2]}, headers=key)
    assert (r.json["created"], r.json["updated"]) == (0, 2)
    seen, cursor = [], None
    while True:
        params = {"updated_since": since.isoformat(), "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get(f"{V1}/patients", query_string=params, headers=key).json
        seen += [p["external_id"] for p in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == [f"B-{i}" for i in range(1200, 1205)]
    assert len(seen) == len(set(seen))
    r = client.post(f"{V1}/patients/batch", headers=key, json={"patients": [records[0]] * 1001})
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "patients"


def test_appointments_upsert_move_cancel_and_list(app, demo):
    client, key, clinic = _client(app), _key(demo.id), _clinic(demo.id)
    r = client.put(
        f"{V1}/patients/by-external-id/P-7",
        headers=key,
        json={"first_name": "Dee", "phone": "+12125550177", "home_clinic_id": clinic},
    )
    patient_id = r.json["id"]
    when = (utcnow() + timedelta(hours=20)).replace(microsecond=0)
    body = {
        "patient_external_id": "P-7",
        "clinic_id": clinic,
        "service": "Botox consultation",
        "starts_at": when.isoformat(),
        "duration_minutes": 30,
    }
    r = client.put(f"{V1}/appointments/by-external-id/A-1", json=body, headers=key)
    assert r.status_code == 201, r.json
    appt_id = r.json["id"]
    fresh()
    appt = db.session.get(Appointment, appt_id)
    assert appt.reminder_status is None and appt.status == "booked"  # the sweep's to take
    appt.reminder_status = "queued"  # as the reminder sweep leaves it once it texted
    db.session.commit()
    # Unchanged: not reminded again; moved: reminded afresh, as when staff move it.
    r = client.put(f"{V1}/appointments/by-external-id/A-1", json=body, headers=key)
    assert r.status_code == 200 and r.json["reminder_status"] == "queued"
    moved = {**body, "starts_at": (when + timedelta(hours=1)).isoformat()}
    r = client.put(f"{V1}/appointments/by-external-id/A-1", json=moved, headers=key)
    assert r.status_code == 200 and r.json["reminder_status"] is None
    r = client.get(f"{V1}/appointments", query_string={"patient_id": patient_id}, headers=key)
    assert [a["external_id"] for a in r.json["data"]] == ["A-1"]
    r = client.post(f"{V1}/appointments/{appt_id}/cancel", headers=key)
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    r = client.post(f"{V1}/appointments/{appt_id}/cancel", headers=key)
    assert r.status_code == 409
    r = client.post(
        f"{V1}/appointments/batch",
        headers=key,
        json={
            "appointments": [
                {**body, "external_id": "A-2"},
                {**body, "external_id": "A-2"},
                {**body, "external_id": "A-3", "patient_external_id": "nobody"},
            ]
        },
    )
    assert (r.json["created"], r.json["skipped"]) == (1, 2)
    assert "No such patient" in r.json["results"][2]["error"]


def test_paperwork_upsert_and_complete(app, demo):
    client, key, clinic = _client(app), _key(demo.id), _clinic(demo.id)
    client.put(
        f"{V1}/patients/by-external-id/P-8",
        headers=key,
        json={"first_name": "Eve", "phone": "+12125550188", "home_clinic_id": clinic},
    )
    body = {"patient_external_id": "P-8", "name": "Medical history"}
    r = client.put(f"{V1}/paperwork/by-external-id/F-1", json=body, headers=key)
    assert r.status_code == 201 and r.json["status"] == "outstanding"
    r = client.put(f"{V1}/paperwork/by-external-id/F-1", json=body, headers=key)
    assert r.status_code == 200
    r = client.post(f"{V1}/paperwork/{r.json['id']}/complete", headers=key)
    assert r.status_code == 200 and r.json["status"] == "completed"


def test_a_retried_send_never_texts_twice_and_gets_the_first_answer(app, demo, sandbox):
    client, key, clinic = _client(app), _key(demo.id), _clinic(demo.id)
    body = {"to": "+12125550199", "clinic_id": clinic, "body": "Your forms are due."}
    headers = {**key, "Idempotency-Key": "forms-1"}
    first = client.post(f"{V1}/messages", json=body, headers=headers)
    assert first.status_code == 201, first.json
    again = client.post(f"{V1}/messages", json=body, headers=headers)
    assert again.status_code == 201 and again.json == first.json
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = client.post(f"{V1}/messages", json={**body, "body": "Other"}, headers=headers)
    assert other.status_code == 422 and "Idempotency-Key" in other.json["detail"]
    run_jobs(app)
    fresh()
    sent = db.session.scalar(
        select(func.count()).select_from(Message).where(Message.body == "Your forms are due.")
    )
    assert sent == 1
    texts = [r for r in sandbox.requests_to("/sms/json") if "Your forms are due." in str(r)]
    assert len(texts) == 1
    r = client.get(f"{V1}/messages/{first.json['id']}", headers=key)
    assert r.status_code == 200 and r.json["status"] in ("sent", "delivered")
    # The conversation is in the list, and its texts come with it.
    r = client.get(f"{V1}/conversations", headers=key)
    conv = next(c for c in r.json["data"] if c["id"] == first.json["conversation_id"])
    r = client.get(f"{V1}/conversations/{conv['id']}", headers=key)
    assert [m["body"] for m in r.json["messages"]][-1] == "Your forms are due."


def test_sends_are_refused_as_in_the_inbox_with_the_reason(app, demo):
    client, key, clinic = _client(app), _key(demo.id), _clinic(demo.id)
    opted = db.session.scalars(
        select(Patient).where(Patient.account_id == demo.id, Patient.opted_out_at.is_not(None))
    ).first()
    r = client.post(f"{V1}/messages", json={"patient_id": opted.id, "body": "Hi"}, headers=key)
    assert r.status_code == 422 and "opted out" in r.json["detail"]
    to_a_number = {"to": "+12125550155", "clinic_id": clinic, "body": "Hi"}
    demo.inbox_enabled = False
    db.session.commit()
    r = client.post(f"{V1}/messages", headers=key, json=to_a_number)
    assert r.status_code == 422 and "Inbox is turned off" in r.json["detail"]
    demo.plan = PLAN_ESSENTIALS  # the plan is named when it is the reason
    db.session.commit()
    r = client.post(f"{V1}/messages", headers=key, json=to_a_number)
    assert r.status_code == 422 and "part of the Accelerator Plan" in r.json["detail"]
    assert (
        client.post(
            f"{V1}/messages",
            json={"patient_id": opted.id, "body": "Hi"},
            headers=_key(demo.id, "read"),
        ).status_code
        == 403
    )


def test_the_rate_limit_is_per_key_with_ratelimit_headers(app, demo):
    client = _client(app)
    one, two = _key(demo.id, name="one"), _key(demo.id, name="two")
    app.config["API_RATE_LIMIT"] = "3/minute"
    try:
        answers = [client.get(f"{V1}/clinics", headers=one) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0].headers["RateLimit-Limit"] == "3"
        assert answers[2].headers["RateLimit-Remaining"] == "0"
        assert int(answers[3].headers["Retry-After"]) >= 1
        assert answers[3].json["type"].endswith("#problem-rate-limited")
        assert client.get(f"{V1}/clinics", headers=two).status_code == 200
    finally:
        app.config["API_RATE_LIMIT"] = "600/minute"


def test_last_used_is_written_at_most_once_a_minute_and_revoking_takes_effect_at_once(app, demo):
    client = _client(app)
    key, secret = api_keys.create(demo.id, "PMS", "read")
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"{V1}/clinics", headers=headers).status_code == 200
    fresh()
    first = db.session.get(ApiKey, key.id).last_used_at
    assert first is not None
    assert client.get(f"{V1}/clinics", headers=headers).status_code == 200
    fresh()
    assert db.session.get(ApiKey, key.id).last_used_at == first
    api_keys.revoke(db.session.get(ApiKey, key.id))
    r = client.get(f"{V1}/clinics", headers=headers)
    assert r.status_code == 401 and "revoked" in r.json["detail"]


def test_the_main_admin_creates_and_revokes_a_key_in_settings(app, demo):
    client = _client(app)
    login(client, "admin@glow.test")
    token = csrf_token(client, "/settings/integrations")
    r = client.post(
        "/settings/integrations", data={"csrf_token": token, "name": "", "scopes": ["read"]}
    )
    assert r.status_code == 422 and "Name the key" in r.get_data(as_text=True)
    r = client.post(
        "/settings/integrations",
        data={"csrf_token": token, "name": "EHR", "scopes": ["read", "write"]},
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    import re

    secret = re.search(r'id="api-key-secret"[^>]*>(ci_[^<]+)<', html).group(1)
    assert secret not in client.get("/settings/integrations").get_data(as_text=True)
    fresh()
    key = db.session.scalars(select(ApiKey).where(ApiKey.name == "EHR")).one()
    assert key.secret_hash != secret and secret.startswith(key.prefix)
    assert (
        client.get(f"{V1}/clinics", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )
    r = client.post(f"/settings/integrations/{key.id}/revoke", data={"csrf_token": token})
    assert r.status_code == 302
    assert (
        client.get(f"{V1}/clinics", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 401
    )
    fresh()
    actions = set(
        db.session.scalars(select(AuditEvent.action).where(AuditEvent.account_id == demo.id))
    )
    assert {"created_api_key", "revoked_api_key"} <= actions
    # Staff cannot reach the page.
    login(client, "staff@glow.test")
    assert client.get("/settings/integrations").status_code == 403


def test_the_command_line_prints_a_working_secret(app, demo):
    result = CliRunner().invoke(
        app.cli,
        [
            "api-key",
            "create",
            "--practice-id",
            str(demo.id),
            "--name",
            "Provision",
            "--scopes",
            "read,send",
        ],
    )
    assert result.exit_code == 0, result.output
    secret = result.output.strip()
    r = _client(app).get(f"{V1}/clinics", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200
    bad = CliRunner().invoke(
        app.cli,
        ["api-key", "create", "--practice-id", str(demo.id), "--name", "x", "--scopes", "admin"],
    )
    assert bad.exit_code != 0 and "Unknown scope" in bad.output


def test_webhook_endpoints_through_the_api_deliver_signed_events(app, demo, sandbox):
    """Another system subscribes itself: the secret comes once, the endpoint is listed,
    changed and deleted, each audited with the key; a patient's text reaches it signed
    with that secret, without the text itself until asked for."""
    from standardwebhooks import Webhook

    from inbox.models import AuditEvent
    from inbox.sandbox import send_inbound
    from inbox.services import hook_delivery
    from tests.receiver import Receiver

    client, headers = _client(app), _key(demo.id)
    receiver = Receiver().start()
    try:
        r = client.post(f"{V1}/webhook-endpoints", headers=headers,
                        json={"url": receiver.url, "events": ["message.received"]})  # fmt: skip
        assert r.status_code == 201, r.get_json()
        created = r.get_json()
        assert created["secret"].startswith("whsec_") and created["include_text"] is False
        listed = client.get(f"{V1}/webhook-endpoints", headers=headers).get_json()["data"]
        assert [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]

        assert send_inbound(sandbox.state, "19175550100", "12125550134", "Is 3pm ok?") == 200
        hook_delivery.deliver_due()
        assert len(receiver.received) == 1
        got_headers, body = receiver.received[0]
        payload = Webhook(created["secret"]).verify(body, got_headers)
        assert payload["type"] == "message.received" and "Is 3pm ok?" not in body.decode()
    finally:
        receiver.stop()

    url = f"{V1}/webhook-endpoints/{created['id']}"
    r = client.patch(url, headers=headers, json={"events": ["not.an.event"]})
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    r = client.patch(url, headers=headers, json={"include_text": True})
    assert r.status_code == 200 and r.get_json()["include_text"] is True
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404
    fresh()
    actions = set(db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.api_key_id.is_not(None))))  # fmt: skip
    assert {"added_webhook", "edited_webhook", "deleted_webhook"} <= actions
