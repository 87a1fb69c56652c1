"""Webhook hardening: nonce replay, Redis-down fallback, size limits, malformed bodies
(400, nothing stored, never a 500) and no patient data in the logs."""

import json
import logging
import time
import uuid

import pytest
import redis
import requests
from sqlalchemy.exc import OperationalError

from inbox import events
from inbox.extensions import db
from inbox.models import Message
from inbox.sandbox import sign_params
from inbox.services import inbound, intake, page_cache, receipts
from tests.conftest import inbound_params, row_count

AVA = "19175550100"
OURS = "12125550134"
INBOUND = "/webhooks/vonage/inbound"
STATUS = "/webhooks/vonage/status"


def count() -> int:
    return row_count(Message)


def test_a_replayed_signed_webhook_is_answered_200_and_not_handled(
    client, demo, sandbox, monkeypatch, caplog
):
    signed = sign_params(sandbox.state, inbound_params())
    outcomes = []
    real = intake.receive
    monkeypatch.setattr(intake, "receive", lambda k, p: outcomes.append(real(k, p)) or outcomes[-1])
    before = count()
    assert client.post(INBOUND, data=signed).status_code == 200
    with caplog.at_level(logging.INFO):
        assert client.post(INBOUND, data=signed).status_code == 200  # Vonage need not retry
        assert client.get(INBOUND, query_string=signed).status_code == 200  # any transport
    assert outcomes == ["stored", "duplicate", "duplicate"]
    assert count() == before + 1
    assert "a copy of a webhook already stored or held" in caplog.text


def test_receipt_replays_are_refused_too(client, demo, sandbox, monkeypatch):
    calls = []
    monkeypatch.setattr(receipts, "apply_receipt", lambda p: calls.append(p) or _Ignored())
    now = str(int(time.time()))
    receipt = {"messageId": "X1", "status": "delivered", "timestamp": now, "nonce": "n-1"}
    signed = sign_params(sandbox.state, receipt)
    assert client.post(STATUS, data=signed).status_code == 200
    assert client.post(STATUS, data=signed).status_code == 200
    assert len(calls) == 1  # the copy matched the held receipt's dedupe key


class _Ignored:
    outcome, detail = "ignored", ""


def test_replays_are_refused_with_redis_down(client, demo, sandbox, monkeypatch):
    """Copies are found in the database (the carrier id, a held row's key), not in Redis:
    with Redis unreachable a webhook is stored once and its replay is a copy."""
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)  # refused
    monkeypatch.setattr(events, "get_redis", lambda app=None: dead)
    monkeypatch.setattr(page_cache, "get_redis", lambda: dead)
    signed = sign_params(sandbox.state, inbound_params())
    before = count()
    assert client.post(INBOUND, data=signed).status_code == 200
    assert client.post(INBOUND, data=signed).status_code == 200
    assert count() == before + 1


def test_a_request_that_failed_does_not_block_its_retry(client, demo, sandbox, monkeypatch):
    """Vonage retries a webhook that got a 5xx with the same signed params: that retry is
    not a replay."""

    def down(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("database went away"))

    monkeypatch.setattr(inbound, "store_batch", down)
    monkeypatch.setattr(intake, "append", down)
    signed = sign_params(sandbox.state, inbound_params())
    answer = client.post(INBOUND, data=signed)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    monkeypatch.undo()
    before = count()
    assert client.post(INBOUND, data=signed).status_code == 200
    assert count() == before + 1


def test_timestamps_outside_the_carriers_retry_span_are_refused(client, demo, sandbox):
    """Vonage retries inbound texts for 24 h and receipts for 72 h, with the first try's
    timestamp: inside those spans (plus an hour) a signed webhook is taken; past them, or
    ahead of the clock by more than five minutes, it is refused."""
    now = int(time.time())
    # 30 s beyond each edge: the request reaches the server a moment after `now` (over a
    # second on a busy machine, when 301 s ahead had become 299 s and was taken).
    for skew in (330, -25 * 3600 - 60, -30 * 86400):
        params = inbound_params(timestamp=str(now + skew))
        assert client.post(INBOUND, data=sign_params(sandbox.state, params)).status_code == 401
    for skew in (-200, 200, -23 * 3600):
        ok = inbound_params(timestamp=str(now + skew))
        assert client.post(INBOUND, data=sign_params(sandbox.state, ok)).status_code == 200
    old_receipt = {"messageId": "R-OLD", "status": "delivered", "nonce": "n-old",
                   "timestamp": str(now - 73 * 3600 - 60)}  # fmt: skip
    late_receipt = {"messageId": "R-LATE", "status": "delivered", "nonce": "n-late",
                    "timestamp": str(now - 70 * 3600)}  # fmt: skip
    assert client.post(STATUS, data=sign_params(sandbox.state, old_receipt)).status_code == 401
    assert client.post(STATUS, data=sign_params(sandbox.state, late_receipt)).status_code == 200


def test_a_retry_three_hours_after_the_first_try_is_stored(client, demo, sandbox):
    """After an outage (a deploy, a crash, a network cut) the carrier's retries still carry
    the first try's timestamp: a retry signed three hours later lands, once."""
    first_try = int(time.time()) - 3 * 3600
    params = inbound_params(
        timestamp=str(first_try),
        **{"message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(first_try))},
        text="Is my 3pm still on?",
        messageId="LATE-RETRY-1",
    )
    before = count()
    signed = sign_params(sandbox.state, params)
    assert client.post(INBOUND, data=signed).status_code == 200
    assert client.post(INBOUND, data=signed).status_code == 200  # and again: still once
    assert count() == before + 1
    stored = db.session.query(Message).filter_by(carrier_message_id="LATE-RETRY-1").one()
    assert stored.body == "Is my 3pm still on?"


def test_bodies_over_64_kb_get_413_and_store_nothing(client, demo, sandbox):
    before = count()
    big = sign_params(sandbox.state, inbound_params(text="x" * 70_000))
    assert client.post(INBOUND, data=big).status_code == 413
    assert (
        client.post(INBOUND, data=json.dumps(big), content_type="application/json").status_code
        == 413
    )
    assert client.get(INBOUND, query_string={"text": "y" * 70_000}).status_code == 413
    assert client.post(STATUS, data=b"z" * 70_000, content_type="text/plain").status_code == 413
    assert count() == before


@pytest.mark.parametrize(
    "change",
    [
        {"text": "nul \x00 byte"},
        {"msisdn": "１９１７５５５０１００"},  # fullwidth digits: not a carrier number
        {"messageId": "ÄÖÜ"},
        {"messageId": "x" * 300},
        {"nonce": "n\u00e9"},
    ],
)
def test_malformed_signed_inbound_gets_400_and_stores_nothing(client, demo, sandbox, change):
    before = count()
    signed = sign_params(sandbox.state, inbound_params(**change))
    assert client.post(INBOUND, data=signed).status_code == 400
    assert count() == before


def test_non_ascii_digits_in_client_ref_are_refused_not_a_500(client, demo, sandbox):
    """'²'.isdigit() is True and int('²') raises: this once became a 500."""
    now = str(int(time.time()))
    receipt = {"messageId": "X2", "status": "delivered", "client-ref": "²", "msisdn": AVA,
               "timestamp": now}  # fmt: skip
    signed = sign_params(sandbox.state, receipt)
    assert client.post(STATUS, data=signed).status_code == 400


@pytest.mark.parametrize("ref", ["9223372036854775808", "2147483648", "9" * 40])
def test_out_of_range_client_refs_are_refused_not_a_500(client, demo, sandbox, ref):
    """Found by the fuzz test: a client-ref past a database integer reached the DB."""
    now = str(int(time.time()))
    receipt = {"messageId": "X3", "status": "delivered", "client-ref": ref, "timestamp": now}
    assert client.post(STATUS, data=sign_params(sandbox.state, receipt)).status_code == 400


def test_lone_surrogates_in_json_are_refused(client, demo, sandbox):
    before = count()
    body = json.dumps(sign_params(sandbox.state, inbound_params(text="SURROGATE broken")))
    body = body.replace("SURROGATE", "\\ud800")  # valid JSON, unencodable text
    assert client.post(INBOUND, data=body, content_type="application/json").status_code == 400
    assert count() == before


def test_webhook_text_and_numbers_never_reach_the_logs(app, demo, sandbox, caplog):
    """A GET webhook carries the text and both numbers in its query string: the request
    line in the server's log keeps only the path."""
    secret_text = "my-private-symptom-" + uuid.uuid4().hex[:8]
    params = sign_params(sandbox.state, inbound_params(text=secret_text))
    url = app.config["PUBLIC_BASE_URL"] + INBOUND
    with caplog.at_level(logging.DEBUG):
        assert requests.get(url, params=params, timeout=5).status_code == 200
        assert requests.get(url, params=params, timeout=5).status_code == 200  # a replay
        bad = dict(params, sig="0" * 64, nonce="other")
        assert requests.get(url, params=bad, timeout=5).status_code == 401
    assert count() >= 1
    # Everything the app and its server logged (urllib3 is this test's own HTTP client).
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("urllib3"))
    assert "GET /webhooks/vonage/inbound" in logged  # the server's request line is there
    for secret in (secret_text, AVA, OURS, "+1917", "917555"):
        assert secret not in logged


def test_database_errors_do_not_carry_their_parameters(ctx):
    """An exception's text ends up in the log: SQL parameters (patient text, numbers) must
    not be in it."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError) as failure:
        db.session.execute(text("SELECT no_such_column FROM messages WHERE body = :b"),
                           {"b": "secret-body-+19175550100"})  # fmt: skip
    db.session.rollback()
    assert "secret-body" not in str(failure.value)
    assert "hidden due to hide_parameters" in str(failure.value)


def test_webhooks_carry_no_session_and_skip_the_rate_limiter(
    app, client, demo, sandbox, monkeypatch
):
    """The carrier has no cookie: a webhook gets Flask's null session (nothing signed, no
    Set-Cookie even if a staff cookie rides along) and the limiter never looks up limits for
    it (no rate limit counts webhooks)."""
    from inbox.extensions import limiter
    from tests.conftest import login

    looked_up: list[str] = []
    real = limiter.limit_manager.resolve_limits
    monkeypatch.setattr(
        limiter.limit_manager,
        "resolve_limits",
        lambda app, endpoint, *a, **k: looked_up.append(endpoint) or real(app, endpoint, *a, **k),
    )
    signers: list[str] = []
    real_signer = app.session_interface.get_signing_serializer
    monkeypatch.setattr(
        app.session_interface,
        "get_signing_serializer",
        lambda a: signers.append("signer") or real_signer(a),
    )
    login(client, "staff@glow.test")
    assert client.get("/login").status_code in (200, 302)
    assert signers, "the spy sees the cookie session opened"
    signers.clear()
    assert looked_up, "the spy sees the limiter's lookups"
    looked_up.clear()
    before = count()
    answer = client.post(INBOUND, data=sign_params(sandbox.state, inbound_params()))
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers
    assert looked_up == []
    assert signers == []  # the staff cookie that rode along was never read
    assert count() == before + 1
