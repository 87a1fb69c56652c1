"""Webhooks stored many at a time (inbox/services/intake.py): a burst is stored in groups,
each text once, as the one-at-a-time handlers would store it; a group that fails holds
each webhook for the drain; what a dead process held is stored by the sweep; a row that
keeps failing is kept for an operator without blocking the others; two drainers never
store a row twice. Through the real webhook, database and Redis."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select

from inbox.broker import get_redis
from inbox.events import channel, redis_db
from inbox.extensions import db
from inbox.models import Conversation, Message, Patient, ReceivedWebhook
from inbox.sandbox import sign_params
from inbox.services import inbound, intake, phones, segments
from tests.conftest import fresh, inbound_params, wait_for

OURS = "12125550134"


def _post(app, sandbox, params: dict, kind: str = "inbound") -> int:
    url = app.config["PUBLIC_BASE_URL"] + f"/webhooks/vonage/{kind}"
    return requests.post(url, data=sign_params(sandbox.state, params), timeout=15).status_code


def _sender(i: int) -> str:
    return f"1917555{i:04d}"


def _messages(carrier_ids: list[str]) -> dict[str, list[Message]]:
    fresh()
    found: dict[str, list[Message]] = {}
    for m in db.session.scalars(select(Message).where(Message.carrier_message_id.in_(carrier_ids))):
        found.setdefault(m.carrier_message_id, []).append(m)
    return found


def _pending() -> int:
    fresh()
    return db.session.scalar(
        select(func.count())
        .select_from(ReceivedWebhook)
        .where(ReceivedWebhook.processed_at.is_(None))
    )


def test_a_burst_is_stored_in_groups_each_text_once_and_published(app, demo, sandbox, monkeypatch):
    groups: list[int] = []
    real = intake.store_group
    monkeypatch.setattr(intake, "store_group", lambda g, *a: groups.append(len(g)) or real(g, *a))
    listener = get_redis(app).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(channel(demo.id, redis_db(get_redis(app))))
    # 120 texts from 30 senders new to the practice, each webhook delivered twice.
    bursts = [
        inbound_params(msisdn=_sender(i % 30), text=f"Burst text {i} ✨ from {i % 30}")
        for i in range(120)
    ]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda p: _post(app, sandbox, p), bursts + bursts))
    assert answers == [200] * 240  # answered only once stored: nothing left to wait for
    stored = _messages([p["messageId"] for p in bursts])
    assert {k: len(v) for k, v in stored.items()} == {p["messageId"]: 1 for p in bursts}
    assert max(groups) > 1, f"never more than one at a time: {groups}"
    assert _pending() == 0
    # Each sender has one patient and one conversation, showing its newest text, unread.
    for i in range(30):
        phone = "+" + _sender(i)
        patients = db.session.scalars(select(Patient).where(Patient.phone == phone)).all()
        assert len(patients) == 1
        conv = db.session.scalars(
            select(Conversation).where(Conversation.patient_id == patients[0].id)
        ).one()
        newest = max(
            (m for ms in stored.values() for m in ms if m.from_number == phone),
            key=lambda m: (m.sent_at, m.id),
        )
        assert conv.unread and conv.last_direction == "in"
        assert conv.last_message_at == newest.sent_at
        assert conv.last_message_preview == newest.body
    # One live event per stored text, none for the copies.
    seen: set[int] = set()
    deadline = time.monotonic() + 5
    while len(seen) < 120 and time.monotonic() < deadline:
        event = listener.get_message(timeout=0.5)
        if event and json.loads(event["data"]).get("type") == "message":
            seen.add(json.loads(event["data"])["id"])
    listener.close()
    assert seen == {ms[0].id for ms in stored.values()}


def test_a_group_answers_after_its_pages_are_replaced_and_the_next_one_is_stored_meanwhile(
    app, demo, sandbox, monkeypatch
):
    """The request that leads a group hands the lead on at its commit, then replaces the
    pages and publishes (one round trip to Redis, replacements first), then answers: a
    slow Redis holds up no storing, and no request answers (nor is its text announced)
    before its pages are old."""
    from inbox.services import page_cache

    first_settle = threading.Event()
    release = threading.Event()
    published: list[int] = []
    real_replace = page_cache.replace

    def slow_replace(accounts, announce=None):
        if not first_settle.is_set():
            first_settle.set()
            assert release.wait(10)  # Redis slow for the first group
        real_replace(accounts, announce)
        published.extend(event["id"] for _, event in announce or [])

    monkeypatch.setattr(page_cache, "replace", slow_replace)
    a, b = inbound_params(msisdn=_sender(900)), inbound_params(msisdn=_sender(901))
    with ThreadPoolExecutor(2) as pool:
        answer_a = pool.submit(_post, app, sandbox, a)
        assert first_settle.wait(10)  # a's group is committed; its pages not yet replaced
        answer_b = pool.submit(_post, app, sandbox, b)
        assert answer_b.result(15) == 200  # b was stored and answered meanwhile
        stored = _messages([a["messageId"], b["messageId"]])
        assert set(stored) == {a["messageId"], b["messageId"]}
        assert not answer_a.done()
        assert published == [stored[b["messageId"]][0].id]  # not a's yet
        release.set()
        assert answer_a.result(15) == 200
    assert sorted(published) == sorted(m[0].id for m in stored.values())


def test_one_round_trip_replaces_the_pages_before_it_publishes(app, demo, sandbox):
    """Redis runs the pipeline in order: a tab that hears of the text already finds the
    account's generation replaced."""
    from inbox.services import page_cache

    before = page_cache.generation(demo.id)
    client = get_redis()
    listener = client.pubsub()
    db = redis_db(client)
    listener.subscribe(channel(demo.id, db))
    assert listener.get_message(timeout=5)["type"] == "subscribe"
    ours = (f"SET clinic-inbox:page-generation:{demo.id} ", f"PUBLISH {channel(demo.id, db)} ")
    with client.monitor() as monitor:
        page_cache.replace({demo.id}, announce=[(demo.id, {"type": "message", "id": 1})])
        commands: list[str] = []
        for seen in monitor.listen():
            # MONITOR is server-wide: only this database (another test worker may share it).
            if seen["db"] == db and seen["command"].startswith(ours):
                commands.append(seen["command"].split(" ")[0])
            if len(commands) == 2:
                break
    assert commands == ["SET", "PUBLISH"]
    event = listener.get_message(timeout=5)
    listener.close()
    assert event is not None and json.loads(event["data"]) == {"type": "message", "id": 1}
    assert page_cache.generation(demo.id) not in (None, before)


def test_a_group_stores_texts_as_the_one_at_a_time_handler_does(app, demo, sandbox):
    """The same webhooks, one through receive() and one through a group: same rows."""
    stamp = "2026-11-27 09:15:00"
    texts = ["Is Friday ok? 😊", "x" * 170, "Plain question about my peel"]
    made: dict[str, list[Message]] = {}
    for way in ("alone", "group"):
        params = [
            inbound_params(msisdn=_sender(500 + i) if way == "alone" else _sender(600 + i),
                           text=t, **{"message-timestamp": stamp})
            for i, t in enumerate(texts)
        ]  # fmt: skip
        if way == "alone":
            for p in params:
                assert inbound.receive(p).outcome == "stored"
        else:
            items = [intake._Item("inbound", p) for p in params]
            intake.store_group(items)
            assert [it.outcome for it in items] == ["stored"] * 3
        made[way] = [_messages([p["messageId"]])[p["messageId"]][0] for p in params]
    for alone, grouped in zip(made["alone"], made["group"], strict=True):
        for field in ("direction", "body", "status", "segments", "encoding", "sent_at", "kind",
                      "incomplete", "parts_total", "account_id", "to_number"):  # fmt: skip
            assert getattr(alone, field) == getattr(grouped, field), field
        assert grouped.segments == segments.count(grouped.body).segments
        a, g = alone.conversation, grouped.conversation
        for field in ("unread", "last_message_at", "last_message_preview", "last_direction",
                      "clinic_id", "opted_out", "inbox_number_id", "has_failed"):  # fmt: skip
            assert getattr(a, field) == getattr(g, field), field
        for field in ("unknown_sender", "home_clinic_id", "first_name", "name_search"):
            assert getattr(a.patient, field) == getattr(g.patient, field), field
        assert g.patient.phone_digits == phones.national_digits(g.patient.phone)


def test_stop_in_a_burst_is_acted_on_before_the_answer(app, demo, sandbox):
    """Keywords take the one-at-a-time way: the opt-out is recorded before the 200."""
    others = [inbound_params(msisdn=_sender(700 + i), text="hello") for i in range(8)]
    stop = inbound_params(text="STOP")
    with ThreadPoolExecutor(9) as pool:
        assert list(pool.map(lambda p: _post(app, sandbox, p), [*others, stop])) == [200] * 9
    fresh()
    ava = db.session.scalars(select(Patient).where(Patient.phone == "+19175550100")).one()
    assert ava.opted_out


def test_a_failed_group_holds_each_webhook_and_the_drain_stores_it(app, demo, sandbox, monkeypatch):
    real = inbound.store_batch
    calls = {"n": 0}

    def fails_once(items, claim):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug in the batch")
        return real(items, claim)

    monkeypatch.setattr(inbound, "store_batch", fails_once)
    params = inbound_params(text="held, then stored")
    assert _post(app, sandbox, params) == 200  # held: answered, never lost
    assert wait_for(lambda: _messages([params["messageId"]]), timeout=10)
    assert len(_messages([params["messageId"]])[params["messageId"]]) == 1
    assert wait_for(lambda: _pending() == 0)


def test_what_a_dead_process_held_is_stored_by_the_sweep(app, demo, sandbox, monkeypatch):
    """A process held webhooks and died before storing them: the sweep stores each once."""
    from workers import jobs
    from workers.jobs import sweep

    monkeypatch.setattr(jobs, "_app", app)  # the job's app is this test's

    texts = [inbound_params(msisdn=_sender(800 + i), text=f"left {i}") for i in range(5)]
    for p in texts:
        assert intake.append("inbound", p)
        assert not intake.append("inbound", p)  # a copy is refused at the door
    db.session.remove()
    assert _pending() == 5
    assert sweep()["webhooks"] == 5
    assert sweep()["webhooks"] == 0
    stored = _messages([p["messageId"] for p in texts])
    assert sorted(len(v) for v in stored.values()) == [1] * 5
    assert _pending() == 0


def test_a_row_that_keeps_failing_is_kept_for_an_operator(app, demo, sandbox, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("cannot store this one")

    poison = inbound_params(text="STOP")  # keywords go one at a time: through receive()
    fine = inbound_params(msisdn=_sender(900), text="fine")
    assert intake.append("inbound", poison)
    monkeypatch.setattr(inbound, "receive", broken)
    for _ in range(intake.MAX_ATTEMPTS + 2):
        intake.drain()
    assert intake.append("inbound", fine)
    intake.drain()  # the poison row no longer holds anything up
    assert len(_messages([fine["messageId"]])[fine["messageId"]]) == 1
    fresh()
    row = db.session.scalars(
        select(ReceivedWebhook).where(ReceivedWebhook.dedupe_key == "in:" + poison["messageId"])
    ).one()
    assert row.processed_at is None and row.attempts == intake.MAX_ATTEMPTS
    assert row.last_error == "RuntimeError"
    assert intake.stuck() == 1
    assert "could not be processed" in caplog.text


def test_two_drainers_never_store_a_row_twice(app, demo, sandbox):
    texts = [inbound_params(msisdn=_sender(1000 + i % 40), text=f"race {i}") for i in range(150)]
    for p in texts:
        intake.append("inbound", p)
    db.session.remove()

    def drain() -> int:
        with app.app_context():
            try:
                return intake.drain()
            finally:
                db.session.remove()

    start = threading.Barrier(4)

    def racer(_) -> int:
        start.wait()
        return drain()

    with ThreadPoolExecutor(4) as pool:
        taken = sum(pool.map(racer, range(4)))
    assert taken == 150
    stored = _messages([p["messageId"] for p in texts])
    assert sorted(len(v) for v in stored.values()) == [1] * 150
    assert _pending() == 0


def test_receipts_in_one_group_never_move_backward_and_failures_keep_their_reason(
    app, demo, sandbox
):
    conv = db.session.scalars(
        select(Conversation).join(Patient).where(Patient.first_name == "Ava")
    ).one()
    sent = []
    for _ in range(2):
        m = Message(account_id=conv.account_id, conversation_id=conv.id, direction="out",
                    body="Hi", from_number="+" + OURS, to_number=conv.patient.phone,
                    status="sent", carrier_message_id="SBX" + uuid.uuid4().hex[:10])  # fmt: skip
        db.session.add(m)
        sent.append(m)
    db.session.commit()
    ok, bad = sent

    def receipt(m: Message, status: str, err: str = "0") -> intake._Item:
        return intake._Item("status", {
            "msisdn": m.to_number.lstrip("+"), "to": OURS, "messageId": m.carrier_message_id,
            "status": status, "err-code": err, "client-ref": str(m.id),
            "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        })  # fmt: skip

    group = [receipt(ok, "delivered"), receipt(ok, "accepted"), receipt(bad, "failed", "4")]
    intake.store_group(group)
    assert [it.outcome for it in group] == ["stored", "duplicate", "stored"]
    fresh()
    assert db.session.get(Message, ok.id).status == "delivered"
    failed = db.session.get(Message, bad.id)
    assert failed.status == "failed" and failed.error_text
    assert failed.conversation.has_failed


def test_a_webhook_not_taken_in_time_leaves_the_queue_and_the_next_one_leads(app, demo, sandbox):
    """A request still queued at its deadline (a stuck leader) takes its webhook back
    (503, Vonage retries) and is never stored behind its back; once the lead is free, the
    next request leads and stores its own."""
    w = intake._Writer()
    w.leading = True  # another request is storing a group and does not come back
    late = intake._Item("inbound", inbound_params())
    assert w.store(late, timeout=0.2) is False
    assert w.queue == [] and not late.done
    w.leading = False
    fresh_one = intake._Item("inbound", inbound_params())
    assert w.store(fresh_one, timeout=5) is True
    assert fresh_one.outcome == "stored" and not w.leading
    assert late.params["messageId"] not in _messages([late.params["messageId"]])


def test_a_dropped_database_connection_is_replaced_and_no_text_is_lost(app, demo, sandbox):
    """The writer keeps its own connection. When the database drops it (a restart, a
    network blip), the next group finds out on its first statement, reconnects and is
    stored: no 503, nothing held for later."""
    w = intake._Writer()
    first = intake._Item("inbound", inbound_params(msisdn=_sender(950)))
    assert w.store(first, timeout=5) and first.outcome == "stored"
    dropped = w.conn
    dropped.connection.dbapi_connection.close()  # as the server would
    second = intake._Item("inbound", inbound_params(msisdn=_sender(951)))
    assert w.store(second, timeout=5) and second.outcome == "stored"
    assert w.conn.connection.dbapi_connection is not None
    assert _pending() == 0
    ids = [first.params["messageId"], second.params["messageId"]]
    assert sorted(_messages(ids)) == sorted(ids)


def test_a_copy_of_a_stored_text_is_skipped_and_never_makes_a_patient(app, demo, sandbox):
    """A copy (Vonage's retry) in a later group answers as a duplicate: no second row, no
    live event, the conversation untouched. Even when the patient's phone has changed since, so
    the copy's sender looks new, the copy makes no patient and no conversation."""
    settled: list = []

    def settle(done, answer):
        settled.append(done)
        answer()

    def store(params: dict) -> str:
        group = [intake._Item("inbound", dict(params))]
        intake.store_group(group, settle)
        return group[0].outcome

    original = inbound_params(msisdn=_sender(960), text="Is 4pm free?")
    assert store(original) == "stored"
    message = _messages([original["messageId"]])[original["messageId"]][0]
    conversation_id, patient_id = message.conversation_id, message.conversation.patient_id

    def counts() -> tuple:
        fresh()
        conversation = db.session.get(Conversation, conversation_id)
        return (
            db.session.scalar(select(func.count()).select_from(Patient)),
            db.session.scalar(select(func.count()).select_from(Conversation)),
            db.session.scalar(select(func.count()).select_from(Message)),
            conversation.last_message_at,
            conversation.unread,
        )

    before = counts()
    assert store(original) == "duplicate"
    assert settled[-1].events == [] and counts() == before
    patient = db.session.get(Patient, patient_id)
    patient.phone = "+" + _sender(961)  # staff corrected the number meanwhile
    db.session.commit()
    assert store(original) == "duplicate"
    assert settled[-1].events == [] and counts() == before
    assert [m.id for m in _messages([original["messageId"]])[original["messageId"]]] == [message.id]
