"""Event webhooks out, through the real app, database, Redis, sandbox and RQ jobs, to a
real HTTP receiver started here that verifies every delivery with the `standardwebhooks`
library (as a practice's own system would)."""

from __future__ import annotations

import json
import socket
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from inbox.extensions import db
from inbox.models import (
    AuditEvent,
    Conversation,
    Message,
    Patient,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from inbox.sandbox import send_inbound
from inbox.services import event_hooks, hook_delivery, hook_endpoints
from tests.conftest import csrf_token, fresh, login, run_jobs, wait_for
from tests.mailserver import text_of
from tests.receiver import Receiver

AVA = "19175550100"
OURS = "12125550134"
ALL_EVENTS = list(event_hooks.EVENT_WORDS)


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@contextmanager
def settings(app, **values):
    saved = {k: app.config.get(k) for k in values}
    app.config.update(values)
    try:
        yield
    finally:
        app.config.update(saved)


@pytest.fixture
def quick(app):
    """A retry schedule of fractions of a second (the real one spans 24 hours)."""
    with settings(app, WEBHOOK_RETRY_SCHEDULE=[0, 0.2, 0.4, 0.6]):
        yield


class Clock:
    """The deliveries' clock (`utcnow` of the modules that write and send them), moved by
    hand: the real retry schedule spans 24 hours."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def forward(self, **span: float) -> None:
        self.now += timedelta(**span)


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    for module in (event_hooks, hook_endpoints, hook_delivery):
        monkeypatch.setattr(module, "utcnow", c)
    return c


# Settings as in production, but for plain http and loopback (the receiver).
DAY = 86400
DEFAULT_SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]


def a_day_of_tries(app, disable_after: int = DAY, **more):
    """The default schedule, tries given up after a day: the retry rules as shipped."""
    return settings(
        app, WEBHOOK_RETRY_SCHEDULE=DEFAULT_SCHEDULE, WEBHOOK_GIVE_UP_SECONDS=DAY,
        WEBHOOK_DISABLE_AFTER_SECONDS=disable_after, **more,
    )  # fmt: skip


def _glow():
    from inbox.models import Account

    return db.session.scalars(select(Account).where(Account.name == "Glow Aesthetics")).one()


def _endpoint(url: str, events=None, include_text=False) -> WebhookEndpoint:
    return hook_endpoints.create_endpoint(
        _glow(), url=url, events=events or ALL_EVENTS, include_text=include_text
    )


def _work(app) -> None:
    """What the worker and the cron sweep do: queue what is due, run the queue."""
    with app.app_context():
        hook_delivery.sweep()
    run_jobs(app)


def _deliveries() -> list[WebhookDelivery]:
    fresh()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _verified(receiver: Receiver, secret: str) -> list[tuple[str, dict]]:
    """(webhook-id, payload) of every request, each checked by the Standard Webhooks
    library (a bad signature raises)."""
    hook = Webhook(secret)
    return [(h["webhook-id"], hook.verify(body, h)) for h, body in receiver.received]


def test_a_patient_text_reaches_the_receiver_signed_and_every_event_arrives_once_after_an_outage(
    app, demo, sandbox, receiver, quick
):
    endpoint = _endpoint(receiver.url, include_text=True)
    secret = endpoint.secret

    assert send_inbound(sandbox.state, AVA, OURS, "Can I move my appointment to Friday?") == 200
    _work(app)
    assert wait_for(lambda: len(receiver.received) == 1)
    [(webhook_id, payload)] = _verified(receiver, secret)
    message = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
    assert payload["type"] == "message.received"
    assert payload["data"]["message_id"] == message.id
    assert payload["data"]["conversation_id"] == message.conversation_id
    assert payload["data"]["text"] == "Can I move my appointment to Friday?"
    assert webhook_id.startswith("msg_")
    headers = receiver.received[0][0]
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(headers)
    # A forged signature fails the same check.
    with pytest.raises(Exception):  # noqa: B017
        Webhook(hook_endpoints.new_secret()).verify(receiver.received[0][1], headers)

    # The receiver goes down; texts keep arriving and the tries fail.
    receiver.stop()
    texts = ["Running late", "Actually 10 min", "See you soon"]
    for text in texts:
        assert send_inbound(sandbox.state, AVA, OURS, text) == 200
    _work(app)
    assert wait_for(
        lambda: (_work(app), all(d.attempts >= 2 for d in _deliveries()[1:]))[1], timeout=10
    )
    assert all(d.state == "pending" and d.response_code is None for d in _deliveries()[1:])
    assert all("Could not connect" in d.last_error for d in _deliveries()[1:])

    # Back up: every event arrives, exactly once each.
    receiver.start()
    assert wait_for(
        lambda: (_work(app), all(d.state == "delivered" for d in _deliveries()))[1], timeout=10
    )
    received = _verified(receiver, secret)
    counts = Counter(webhook_id for webhook_id, _ in received)
    assert set(counts) == {d.webhook_id for d in _deliveries()}
    assert set(counts.values()) == {1}, counts
    assert sorted(p["data"]["text"] for _, p in received[1:]) == sorted(texts)
    assert all(d.response_code == 200 and d.latency_ms is not None for d in _deliveries())


def test_without_an_endpoint_a_fact_writes_no_rows(app, demo, sandbox):
    assert send_inbound(sandbox.state, AVA, OURS, "Hello") == 200
    assert _deliveries() == []


def test_the_rows_share_the_fact_s_transaction(app, demo, receiver):
    """Outbox: a rolled-back fact leaves no delivery behind; a committed one leaves one."""
    _endpoint(receiver.url, events=["patient.opted_out"])
    from inbox.services import consent

    patient = db.session.scalars(select(Patient).where(Patient.phone == "+" + AVA)).one()
    assert consent.opt_out(patient)
    db.session.rollback()
    assert _deliveries() == []
    patient = db.session.scalars(select(Patient).where(Patient.phone == "+" + AVA)).one()
    assert consent.opt_out(patient)
    db.session.commit()
    [row] = _deliveries()
    assert row.event == "patient.opted_out"
    assert json.loads(row.payload)["data"] == {"patient_id": patient.id, "opted_out": True}


def test_each_event_type_from_where_its_fact_is_written(app, demo, sandbox, receiver, client):
    _endpoint(receiver.url)
    assert send_inbound(sandbox.state, AVA, OURS, "STOP") == 200  # received, opted out
    assert send_inbound(sandbox.state, AVA, OURS, "START") == 200  # received, opted in
    fresh()
    conv = db.session.get(
        Conversation,
        db.session.scalars(select(Message.conversation_id).order_by(Message.id.desc())).first(),
    )
    login(client, "admin@glow.test")
    token = csrf_token(client, "/settings/profile")
    r = client.post(f"/inbox/c/{conv.id}/read-state", data={"csrf_token": token, "unread": "0"})
    assert r.status_code < 400, r.status_code
    run_jobs(app)  # sends the STOP / START confirmations: their statuses change
    kinds = Counter(d.event for d in _deliveries())
    assert kinds["message.received"] == 2
    assert kinds["patient.opted_out"] == 1 and kinds["patient.opted_in"] == 1
    assert kinds["conversation.read"] == 1
    assert kinds["message.status_changed"] >= 1
    # Text is never stored in a payload.
    assert all("STOP" not in d.payload and "START" not in d.payload for d in _deliveries())


def test_two_workers_never_claim_the_same_try(app, demo, receiver):
    _endpoint(receiver.url)
    hook_endpoints.send_test(hook_endpoints.list_endpoints(_glow().id)[0])
    now = event_hooks.utcnow()
    first = hook_delivery._claim(now)
    second = hook_delivery._claim(now)
    assert len(first) == 1 and second == []
    assert _deliveries()[0].attempts == 1


def test_without_message_text_the_payload_has_ids_and_states_only(app, demo, sandbox, receiver):
    endpoint = _endpoint(receiver.url, events=["message.received"])
    assert send_inbound(sandbox.state, AVA, OURS, "Private question") == 200
    run_jobs(app)
    assert wait_for(lambda: len(receiver.received) == 1)
    [(_, payload)] = _verified(receiver, endpoint.secret)
    assert "text" not in payload["data"]
    assert b"Private question" not in receiver.received[0][1]


def test_a_delivery_gives_up_after_the_retry_span(app, demo, receiver, quick):
    receiver.status = 500
    endpoint = _endpoint(receiver.url)
    with settings(app, WEBHOOK_GIVE_UP_SECONDS=0.5):
        hook_endpoints.send_test(endpoint)
        assert wait_for(lambda: (_work(app), _deliveries()[0].state == "failed")[1], timeout=10)
    row = _deliveries()[0]
    assert row.response_code == 500 and row.attempts >= 2
    assert "answered 500" in row.last_error


def test_an_endpoint_failing_for_the_span_is_disabled_and_the_main_admin_told(
    app, demo, receiver, quick, mail_on
):
    receiver.status = 503
    endpoint = _endpoint(receiver.url)
    with settings(app, WEBHOOK_DISABLE_AFTER_SECONDS=0.5):
        hook_endpoints.send_test(endpoint)
        assert wait_for(
            lambda: (_work(app), fresh(), not db.session.get(WebhookEndpoint, endpoint.id).enabled)[
                2
            ],
            timeout=10,
        )
    fresh()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert "answered 503" in endpoint.disabled_reason
    run_jobs(app)
    [email] = mail_on.wait_for(1)
    assert email["To"] == "admin@glow.test"
    assert endpoint.url in text_of(email) and "answered 503" in text_of(email)
    # A disabled endpoint hears nothing more, and its page says why, with Enable.
    sent = len(receiver.received)
    hook_endpoints.send_test(endpoint)
    _work(app)
    assert len(receiver.received) == sent
    hook_endpoints.enable_endpoint(endpoint)
    receiver.status = 200
    assert wait_for(lambda: (_work(app), len(receiver.received) > sent)[1], timeout=10)


def test_private_addresses_and_plain_http_are_refused_in_production(app, demo, receiver):
    with settings(app, WEBHOOK_REQUIRE_HTTPS=True, WEBHOOK_ALLOW_PRIVATE=False):
        for url, why in [
            ("http://example.com/hook", "https://"),
            ("https://127.0.0.1/hook", "private or local"),
            ("https://localhost/hook", "private or local"),
            ("https://10.1.2.3/hook", "private or local"),
            ("https://169.254.169.254/latest", "private or local"),
            ("https://[::1]/hook", "private or local"),
            ("https://user:pw@example.com/", "user name"),
        ]:
            with pytest.raises(hook_endpoints.EndpointRefused, match=why):
                hook_endpoints.check_url(url)
    # Saved in development; the host is checked again before every try (DNS can change).
    endpoint = _endpoint(receiver.url)
    with settings(app, WEBHOOK_ALLOW_PRIVATE=False):
        hook_endpoints.send_test(endpoint)
        _work(app)
    row = _deliveries()[0]
    assert receiver.received == []
    assert row.state == "pending" and row.last_error.startswith("Refused")


def test_the_settings_pages_keep_what_was_typed_and_audit_changes(app, demo, client, receiver):
    login(client, "admin@glow.test")
    token = csrf_token(client, "/settings/integrations/webhooks")
    r = client.post(
        "/settings/integrations/webhooks",
        data={"csrf_token": token, "url": "ftp://nope", "events": ["conversation.read"]},
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "Enter a full URL" in page and 'value="ftp://nope"' in page
    assert 'value="conversation.read"\n           checked' in page or "checked" in page
    r = client.post(
        "/settings/integrations/webhooks",
        data={"csrf_token": token, "url": receiver.url, "events": ["conversation.read"]},
    )
    assert r.status_code == 302
    fresh()
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    assert endpoint.events == "conversation.read" and not endpoint.include_text
    page = client.get(f"/settings/integrations/webhooks/{endpoint.id}").get_data(as_text=True)
    assert endpoint.secret in page and "Send test event" in page
    r = client.post(
        f"/settings/integrations/webhooks/{endpoint.id}",
        data={"csrf_token": token, "url": receiver.url, "events": [], "include_text": "on"},
    )
    assert r.status_code == 422 and "at least one event" in r.get_data(as_text=True)
    r = client.post(
        f"/settings/integrations/webhooks/{endpoint.id}",
        data={
            "csrf_token": token,
            "url": receiver.url,
            "events": ["conversation.read", "patient.opted_out"],
            "include_text": "on",
        },
    )
    assert r.status_code == 302
    old = endpoint.secret
    client.post(f"/settings/integrations/webhooks/{endpoint.id}/rotate", data={"csrf_token": token})
    fresh()
    assert db.session.get(WebhookEndpoint, endpoint.id).secret != old
    admin = db.session.scalars(select(User).where(User.email == "admin@glow.test")).one()
    actions = [
        e.action
        for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.user_id == admin.id).order_by(AuditEvent.id)
        )
    ]
    assert {"added_webhook", "edited_webhook", "rotated_webhook_secret"} <= set(actions)
    assert "edited_webhook" in actions


# ---- server-side request forgery: DNS rebinding ------------------------------------------

REBINDING = "hooks.clinic.example"
PUBLIC = "93.184.215.14"


def _answer(address: str, port: int) -> list:
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]


def test_a_name_rebinding_to_loopback_after_its_check_is_refused_at_the_connection(
    app, demo, receiver, quick, monkeypatch
):
    """The name resolves to a public address when it is checked, and to 127.0.0.1 when
    a try connects: the try connects only to an address it checked itself (one lookup a
    try), so the local receiver never hears from it, and the delivery fails, saying why."""
    real = socket.getaddrinfo
    answers = [PUBLIC]  # the check when the endpoint is saved; every lookup after it: loopback
    asked = []

    def rebinding(host, port, *args, **kwargs):
        if host != REBINDING:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        return _answer(answers.pop(0) if answers else "127.0.0.1", int(port))

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with settings(app, WEBHOOK_ALLOW_PRIVATE=False, WEBHOOK_GIVE_UP_SECONDS=0.5):
        endpoint = _endpoint(f"http://{REBINDING}:{receiver.port}/hooks")
        assert len(asked) == 1  # saved: it was public then
        hook_endpoints.send_test(endpoint)
        assert wait_for(lambda: (_work(app), _deliveries()[0].state == "failed")[1], timeout=10)
    row = _deliveries()[0]
    assert receiver.received == []
    assert row.attempts >= 2 and row.response_code is None
    assert row.last_error == (
        f"Refused: The host {REBINDING} is a private or local address (127.0.0.1); "
        "events go only to public ones."
    )
    assert len(asked) == 1 + row.attempts  # no second lookup a try could connect by
    # Where private addresses are allowed (development, tests), the same name is reached.
    hook_endpoints.resend(row)
    assert wait_for(lambda: (_work(app), len(receiver.received) == 1)[1], timeout=10)


def test_a_name_flapping_between_public_and_loopback_never_reaches_loopback(
    app, demo, receiver, clock, monkeypatch
):
    """DNS rebinding with a zero TTL: every answer alternates between a public address
    (that host is down) and 127.0.0.1. However the answers fall, no try reaches the local
    receiver: each looks the name up once and connects only to what that lookup gave."""
    import urllib3.util.connection

    real_lookup, real_connect = socket.getaddrinfo, urllib3.util.connection.create_connection
    asked = []

    def flapping(host, port, *args, **kwargs):
        if host != REBINDING:
            return real_lookup(host, port, *args, **kwargs)
        asked.append(host)
        return _answer(PUBLIC if len(asked) % 2 else "127.0.0.1", int(port))

    def connect(address, *args, **kwargs):
        if address[0] == PUBLIC:
            raise ConnectionRefusedError(111, "Connection refused")  # no real network
        return real_connect(address, *args, **kwargs)

    errors = []

    def post(url, body, headers):
        outcome = real_post(url, body, headers)
        errors.append(outcome.error)
        return outcome

    real_post = hook_delivery.post
    monkeypatch.setattr(socket, "getaddrinfo", flapping)
    monkeypatch.setattr(urllib3.util.connection, "create_connection", connect)
    monkeypatch.setattr(hook_delivery, "post", post)
    with a_day_of_tries(app, WEBHOOK_ALLOW_PRIVATE=False):
        endpoint = _endpoint(f"http://{REBINDING}:{receiver.port}/hooks")  # checked: public
        delivery = hook_endpoints.send_test(endpoint)
        assert len(_try_until_done(clock, delivery.id)) == 8
    assert receiver.received == []
    assert len(asked) == 1 + 8
    refused = f"Refused: The host {REBINDING} is a private or local address (127.0.0.1)"
    assert [e.startswith(refused) for e in errors] == [True, False] * 4
    assert set(errors[1::2]) == {"Could not connect (ConnectionError)"}
    assert _deliveries()[0].state == "failed"


def test_the_peer_a_try_connected_to_is_checked_too(app, ctx, receiver, monkeypatch):
    """DNS says public, but the socket ends up at loopback (a route the resolver knows
    nothing of): refused once connected, before a byte of the request is sent."""
    import urllib3.util.connection

    real_lookup, real_connect = socket.getaddrinfo, urllib3.util.connection.create_connection

    def lookup(host, port, *args, **kwargs):
        if host == REBINDING:
            return _answer(PUBLIC, int(port))
        return real_lookup(host, port, *args, **kwargs)

    def connect(address, *args, **kwargs):
        if address[0] == PUBLIC:
            address = ("127.0.0.1", address[1])
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    monkeypatch.setattr(urllib3.util.connection, "create_connection", connect)
    with settings(app, WEBHOOK_ALLOW_PRIVATE=False):
        outcome = hook_delivery.post(f"http://{REBINDING}:{receiver.port}/hooks", "{}", {})
    assert outcome.code is None and not outcome.ok
    assert outcome.error == (
        f"Refused: The host {REBINDING} connected to a private or local address (127.0.0.1);"
        " events go only to public ones."
    )
    assert receiver.received == []


# ---- retries for the whole span, and the endpoint that fails for all of it ---------------


def _try_until_done(clock: Clock, delivery_id: int) -> list[float]:
    """Make each try of the delivery when it is due (the clock moved to then), until it
    is pending no more; when each try was made, in seconds after the delivery was written."""
    made: list[float] = []
    for _ in range(50):
        fresh()
        row = db.session.get(WebhookDelivery, delivery_id)
        if row.state != "pending":
            return made
        clock.now = max(clock.now, row.next_attempt_at)
        made.append((clock.now - row.created_at).total_seconds())
        hook_delivery.deliver_due()
    raise AssertionError(f"still pending after {made}")


def test_tries_go_on_until_the_24_hour_mark_and_an_endpoint_failing_them_all_is_disabled(
    app, demo, receiver, clock
):
    receiver.status = 500
    endpoint = _endpoint(receiver.url)
    with a_day_of_tries(app):
        delivery = hook_endpoints.send_test(endpoint)
        made = _try_until_done(clock, delivery.id)
    # The schedule's next try after 17.6 hours would be at 27.6: it is made at 24 instead.
    assert made == [0, 5, 305, 2105, 9305, 27305, 63305, DAY]
    assert len(receiver.received) == 8
    row = _deliveries()[0]
    assert row.state == "failed" and row.attempts == 8
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert not endpoint.enabled
    assert endpoint.disabled_at == row.created_at + timedelta(seconds=DAY)
    assert endpoint.disabled_reason == (
        "Every delivery failed for 24 hours; the last: The endpoint answered 500"
    )


def test_a_run_of_failures_that_ended_does_not_disable_on_the_next_single_failure(
    app, demo, receiver, clock
):
    """An endpoint disabled only after failing for longer than one delivery is tried:
    one delivery fails for its 24 hours and gives up, nothing happens for three days,
    then one try fails. That is a new run, not three days of failing."""
    receiver.status = 503
    endpoint = _endpoint(receiver.url)
    with a_day_of_tries(app, disable_after=2 * DAY):
        first = hook_endpoints.send_test(endpoint)
        assert _try_until_done(clock, first.id)[-1] == DAY
        endpoint = db.session.get(WebhookEndpoint, endpoint.id)
        assert endpoint.enabled and endpoint.failing_since is None  # nothing left to try
        clock.forward(days=3)
        second = hook_endpoints.send_test(endpoint)
        assert hook_delivery.deliver_due().failed == 1
    fresh()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert endpoint.enabled
    assert endpoint.failing_since == db.session.get(WebhookDelivery, second.id).created_at


def test_a_first_try_made_after_the_span_gives_up_without_disabling(app, demo, receiver, clock):
    """Workers down for 30 hours: the delivery's one try is its last, and one failure is
    no day of failing; nor, three quiet days later, is the next one."""
    receiver.status = 503
    endpoint = _endpoint(receiver.url)
    with a_day_of_tries(app):
        hook_endpoints.send_test(endpoint)
        clock.forward(hours=30)
        assert hook_delivery.deliver_due().gave_up == 1
        clock.forward(days=3)
        hook_endpoints.send_test(endpoint)
        assert hook_delivery.deliver_due().failed == 1
    fresh()
    assert db.session.get(WebhookEndpoint, endpoint.id).enabled
    assert [d.state for d in _deliveries()] == ["failed", "pending"]


def test_a_success_between_failures_resets_the_failure_clock(app, demo, receiver, clock):
    """In one batch: a success, then a failure. The run starts at that failure, not at
    the one a day and a half before the success."""
    endpoint = _endpoint(receiver.url)
    endpoint.failing_since = clock.now - timedelta(hours=36)
    db.session.commit()
    ok, failing = hook_endpoints.send_test(endpoint), hook_endpoints.send_test(endpoint)
    claimed = hook_delivery._load(hook_delivery._claim(clock.now))
    assert [c.id for c in claimed] == [ok.id, failing.id]
    result = hook_delivery.DeliverResult()
    hook_delivery._record(
        [
            (claimed[0], hook_delivery.Outcome(204, 12, None)),
            (claimed[1], hook_delivery.Outcome(500, 15, "The endpoint answered 500")),
        ],
        result,
    )
    assert result.disabled == []
    fresh()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert endpoint.enabled and endpoint.failing_since == clock.now
