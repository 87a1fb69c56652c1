"""Messaging a clinic can trust: long texts put back together, STOP honoured, the outbox
swept, receipts settled, the send rate held. Through the real webhook, SDK, sandbox,
database and Redis."""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select, update

from inbox.broker import get_queue, get_redis, in_queue, job_status
from inbox.extensions import db
from inbox.models import (
    Conversation,
    InboundPart,
    Message,
    Patient,
    utcnow,
)
from inbox.sandbox import sign_params
from inbox.services import (
    consent,
    delivery,
    inbound,
    message_status,
    outbox,
    segments,
    sending,
    throttle,
)
from inbox.services.sending import SendRefused
from tests.conftest import csrf_token, fresh, login, run_jobs, wait_for

AVA = "19175550100"
OURS = "12125550134"
_baseline = {"id": 0}


@pytest.fixture(autouse=True)
def _only_new_messages(request):
    """The demo has history; these tests look only at messages made after it."""
    if "demo" in request.fixturenames:
        request.getfixturevalue("demo")
        _baseline["id"] = db.session.scalar(select(func.max(Message.id))) or 0
    yield


def _url(app, kind="inbound") -> str:
    return app.config["PUBLIC_BASE_URL"] + f"/webhooks/vonage/{kind}"


def _params(text: str, msisdn: str = AVA, **extra) -> dict:
    return {
        "msisdn": msisdn,
        "to": OURS,
        "messageId": uuid.uuid4().hex[:16].upper(),
        "text": text,
        "type": "text",
        "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "timestamp": str(int(time.time())),
        "nonce": str(uuid.uuid4()),
        **extra,
    }


def _parts(text: str, msisdn: str = AVA, ref: str | None = None) -> list[dict]:
    """A long text as a handset sends it: numbered parts sharing one concat-ref."""
    pieces = segments.split(text)
    ref = ref or f"{random.randrange(256):02X}"
    return [
        _params(
            piece,
            msisdn,
            concat="true",
            **{"concat-ref": ref, "concat-total": str(len(pieces)), "concat-part": str(i)},
        )
        for i, piece in enumerate(pieces, start=1)
    ]


def _post(app, sandbox, params: dict) -> int:
    # Each delivery is signed afresh (as Vonage does on a retry).
    signed = sign_params(sandbox.state, {k: v for k, v in params.items() if k != "sig"})
    return requests.post(_url(app), data=signed, timeout=10).status_code


def _inbound(phone: str = "+" + AVA) -> list[Message]:
    fresh()
    return list(
        db.session.scalars(
            select(Message)
            .where(
                Message.direction == "in",
                Message.from_number == phone,
                Message.id > _baseline["id"],
            )
            .order_by(Message.sent_at, Message.id)
        )
    )


def _ava() -> Patient:
    fresh()
    return db.session.scalars(select(Patient).where(Patient.phone == "+" + AVA)).one()


def _outbound() -> list[Message]:
    fresh()
    return list(
        db.session.scalars(
            select(Message)
            .where(Message.direction == "out", Message.id > _baseline["id"])
            .order_by(Message.id)
        )
    )


LONG = (
    "Hi! I wanted to ask about the aftercare for the chemical peel I had on Monday. "
    "My skin is a little red around the chin and it feels tight in the mornings. "
    "Is that normal, and should I keep using the moisturiser you gave me or switch to "
    "something lighter until it settles? Also can I wear makeup on Saturday for a wedding?"
)


# ---- long texts -----------------------------------------------------------------------


def test_a_long_text_in_parts_becomes_one_message_in_part_order(app, demo, sandbox):
    parts = _parts(LONG)
    assert len(parts) >= 3
    for p in reversed(parts):  # last part first
        assert _post(app, sandbox, p) == 200
    messages = _inbound()
    assert [m.body for m in messages] == [LONG]
    assert messages[0].parts_total == len(parts) and not messages[0].incomplete


def test_every_webhook_three_times_shuffled_gives_one_message_each(app, demo, sandbox):
    """Must show: each inbound webhook delivered 3 times, in shuffled order, with the parts
    of long texts shuffled: exactly one message per carrier message, complete text."""
    rng = random.Random(42)
    senders = [f"1917555{n:04d}" for n in range(100, 108)]
    texts: dict[str, list[str]] = {s: [] for s in senders}
    deliveries = []
    for i, sender in enumerate(senders):
        for j in range(3):
            text = f"{LONG} (#{i}.{j})" if j == 1 else f"Short note {i}.{j} ✓" if j else "Hi"
            text = text if j != 2 else f"Question {i}: can I move my Botox to 4 pm?"
            texts[sender].append(text)
            pieces = (
                _parts(text, sender, ref=f"{i * 3 + j:02X}") if j == 1 else [_params(text, sender)]
            )
            deliveries += pieces * 3
    rng.shuffle(deliveries)
    codes = [_post(app, sandbox, p) for p in deliveries]
    assert set(codes) == {200}
    for sender in senders:
        got = sorted(m.body for m in _inbound("+" + sender))
        assert got == sorted(texts[sender]), sender
    fresh()
    assert db.session.scalar(select(func.count()).where(InboundPart.message_id.is_(None))) == 0


def test_the_last_two_parts_racing_build_the_message_once(app, demo, sandbox):
    parts = _parts(LONG)
    assert _post(app, sandbox, parts[0]) == 200
    barrier = threading.Barrier(len(parts) - 1)
    codes = []

    def post(p):
        barrier.wait()
        codes.append(_post(app, sandbox, p))

    threads = [threading.Thread(target=post, args=(p,)) for p in parts[1:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes and set(codes) == {200}
    assert [m.body for m in _inbound()] == [LONG]


def test_a_missing_part_shows_what_arrived_marked_incomplete_then_the_late_part_merges(
    app, demo, sandbox, client
):
    parts = _parts(LONG)
    for p in parts[:1] + parts[2:]:  # part 2 is lost in the network
        _post(app, sandbox, p)
    assert _inbound() == []  # held, not shown half-built
    with app.app_context():
        assert inbound.flush_stale_parts(timeout=60) == 0  # not yet timed out
        assert inbound.flush_stale_parts(now=utcnow() + timedelta(minutes=3)) == 1
    [message] = _inbound()
    assert message.incomplete and inbound.MISSING_PART in message.body
    assert message.body.startswith(parts[0]["text"]) and message.body.endswith(parts[-1]["text"])
    login(client, "staff@glow.test")
    page = client.get(f"/inbox/c/{message.conversation_id}").get_data(as_text=True)
    assert "Part of this text never arrived" in page

    assert _post(app, sandbox, parts[1]) == 200  # it turns up after all
    [message] = _inbound()
    assert message.body == LONG and not message.incomplete
    page = client.get(f"/inbox/c/{message.conversation_id}").get_data(as_text=True)
    assert "Part of this text never arrived" not in page


def test_bad_concat_fields_get_400_and_store_nothing(app, demo, sandbox):
    bad = _params(
        "x", concat="true", **{"concat-ref": "1", "concat-total": "2", "concat-part": "3"}
    )
    assert _post(app, sandbox, bad) == 400
    bad = _params("x", concat="true", **{"concat-ref": "1", "concat-total": "two"})
    assert _post(app, sandbox, bad) == 400
    fresh()
    assert db.session.scalar(select(func.count(InboundPart.id))) == 0


# ---- STOP / START / HELP ----------------------------------------------------------------


def test_stop_opts_out_confirms_once_and_every_send_is_refused(app, demo, sandbox, client):
    """Must show: after STOP, a send is refused in the UI and by the service, and the
    sandbox receives nothing."""
    assert _post(app, sandbox, _params("Stop.")) == 200
    patient = _ava()
    assert patient.opted_out
    conv = db.session.scalars(
        select(Conversation).where(Conversation.patient_id == patient.id)
    ).one()
    assert conv.opted_out
    [confirmation] = _outbound()
    assert confirmation.kind == "optout_confirm" and "START" in confirmation.body
    assert confirmation.sent_by_user_id is None
    # The list row says what it is: nobody on the team wrote it.
    assert conv.last_message_preview.startswith("Opt-out confirmation: ")
    run_jobs(app)
    [sent] = sandbox.requests_to("/sms/json")
    assert sent["params"]["to"] == AVA and "unsubscribed" in sent["params"]["text"]

    assert _post(app, sandbox, _params("STOP")) == 200  # a second STOP: no second text
    assert len(_outbound()) == 1

    login(client, "staff@glow.test")
    page = client.get(f"/inbox/c/{conv.id}").get_data(as_text=True)
    assert "Opted out." in page and "Sending is off" in page and "disabled" in page
    token = csrf_token(client, f"/inbox/c/{conv.id}")
    r = client.post(f"/inbox/c/{conv.id}/messages", data={"body": "Hello?", "csrf_token": token})
    assert r.status_code == 422 and "opted out" in r.get_data(as_text=True)
    with app.app_context():
        from inbox.models import User

        staff = db.session.scalars(select(User).where(User.email == "staff@glow.test")).one()
        with pytest.raises(SendRefused, match="opted out"):
            sending.send_reply(user=staff, conversation_id=conv.id, body="Hello?")
    run_jobs(app)
    assert len(sandbox.requests_to("/sms/json")) == 1  # only the confirmation, ever
    assert len(_outbound()) == 1


@pytest.mark.parametrize("rate", [30, 0], ids=["rate-limited", "no-limit"])
def test_a_text_queued_before_stop_is_not_sent_after_it(
    app, demo, sandbox, client, monkeypatch, rate
):
    monkeypatch.setitem(app.config, "SEND_RATE_PER_SECOND", rate)
    login(client, "staff@glow.test")
    patient = _ava()
    conv = db.session.scalars(
        select(Conversation).where(Conversation.patient_id == patient.id)
    ).one()
    token = csrf_token(client, f"/inbox/c/{conv.id}")
    client.post(f"/inbox/c/{conv.id}/messages", data={"body": "Promo!", "csrf_token": token})
    _post(app, sandbox, _params("unsubscribe"))  # arrives before the worker runs
    run_jobs(app)
    texts = [r["params"]["text"] for r in sandbox.requests_to("/sms/json")]
    assert texts and all("Promo" not in t for t in texts)
    promo = next(m for m in _outbound() if m.body == "Promo!")
    assert promo.status == "failed" and "opted out" in promo.error_text


def test_start_opts_back_in_and_help_answers_with_the_practice(app, demo, sandbox):
    _post(app, sandbox, _params("please stop texting me"))
    assert _ava().opted_out
    _post(app, sandbox, _params("START"))
    assert not _ava().opted_out
    _post(app, sandbox, _params("Help"))
    kinds = [(m.kind, m.body) for m in _outbound()]
    assert [k for k, _ in kinds] == ["optout_confirm", "auto_reply", "auto_reply"]
    assert "subscribed again" in kinds[1][1]
    fresh()
    from inbox.models import Account

    account = db.session.get(Account, demo.id)
    assert account.name in kinds[2][1] and "STOP" in kinds[2][1]
    # Ordinary replies that merely contain the words do nothing.
    _post(app, sandbox, _params("Can I cancel my appointment on Friday?"))
    assert not _ava().opted_out and len(_outbound()) == 3


def test_receipt_err_code_9_opts_the_patient_out(app, demo, sandbox, client):
    sandbox.state.receipt_status, sandbox.state.receipt_err_code = "failed", "9"
    login(client, "staff@glow.test")
    conv = db.session.scalars(
        select(Conversation).where(Conversation.patient_id == _ava().id)
    ).one()
    token = csrf_token(client, f"/inbox/c/{conv.id}")
    client.post(f"/inbox/c/{conv.id}/messages", data={"body": "Hi Ava", "csrf_token": token})
    run_jobs(app)
    assert wait_for(lambda: _ava().opted_out)
    [message] = _outbound()
    assert message.status == "failed" and "opted out" in message.error_text
    assert len(_outbound()) == 1  # no confirmation to a handset that refuses texts


def test_a_failure_receipt_that_lands_before_the_send_answer_keeps_its_reason(app, demo, sandbox):
    """The receipt can beat the carrier's answer to the send: the answer then records the
    carrier's id, but neither the failure nor its reason is undone (it once wiped the
    reason, leaving "failed" with nothing to act on)."""
    conv = db.session.scalars(
        select(Conversation).where(Conversation.patient_id == _ava().id)
    ).one()
    message = Message(account_id=conv.account_id, conversation_id=conv.id, direction="out",
                      body="Hi", from_number="+12125550134", to_number=conv.patient.phone,
                      status="failed", error_code="9",
                      error_text="The patient opted out")  # fmt: skip
    db.session.add(message)
    db.session.commit()
    db.session.execute(delivery._SENT, [{"message_id": message.id, "carrier_id": "C-1",
                                          "parts": 1, "now": utcnow()}])  # fmt: skip
    db.session.commit()
    fresh()
    kept = db.session.get(Message, message.id)
    assert (kept.status, kept.error_code, kept.error_text, kept.carrier_message_id) == (
        "failed", "9", "The patient opted out", "C-1")  # fmt: skip


# ---- the outbox ---------------------------------------------------------------------------


def _queue(app, body="Your appointment is confirmed", n=1) -> list[int]:
    from inbox.models import User

    with app.app_context():
        staff = db.session.scalars(select(User).where(User.email == "staff@glow.test")).one()
        conv = db.session.scalars(
            select(Conversation).where(Conversation.patient_id == _ava().id)
        ).one()
        return [
            sending.send_reply(user=staff, conversation_id=conv.id, body=f"{body} {i}").id
            for i in range(n)
        ]


def test_redis_down_at_enqueue_keeps_the_row_and_the_sweep_sends_it(
    app, demo, sandbox, monkeypatch
):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")  # Redis is down
    ids = _queue(app, n=2)
    assert [m.status for m in _outbound()] == ["queued", "queued"]
    monkeypatch.undo()
    with app.app_context():
        # Not yet stale: left alone (it may simply be waiting its turn).
        assert outbox.sweep_outbox().requeued == 0
        assert outbox.sweep_outbox(now=utcnow() + timedelta(minutes=2)).requeued == 2
        # A job now exists: a second sweep does not enqueue it twice.
        assert outbox.sweep_outbox(now=utcnow() + timedelta(minutes=2)).requeued == 0
    run_jobs(app)
    assert wait_for(lambda: {m.id for m in _outbound() if m.status == "delivered"} == set(ids))
    assert len(sandbox.requests_to("/sms/json")) == 2


def test_a_job_lost_with_redis_is_enqueued_again(app, demo, sandbox):
    _queue(app)
    get_redis(app).flushdb()  # Redis restarted without persistence: the job is gone
    with app.app_context():
        assert outbox.sweep_outbox(now=utcnow() + timedelta(minutes=2)).requeued == 1
    run_jobs(app)
    assert len(sandbox.requests_to("/sms/json")) == 1


def test_a_job_a_dead_worker_popped_before_starting_it_is_enqueued_again(app, demo, sandbox):
    """RQ keeps the status "queued" between a worker popping the job and starting it: a
    worker killed there leaves a queued job in no queue. The sweep sends the text again."""
    _queue(app)
    with app.app_context():
        queue = get_queue(app)
        assert get_redis(app).lpop(queue.key)  # the worker popped it, then died
        assert outbox.sweep_outbox(now=utcnow() + timedelta(seconds=30)).requeued == 0
        assert outbox.sweep_outbox(now=utcnow() + timedelta(minutes=5)).requeued == 1
    run_jobs(app)
    assert len(sandbox.requests_to("/sms/json")) == 1


def test_a_retry_no_scheduler_puts_back_is_sent_by_the_sweep(app, demo, sandbox):
    """A retry waits in RQ's scheduled registry until a worker's scheduler puts it back in
    the queue. If none does (no worker runs one, or it died), the text must not wait
    forever: once its retry is overdue, the sweep enqueues it, and it goes out once."""
    from rq.registry import ScheduledJobRegistry

    ids = _queue(app)
    with app.app_context():
        queue, job_id = get_queue(app), outbox.send_job_id(ids[0])
        assert get_redis(app).lrem(queue.key, 0, job_id) == 1
        assert outbox.enqueue_send(ids[0], delay=5)  # a retry, due in 5 s
        scheduled = ScheduledJobRegistry(queue=queue)
        assert scheduled.get_job_ids() == [job_id]
        # Due, but not overdue yet: the scheduler has time to do its job.
        assert outbox.sweep_outbox(now=utcnow() + timedelta(seconds=62)).requeued == 0
        assert scheduled.get_job_ids() == [job_id]
        # Long overdue: nobody put it back.
        assert outbox.sweep_outbox(now=utcnow() + timedelta(minutes=5)).requeued == 1
        assert scheduled.get_job_ids() == [] and get_redis(app).lrange(queue.key, 0, -1) == [
            job_id.encode()
        ]
    run_jobs(app)
    assert wait_for(lambda: [m.status for m in _outbound()] == ["delivered"])
    assert len(sandbox.requests_to("/sms/json")) == 1


def test_a_retry_rqs_scheduler_drops_is_sent_by_the_sweep(app, demo, sandbox, monkeypatch):
    """RQ's scheduler reads the due job ids, fetches the jobs, then removes the ids from its
    registry. A retry of the same job id scheduled between the fetch and the removal loses
    its registry entry: the job says "scheduled" and nothing would ever enqueue it. The
    sweep sends it, once."""
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry
    from rq.scheduler import RQScheduler

    ids = _queue(app)
    with app.app_context():
        redis_client, queue = get_redis(app), get_queue(app)
        job_id = outbox.send_job_id(ids[0])
        assert redis_client.lrem(queue.key, 0, job_id) == 1
        assert outbox.enqueue_send(ids[0], delay=0.01)  # a retry, due at once
        time.sleep(0.05)
        redis_client.delete(Job.key_for(job_id))  # a worker took the job meanwhile
        real_fetch_many = Job.fetch_many

        def fetch_then_retry(job_ids, **kwargs):
            jobs = real_fetch_many(job_ids, **kwargs)
            assert jobs == [None]
            assert outbox.enqueue_send(ids[0], delay=0.01)  # ...and its send failed
            return jobs

        monkeypatch.setattr(Job, "fetch_many", fetch_then_retry)
        scheduler = RQScheduler([queue], connection=redis_client)
        scheduler.prepare_registries([queue.name])
        scheduler.enqueue_scheduled_jobs()
        monkeypatch.undo()
        assert job_status(job_id, app) == "scheduled"
        assert ScheduledJobRegistry(queue=queue).get_job_ids() == []  # dropped
        assert redis_client.llen(queue.key) == 0
        assert outbox.sweep_outbox().requeued == 0  # not stale yet
        assert outbox.sweep_outbox(now=utcnow() + timedelta(minutes=2)).requeued == 1
        assert redis_client.lrange(queue.key, 0, -1) == [job_id.encode()]
    run_jobs(app)
    assert wait_for(lambda: [m.status for m in _outbound()] == ["delivered"])
    assert len(sandbox.requests_to("/sms/json")) == 1


def _sent_refs(sandbox) -> list[int]:
    return [int(r["params"]["client-ref"]) for r in sandbox.requests_to("/sms/json")]


@pytest.mark.parametrize("rate", [0, 1000], ids=["no-limit", "rate-limited"])
def test_a_send_job_sends_the_texts_queued_behind_it_each_once(
    app, demo, sandbox, monkeypatch, rate
):
    """One RQ job's bookkeeping for a batch: 25 texts, batches of 10, take 3 jobs. With no
    limit the batch is claimed and recorded in one statement each; with one, text by text."""
    from rq.job import Job

    import workers.jobs

    monkeypatch.setitem(app.config, "SEND_RATE_PER_SECOND", rate)
    monkeypatch.setitem(app.config, "SEND_BATCH", 10)
    jobs_run = []
    real_job = workers.jobs.send_message
    monkeypatch.setattr(
        workers.jobs, "send_message", lambda mid: jobs_run.append(mid) or real_job(mid)
    )
    ids = _queue(app, n=25)
    run_jobs(app)
    assert jobs_run == [ids[0], ids[11], ids[22]]
    assert _sent_refs(sandbox) == ids  # each once, oldest first
    assert wait_for(lambda: [m.status for m in _outbound()] == ["delivered"] * 25)
    redis_client = get_redis(app)
    assert not redis_client.exists(*[Job.key_for(outbox.send_job_id(i)) for i in ids])
    assert redis_client.llen(get_queue(app).key) == 0


def test_a_passing_failure_inside_a_batch_retries_that_text_later_and_requeues_the_rest(
    app, demo, sandbox, monkeypatch
):
    from rq.registry import ScheduledJobRegistry

    from inbox.sandbox.state import Fault

    monkeypatch.setitem(app.config, "SEND_RATE_PER_SECOND", 0)
    ids = _queue(app, n=5)
    sends = []
    take_fault = sandbox.state.take_fault

    def third_send_fails(path):
        if path == "/sms/json":
            sends.append(path)
            if len(sends) == 3:
                return Fault("http503", path)
        return take_fault(path)

    monkeypatch.setattr(sandbox.state, "take_fault", third_send_fails)
    with app.app_context():
        assert delivery.deliver_waiting() == 2  # two sent, then Vonage had a bad moment
        queue = get_queue(app)
        scheduled = ScheduledJobRegistry(queue=queue)
        assert scheduled.get_job_ids() == [outbox.send_job_id(ids[2])]
        due = scheduled.get_scheduled_time(outbox.send_job_id(ids[2]))
        assert 0 < (due.replace(tzinfo=None) - utcnow().replace(tzinfo=None)).total_seconds() < 5
        assert [in_queue(outbox.send_job_id(i)) for i in ids] == [
            False, False, False, True, True
        ]  # fmt: skip
    statuses = {m.id: m for m in _outbound()}
    # Each is sent, or delivered already if its receipt landed first (they race).
    assert all(statuses[i].status in ("sent", "delivered") for i in ids[:2])
    assert statuses[ids[2]].status == "queued" and "server error" in statuses[ids[2]].error_text
    assert [statuses[i].status for i in ids[3:]] == ["queued", "queued"]
    run_jobs(app)  # the two put back
    with app.app_context():
        scheduled.requeue(outbox.send_job_id(ids[2]))  # its retry comes due
    run_jobs(app)
    assert sorted(_sent_refs(sandbox)) == sorted([*ids, ids[2]])  # the 503 was the only repeat
    assert wait_for(lambda: [m.status for m in _outbound()] == ["delivered"] * 5)


def test_a_stop_arriving_in_the_middle_of_a_batch_stops_the_rest_of_it(
    app, demo, sandbox, monkeypatch
):
    """The batch reads its texts together, but each claim checks the opt-out again at that
    moment: a STOP processed while the batch sends its first text stops the others."""
    from inbox import carrier

    monkeypatch.setitem(app.config, "SEND_RATE_PER_SECOND", 0)
    ids = _queue(app, n=3)
    patient_id = _ava().id
    real_send = carrier.send_sms

    def send_then_stop(*args, **kwargs):
        result = real_send(*args, **kwargs)
        with db.engine.begin() as conn:  # the patient's STOP, stored by another process
            conn.execute(
                update(Patient).where(Patient.id == patient_id).values(opted_out_at=utcnow())
            )
        return result

    monkeypatch.setattr(carrier, "send_sms", send_then_stop)
    with app.app_context():
        delivery.deliver_waiting()
    assert _sent_refs(sandbox) == ids[:1]
    messages = _outbound()
    assert [m.status for m in messages[1:]] == ["failed", "failed"]
    assert all("opted out" in m.error_text for m in messages[1:])


def test_texts_a_batch_had_no_time_for_go_back_to_the_queue_untouched(
    app, demo, sandbox, monkeypatch
):
    """A slow carrier: past SEND_BATCH_SECONDS the claimed texts not yet tried are queued
    again for other workers (never left `sending`, which would make them unconfirmed)."""
    monkeypatch.setitem(app.config, "SEND_RATE_PER_SECOND", 0)
    monkeypatch.setitem(app.config, "SEND_BATCH_SECONDS", 0)
    ids = _queue(app, n=3)
    with app.app_context():
        assert delivery.deliver_waiting() == 0
        assert [in_queue(outbox.send_job_id(i)) for i in ids] == [True] * 3
    assert [m.status for m in _outbound()] == ["queued"] * 3
    run_jobs(app)  # each job now sends its own text and puts the rest back
    assert sorted(_sent_refs(sandbox)) == ids


def test_a_worker_that_died_holding_a_batch_leaves_texts_the_sweep_sends_once(
    app, demo, sandbox, monkeypatch
):
    from inbox.broker import take_queued_jobs

    monkeypatch.setitem(app.config, "SEND_RATE_PER_SECOND", 0)
    ids = _queue(app, n=3)
    with app.app_context():
        queue = get_queue(app)
        queue.connection.rpush(queue.key, "some-other-job")  # not a send: never taken
        taken = take_queued_jobs("send-message-", 10)  # ...and the worker was killed
        assert taken == [outbox.send_job_id(i) for i in ids]
        assert queue.connection.lrange(queue.key, 0, -1) == [b"some-other-job"]
        queue.connection.delete(queue.key)
        assert outbox.sweep_outbox().requeued == 0  # not stale yet
        assert outbox.sweep_outbox(now=utcnow() + timedelta(minutes=2)).requeued == 3
    run_jobs(app)
    assert sorted(_sent_refs(sandbox)) == ids


def test_a_worker_dying_mid_send_leaves_an_unconfirmed_text_never_resent(app, demo, sandbox):
    [mid] = _queue(app)
    with app.app_context():
        db.session.execute(
            update(Message)
            .where(Message.id == mid)
            .values(status="sending", status_changed_at=utcnow() - timedelta(minutes=5))
        )
        db.session.commit()
        result = outbox.sweep_outbox()
        assert result.worker_lost == 1
    [message] = _outbound()
    assert message.status == "unknown"
    run_jobs(app)
    assert sandbox.requests_to("/sms/json") == []  # never re-sent on its own
    with app.app_context():
        result = outbox.sweep_outbox(now=utcnow() + timedelta(hours=1))
        assert result.unconfirmed == 1
    [message] = _outbound()
    assert message.status == "failed" and message.error_code == message_status.UNCONFIRMED
    assert "Retry" in message.error_text
    fresh()
    assert db.session.get(Conversation, message.conversation_id).has_failed


def test_a_late_receipt_settles_an_unconfirmed_text(app, demo, sandbox):
    sandbox.fail_next("timeout", seconds=2.5)  # Vonage takes it, but answers too late
    [mid] = _queue(app)
    run_jobs(app)
    # The sandbox's receipt (with our client-ref) arrives after the timeout.
    assert wait_for(lambda: _outbound()[0].status == "delivered", timeout=8)
    fresh()
    message = db.session.get(Message, mid)
    assert message.error_text is None
    assert not db.session.get(Conversation, message.conversation_id).has_failed


def test_receipts_are_idempotent_and_never_move_backward(app, demo, sandbox):
    sandbox.state.receipt_status = "none"
    [mid] = _queue(app)
    run_jobs(app)
    message = _outbound()[0]
    base = {
        "msisdn": AVA, "to": OURS, "messageId": message.carrier_message_id,
        "client-ref": str(mid), "err-code": "0",
        "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }  # fmt: skip
    url = _url(app, "status")

    def post(status):
        params = {
            **base,
            "status": status,
            "timestamp": str(int(time.time())),
            "nonce": uuid.uuid4().hex,
        }
        return requests.post(url, data=sign_params(sandbox.state, params), timeout=5).status_code

    for status in ["delivered", "delivered", "accepted", "buffered", "delivered"]:
        assert post(status) == 200
    assert _outbound()[0].status == "delivered"


def test_sending_is_refused_when_the_inbox_was_turned_off_before_the_worker_ran(app, demo, sandbox):
    [mid] = _queue(app)
    with app.app_context():
        from inbox.models import Account

        db.session.get(Account, demo.id).inbox_enabled = False
        db.session.commit()
    run_jobs(app)
    assert sandbox.requests_to("/sms/json") == []
    message = _outbound()[0]
    assert message.status == "failed" and "turned off" in message.error_text


# ---- the account-wide rate limit -------------------------------------------------------------


def test_the_send_rate_is_held_across_threads(app):
    """Three threads (as three workers) share 10/s: no 1-second window holds more, and the
    sends are spaced, not bunched."""
    stamps: list[float] = []
    lock = threading.Lock()

    def worker():
        with app.app_context():
            for _ in range(8):
                throttle.wait_for_send_slot(999, per_second=10)
                with lock:
                    stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert len(stamps) == 24

    def most_within(seconds: float) -> int:
        return max(sum(1 for s in stamps if start <= s < start + seconds) for start in stamps)

    assert most_within(0.98) <= 10
    # Spread evenly (~100 ms apart), not in bursts of 10 that bunch up on arrival.
    assert most_within(0.25) <= 4
    # It waited rather than failed: 24 sends at 10/s take 2.3 s.
    assert stamps[-1] - stamps[0] >= 2.1


def test_no_rate_limit_when_turned_off(app):
    with app.app_context():
        assert throttle.wait_for_send_slot(998, per_second=0) == 0.0


def test_consent_changes_reach_every_conversation_of_the_patient(app, demo):
    with app.app_context():
        patient = _ava()
        assert consent.opt_out(patient)
        db.session.commit()
        convs = db.session.scalars(
            select(Conversation).where(Conversation.patient_id == patient.id)
        ).all()
        assert convs and all(c.opted_out for c in convs)
        assert not consent.opt_out(patient)  # already out: no change, no confirmation


def test_a_receipt_still_on_its_way_is_waited_for_before_the_next_test(
    app, demo, sandbox, monkeypatch
):
    """The suite's own isolation (tests/conftest.py `_clean`): the sandbox counts its
    receipts in flight, and settle() returns once they reached the app. The receipt is
    held until the test lets it go (a delay alone would race a slow machine)."""
    from inbox.sandbox import webhooks

    release, post = threading.Event(), webhooks.deliver_webhook

    def held(*args, **kwargs):
        release.wait(10)
        return post(*args, **kwargs)

    monkeypatch.setattr(webhooks, "deliver_webhook", held)
    _queue(app)
    run_jobs(app)
    assert [m.status for m in _outbound()] == ["sent"]
    assert not sandbox.state.settle(timeout=0.2)  # on its way: not settled
    threading.Timer(0.3, release.set).start()
    assert sandbox.state.settle()
    assert [m.status for m in _outbound()] == ["delivered"]
