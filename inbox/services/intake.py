"""Webhooks in: stored many at a time, never lost.

A webhook request checks the signature and the fields, then queues the webhook with its
process's writer. The request at the head of the queue leads: it stores everything that
queued while the last group was stored in one transaction (a group commit), hands the
lead on, and answers its group's requests. Texts and receipts go through
`inbound.store_batch` and `receipts.apply_receipt_batch` in a few statements, and the
rest (long texts in parts, STOP / START / HELP, receipts that opt a patient out or name
no text of ours) held as rows of `received_webhooks` and then taken one at a time. Only then does
the request answer 200, so a text is in the inbox before Vonage hears it arrived. A
quiet practice's text is a group of one; a burst is stored dozens at a time.

If a group's transaction fails, each of its webhooks is held as a pending row on its own
(the drain stores it); one that cannot even be held is answered 503 and Vonage retries.
A held row is processed exactly once: taking it marks it processed in the transaction
that stores it, with row locks (SKIP LOCKED) on PostgreSQL and a file lock in front of
the write lock on SQLite. What a dead process left pending, the sweep drains every
minute (`workers.jobs.sweep`); a row that fails on its own MAX_ATTEMPTS times stays in the
table, logged, for an operator. Copies (Vonage's retries, replays of a signed request)
are found by the unique carrier id of a text, the dedupe key of a held row, or inside
the group, and are answered 200 without doing anything twice."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from functools import cache

from flask import Flask, current_app
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from .. import carrier
from ..extensions import db
from ..models import KIND_INBOUND, KIND_RECEIPT, ReceivedWebhook, utcnow
from . import inbound, numbers, receipts
from .webhook_outcomes import Batch, WebhookResult, announce

log = logging.getLogger(__name__)

BATCH = 200
MAX_ATTEMPTS = 5
KEEP_DAYS = 2  # processed rows: longer than Vonage retries a webhook
_UNSIGNED = ("sig", "nonce", "timestamp")  # differ between copies of one receipt

Handler = Callable[[dict[str, str]], WebhookResult]


def _handler(kind: str) -> Handler:
    return inbound.receive if kind == KIND_INBOUND else receipts.apply_receipt


def check(kind: str, params: dict[str, str]) -> WebhookResult | None:
    """What the request answers without storing anything: ignored or invalid. None: store."""
    return inbound.check(params) if kind == KIND_INBOUND else receipts.check_receipt(params)


def dedupe_key(kind: str, params: dict[str, str]) -> str:
    if kind == KIND_INBOUND:
        return "in:" + params["messageId"]
    fields = sorted((k, v) for k, v in params.items() if k not in _UNSIGNED)
    return "st:" + hashlib.sha256(json.dumps(fields).encode()).hexdigest()


@cache
def _statements(dialect: str) -> dict:
    """Built once per database kind."""
    t = ReceivedWebhook.__table__
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    pending = select(t.c.id).where(t.c.processed_at.is_(None), t.c.attempts < MAX_ATTEMPTS)
    at = bindparam("at", type_=t.c.processed_at.type)
    taking = update(t).values(processed_at=at)
    return {
        # PostgreSQL: claim at once, skipping rows another drainer holds.
        "claim": taking.where(
            t.c.id.in_(
                pending.order_by(t.c.id)
                .limit(bindparam("n"))
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
        ).returning(t.c.id, t.c.kind, t.c.params),
        # SQLite: read first, claim at the first write.
        "pending": select(t.c.id, t.c.kind, t.c.params)
        .where(t.c.processed_at.is_(None), t.c.attempts < MAX_ATTEMPTS)
        .order_by(t.c.id)
        .limit(bindparam("n")),
        "take": taking.where(
            t.c.id.in_(bindparam("ids", expanding=True)), t.c.processed_at.is_(None)
        ).returning(t.c.id),
        "take_one": taking.where(
            t.c.id == bindparam("row_id"),
            t.c.processed_at.is_(None),
            t.c.attempts < MAX_ATTEMPTS,
        ).returning(t.c.id),
        "release": update(t)
        .where(t.c.id.in_(bindparam("ids", expanding=True)))
        .values(processed_at=None),
        "append": insert(t)
        .values(
            kind=bindparam("kind"),
            dedupe_key=bindparam("key"),
            params=bindparam("params"),
            received_at=bindparam("at", type_=t.c.received_at.type),
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(t.c.id),
        "failed": update(t)
        .where(t.c.id == bindparam("row_id"))
        .values(attempts=t.c.attempts + 1, last_error=bindparam("error")),
    }


def _sql() -> dict:
    return _statements(db.engine.dialect.name)


_local = threading.local()


@contextmanager
def _writing() -> Iterator[None]:
    """On SQLite, the intake's writers (groups, held rows and drains, in every process) take
    turns on a file lock before they ask for the database's write lock. SQLite's own wait polls
    with sleeps of up to 100 ms, and the lock sits idle while everyone sleeps; a waiter
    on the file lock wakes the moment it is free. A thread's own file handle, so threads
    of one process exclude each other too. PostgreSQL needs none (row locks)."""
    path = db.engine.url.database if db.engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    handles = _local.__dict__.setdefault("handles", {})
    handle = handles.get(path)
    if handle is None:
        handle = handles[path] = open(path + ".intake-lock", "a+b")  # noqa: SIM115 - kept
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)


def _append_values(kind: str, params: dict[str, str]) -> dict:
    return {
        "kind": kind,
        "key": dedupe_key(kind, params),
        "params": json.dumps(params),
        "at": utcnow(),
    }


def append(kind: str, params: dict[str, str]) -> bool:
    """Hold the webhook as a pending row (its own short transaction), for the drain.
    False: a copy of it was held already (a Vonage retry, or a replay)."""
    with _writing(), db.engine.begin() as conn:
        return conn.execute(_sql()["append"], _append_values(kind, params)).first() is not None


# ---- processing --------------------------------------------------------------------------


class _Taken(Exception):
    """Another drainer took some of this batch's rows between the read and the claim."""


class _Claim:
    """Makes a batch's rows ours: on PostgreSQL at once (row locks, skipping those another
    drainer holds), on SQLite just before the first write, under the file lock, so the
    batch's reads run without holding the database's write lock. Claiming marks the rows
    processed in the batch's transaction: they are processed exactly when it commits."""

    def __init__(self, stack: ExitStack, ids: list[int], conn: Connection) -> None:
        self.stack, self.ids, self.conn, self.done = stack, ids, conn, False

    def __call__(self) -> None:
        if self.done:
            return
        self.done = True
        self.stack.enter_context(_writing())
        if not self.ids:
            return
        got = self.conn.execute(_sql()["take"], {"ids": self.ids, "at": utcnow()})
        if len(got.scalars().all()) != len(self.ids):
            raise _Taken


def _store_bulk(rows: list[tuple[int, str, dict[str, str]]], claim: _Claim) -> Batch:
    """What the bulk paths store of these (id, kind, params) rows, in the transaction open
    on the claim's connection."""
    done = Batch()
    for kind, bulk in (
        (KIND_INBOUND, inbound.store_batch),
        (KIND_RECEIPT, receipts.apply_receipt_batch),
    ):
        items = [(row_id, params) for row_id, k, params in rows if k == kind]
        done.add(bulk(items, claim, claim.conn))
    return done


def process_batch(limit: int = BATCH) -> int:
    """Process up to `limit` pending webhooks in one transaction. Returns how many."""
    for attempt in range(3):
        try:
            return _process_batch(limit, last_try=attempt == 2)
        except _Taken:
            db.session.rollback()
    return 0


def _process_batch(limit: int, *, last_try: bool) -> int:
    db.session.rollback()  # a transaction of its own
    with ExitStack() as stack:
        conn = db.session.connection()
        if db.engine.dialect.name == "postgresql":
            rows = conn.execute(_sql()["claim"], {"n": limit, "at": utcnow()})
            claimed = sorted((r.id, r.kind, r.params) for r in rows)
            claim = _Claim(stack, [], conn)
            claim.done = True
        else:
            rows = conn.execute(_sql()["pending"], {"n": limit})
            claimed = sorted((r.id, r.kind, r.params) for r in rows)
            claim = _Claim(stack, [row_id for row_id, *_ in claimed], conn)
        if not claimed:
            db.session.rollback()
            return 0
        parsed = [(row_id, kind, json.loads(params)) for row_id, kind, params in claimed]
        try:
            done = _store_bulk(parsed, claim)
            claim()
            left = [row_id for row_id, *_ in parsed if row_id not in done.outcomes]
            if left:  # pending again, for the one-at-a-time way below
                conn.execute(_sql()["release"], {"ids": left})
            db.session.commit()
        except _Taken:
            raise
        except IntegrityError:
            if not last_try:
                # Another drainer made the same new patient or conversation: read again.
                db.session.rollback()
                raise _Taken from None
            db.session.rollback()
            log.exception("a batch of %d webhooks kept conflicting", len(parsed))
            done = Batch()
        except Exception:  # noqa: BLE001 - the rows are still pending: one at a time below
            db.session.rollback()
            log.exception(
                "a batch of %d webhooks failed; processing them one at a time", len(parsed)
            )
            done = Batch()
    announce(done)
    for row_id, kind, params in parsed:
        if row_id not in done.outcomes:
            process_one(row_id, kind, params)
    return len(claimed)


def _retrying(handler: Handler, params: dict[str, str], attempts: int = 4) -> WebhookResult:
    """The handlers are idempotent, so a write that lost a race (SQLite busy, a deadlock,
    the same patient created by a concurrent request) is simply run again."""
    for attempt in range(attempts):
        try:
            return handler(params)
        except (OperationalError, IntegrityError) as exc:
            db.session.rollback()
            if attempt == attempts - 1:
                raise
            log.warning("webhook write conflicted (%s), try %d", type(exc).__name__, attempt + 1)
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def process_one(row_id: int, kind: str, params: dict[str, str]) -> str | None:
    """One webhook through its handler, which commits its own work (and the claim with
    it). None: another drainer has it, it is done, or it failed (counted, kept)."""
    db.session.rollback()
    with _writing():
        conn = db.session.connection()
        if not conn.execute(_sql()["take_one"], {"row_id": row_id, "at": utcnow()}).first():
            db.session.rollback()
            return None
        try:
            outcome = _retrying(_handler(kind), params).outcome
            # A retry inside ran after a rollback: mark it again (a no-op otherwise).
            db.session.connection().execute(_sql()["take_one"], {"row_id": row_id, "at": utcnow()})
            db.session.commit()
            return outcome
        except Exception as exc:  # noqa: BLE001 - counted, kept, tried again
            db.session.rollback()
            log.exception("webhook %s could not be processed", row_id)
            db.session.connection().execute(
                _sql()["failed"], {"row_id": row_id, "error": type(exc).__name__[:255]}
            )
            db.session.commit()
            return None


def drain(max_batches: int | None = None) -> int:
    """Process until nothing is pending (the sweep, a group that failed). Returns rows."""
    total = batches = 0
    while max_batches is None or batches < max_batches:
        n = process_batch()
        total += n
        batches += 1
        if n == 0:
            break
    return total


def prune(now=None) -> int:
    """Processed rows older than KEEP_DAYS go (by then Vonage has stopped retrying)."""
    cutoff = (now or utcnow()) - timedelta(days=KEEP_DAYS)
    t = ReceivedWebhook.__table__
    gone = db.session.execute(
        delete(t).where(t.c.processed_at.is_not(None), t.c.processed_at < cutoff)
    ).rowcount
    db.session.commit()
    return gone


def stuck() -> int:
    """Rows left for an operator (failed MAX_ATTEMPTS times)."""
    t = ReceivedWebhook.__table__
    return db.session.scalar(
        select(func.count()).where(t.c.processed_at.is_(None), t.c.attempts >= MAX_ATTEMPTS)
    )


# ---- the request's part: a group commit per process --------------------------------------


class _Item:
    """One webhook of a request, and what became of it."""

    __slots__ = ("done", "error", "kind", "lead", "outcome", "params", "woken")

    def __init__(self, kind: str, params: dict[str, str]) -> None:
        self.kind, self.params = kind, params
        self.woken = threading.Event()  # set when it is done, or when its turn to lead comes
        self.done = False
        self.lead = False
        self.outcome: str | None = None
        self.error: BaseException | None = None

    def finish(self, outcome: str | None = None, error: BaseException | None = None) -> None:
        self.outcome, self.error = outcome, error
        self.done = True
        self.woken.set()


class _Writer:
    """Per app and process: a group commit led by the webhook requests themselves.

    A request queues its webhook. If no group is being stored, it leads: it takes all
    that is queued (up to BATCH) and stores it in one transaction. Right after the commit
    it hands the lead to the oldest request still queued, and then, in its own thread,
    replaces the pages and publishes the live events (one round trip to Redis) and
    answers the group's requests, while the next leader stores the next group. A quiet
    practice's text is a group of one, stored by its own request with no other thread
    involved; no thread waits on another to store or answer it, so none waits for the
    other's turn at the GIL."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.mutex = threading.Lock()
        self.queue: list[_Item] = []
        self.leading = False  # a request is storing a group now
        self.conn: Connection | None = None

    def connection(self) -> Connection:
        """The writer's own connection. Only the leader uses it, one group at a time, so a
        group pays no checkout from the pool (nor, on PostgreSQL, its ping) and no ORM
        session. One that was dropped reconnects on its next use (see _stored)."""
        if self.conn is None or self.conn.closed:
            self.conn = db.engine.connect()
        return self.conn

    def store(self, item: _Item, timeout: float) -> bool:
        """Queue the item, lead a group when its turn comes, and return once it is done.
        False: it was still queued, or is still being stored, after `timeout` seconds."""
        with self.mutex:
            self.queue.append(item)
            if not self.leading:
                self.leading = item.lead = True
        deadline = time.monotonic() + timeout
        while not item.lead:
            if item.woken.wait(max(0.0, deadline - time.monotonic())) and item.done:
                return True
            with self.mutex:
                if item.lead or item.done:
                    continue
                if time.monotonic() < deadline:
                    continue
                if item in self.queue:  # never taken: nobody will store it
                    self.queue.remove(item)
                return False
        self._lead()
        return item.done

    def _lead(self) -> None:
        with self.mutex:
            group, self.queue = self.queue[:BATCH], self.queue[BATCH:]
        handed = False

        def hand_over() -> None:
            nonlocal handed
            if handed:
                return
            handed = True
            with self.mutex:
                if self.queue:
                    self.queue[0].lead = True
                    self.queue[0].woken.set()
                else:
                    self.leading = False

        def settle(done: Batch, answer: Callable[[], None]) -> None:
            hand_over()  # committed: the next group may be stored while this one settles
            _settle(done, answer)

        try:
            store_group(group, settle, self)
        except Exception as exc:  # noqa: BLE001 - answer every request of the group
            db.session.rollback()
            log.exception("storing a group of webhooks failed")
            for item in group:
                if not item.done:
                    item.finish(error=exc)
        finally:
            hand_over()


def _settle(done: Batch, answer: Callable[[], None]) -> None:
    """After a group's commit: its pages are old and its live events out, then its
    requests answer."""
    try:
        announce(done)
    finally:
        answer()


def store_group(
    group: list[_Item],
    settle: Callable[[Batch, Callable[[], None]], None] = _settle,
    by: _Writer | None = None,
) -> None:
    """Store a group of webhooks in one transaction: texts and receipts many at a time, the rest
    (parts, STOP / START / HELP, receipts that opt a patient out or name no text of ours) held
    as rows and then taken one at a time. `settle` gets what was stored and the call that
    answers its requests, once it is committed (the writer hands the lead on first). `by`: the
    writer whose connection stores it (None: one from the pool). If the transaction fails, each
    webhook is held on its own (the drain stores it), or reported failed if even that fails (the
    request answers 503)."""
    # A copy inside the group gets the first one's outcome.
    original = [0] * len(group)
    first: dict[str, int] = {}
    for i, item in enumerate(group):
        original[i] = first.setdefault(dedupe_key(item.kind, item.params), i)
    unique = [(i, item) for i, item in enumerate(group) if original[i] == i]
    try:
        done, left = _stored(unique, by)
    except Exception:  # noqa: BLE001 - nothing of the group is stored: hold each alone
        log.exception("a group of %d webhooks failed; holding each on its own", len(group))
        for _, item in unique:
            try:
                item.finish("held" if append(item.kind, item.params) else "duplicate")
            except Exception as exc:  # noqa: BLE001 - not held: the request answers 503
                db.session.rollback()
                item.finish(error=exc)
        _copies([(item, group[original[i]]) for i, item in enumerate(group)])
        drain()
        return
    # The stored ones and their copies answer once their pages are replaced.
    stored = [
        (item, done.outcomes[i] if i == original[i] else "duplicate")
        for i, item in enumerate(group)
        if original[i] in done.outcomes
    ]

    def answer() -> None:
        for item, outcome in stored:
            item.finish(outcome)

    settle(done, answer)
    for i, row_id in left:
        outcome = process_one(row_id, group[i].kind, group[i].params)
        group[i].finish(outcome or "held")
    _copies(
        [
            (item, group[original[i]])
            for i, item in enumerate(group)
            if original[i] not in done.outcomes
        ]
    )


def _stored(
    unique: list[tuple[int, _Item]], by: _Writer | None
) -> tuple[Batch, list[tuple[int, int]]]:
    """_store_unique() on the writer's connection, tried a second time when another
    process made the same new patient or conversation a moment ago (read again), or when the
    connection had been dropped (a database restart: a new one)."""
    for attempt in (1, 2):
        try:
            if by is None:
                with db.engine.connect() as conn:
                    return _store_unique(unique, conn)
            return _store_unique(unique, by.connection())
        except IntegrityError:
            if attempt == 2:
                raise
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
            log.warning("the intake's database connection was dropped; reconnecting")
    raise AssertionError("unreachable")


def _store_unique(
    unique: list[tuple[int, _Item]], conn: Connection
) -> tuple[Batch, list[tuple[int, int]]]:
    """One transaction on `conn`: the bulk paths, then the rest held. Returns what was
    stored and the (index, held row id) pairs left for the one-at-a-time way."""
    left: list[tuple[int, int]] = []
    transaction = conn.begin()
    try:
        with ExitStack() as stack:
            claim = _Claim(stack, [], conn)  # on SQLite: the file lock before the first write
            done = _store_bulk([(i, it.kind, it.params) for i, it in unique], claim)
            claim()
            for i, item in unique:
                if i in done.outcomes:
                    continue
                row = conn.execute(_sql()["append"], _append_values(item.kind, item.params))
                row_id = row.scalar()
                if row_id is None:
                    done.outcomes[i] = "duplicate"  # held before: a retry or a replay
                else:
                    left.append((i, row_id))
            transaction.commit()  # before the file lock is let go
    finally:
        if transaction.is_active:
            transaction.rollback()
    return done, left


def _copies(pairs: list[tuple[_Item, _Item]]) -> None:
    """Each (item, the first of its copies in the group): a copy answers as the first."""
    for item, first in pairs:
        if item is not first:
            item.finish("duplicate", first.error)


_writers_lock = threading.Lock()


def writer(app: Flask | None = None) -> _Writer:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get("intake")
    if found is None or found.pid != os.getpid():  # a forked process writes on its own
        with _writers_lock:
            found = app.extensions.get("intake")
            if found is None or found.pid != os.getpid():
                found = app.extensions["intake"] = _Writer()
    return found


class NotHeld(Exception):
    """The webhook could not be stored or held: the request answers 503, Vonage retries."""


def receive(kind: str, params: dict[str, str]) -> str:
    """The request's part: queue the webhook with this process's writer and wait until it
    is stored (or held for the drain), leading its group if its turn comes. Returns the
    outcome; raises NotHeld."""
    item = _Item(kind, params)
    if not writer().store(item, current_app.config["WEBHOOK_STORE_TIMEOUT_SECONDS"]):
        raise NotHeld("not stored in time")
    if item.error is not None:
        raise NotHeld(str(type(item.error).__name__)) from item.error
    return item.outcome or "held"


def signatures_on() -> bool:
    return current_app.config.get("WEBHOOK_SIGNATURES", "on") != "off"


def signature_ok(kind: str, params: dict[str, str]) -> bool:
    """The carrier signed this webhook, recently enough (or signatures are off, said out
    loud at start-up, or the sandbox runs without a secret)."""
    if not signatures_on():
        return True  # explicitly switched off (WEBHOOK_SIGNATURES=off, logged at start)
    settings = numbers.carrier_settings()
    if not settings.signature_secret:
        return True  # the sandbox without a secret; real keys refuse to start like this
    if not carrier.verify_signature(settings, params):
        return False
    try:
        age = time.time() - int(params.get("timestamp", "0"))
    except ValueError:
        return False
    # The carrier's retry span: its retries keep the first try's timestamp (config.py).
    config = current_app.config
    window = config[
        "RECEIPT_MAX_AGE_SECONDS" if kind == KIND_RECEIPT else "WEBHOOK_MAX_AGE_SECONDS"
    ]
    return -config["WEBHOOK_CLOCK_SKEW_SECONDS"] <= age <= window
