"""A patient's text from the inbound webhook: stored once, in the right conversation, in
carrier order, with long texts put back together from their parts.

Idempotency: a text's carrier id is unique among messages, and each part's carrier
id is unique among held parts, so a webhook delivered any number of times, in any
order, stores one message. Parts of one text share (our number, sender, concat-ref,
concat-total). A part commits on its own first; then whoever sees the full set builds
the message under a deterministic id (``concat:`` + part 1's id), so two requests
racing on the last parts build it once. Parts still missing after
``CONCAT_TIMEOUT_SECONDS`` are flushed as what arrived, marked incomplete, and a late
part is merged into that message."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from .. import carrier, events
from ..extensions import db
from ..models import (
    CARRIER_VONAGE,
    DIRECTION_IN,
    KIND_TEXT,
    NUMBER_ACTIVE,
    STATUS_RECEIVED,
    Account,
    Conversation,
    InboundPart,
    InboxNumber,
    Message,
    Patient,
    utcnow,
)
from . import consent, event_hooks, keywords, phones, segments
from .conversation_upkeep import touch_conversations
from .webhook_outcomes import Batch, WebhookResult

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 10_000
MAX_PARTS = 20
MISSING_PART = "[…]"


@dataclass(frozen=True)
class _Concat:
    ref: str
    total: int
    part: int


def _concat(params: dict[str, str]) -> _Concat | None | str:
    """The concat fields, None for a whole text, or a string saying what is wrong."""
    if str(params.get("concat", "")).lower() != "true":
        return None
    ref, total, part = (
        str(params.get("concat-ref", "")),
        str(params.get("concat-total", "")),
        str(params.get("concat-part", "")),
    )
    if not ref or len(ref) > 16 or not total.isdigit() or not part.isdigit():
        return "concat-ref, concat-total and concat-part are required for a concatenated text"
    t, p = int(total), int(part)
    if not 1 <= p <= t <= MAX_PARTS:
        return "concat-part must be between 1 and concat-total"
    return None if t == 1 else _Concat(ref, t, p)


def check(params: dict[str, str]) -> WebhookResult | None:
    """What the request can answer without the database: an empty check request
    (ignored) or fields that can never be stored (invalid). None: to be stored."""
    msisdn, to, carrier_id = params.get("msisdn"), params.get("to"), params.get("messageId")
    if not msisdn and not to and not carrier_id:
        # Vonage GETs the webhook URL with no parameters to check it answers.
        return WebhookResult("ignored", detail="empty check request")
    if not msisdn or not to or not carrier_id:
        return WebhookResult("invalid", detail="msisdn, to and messageId are required")
    try:
        carrier.from_wire(msisdn), carrier.from_wire(to)
    except ValueError:
        return WebhookResult("invalid", detail="msisdn or to is not a phone number")
    if len(carrier_id) > 64 or len(params.get("text") or "") > MAX_TEXT_CHARS:
        return WebhookResult("invalid", detail="field too long")
    concat = _concat(params)
    if isinstance(concat, str):
        return WebhookResult("invalid", detail=concat)
    return None


def receive(params: dict[str, str]) -> WebhookResult:
    """Validate, dedupe, route, store; act on STOP / START / HELP."""
    refused = check(params)
    if refused is not None:
        return refused
    carrier_id, text = params["messageId"], params.get("text") or ""
    patient_phone, our_number = carrier.from_wire(params["msisdn"]), carrier.from_wire(params["to"])
    concat = _concat(params)
    assert not isinstance(concat, str)  # check() refused those
    number = db.session.scalars(
        select(InboxNumber).where(
            InboxNumber.e164 == our_number, InboxNumber.status == NUMBER_ACTIVE
        )
    ).first()
    if number is None:
        return WebhookResult("ignored", detail="not one of our active numbers")
    account = db.session.get(Account, number.account_id)
    if account is None or not account.inbox_enabled:
        return WebhookResult("ignored", detail="inbox disabled")
    sent_at = _order_time(carrier.parse_timestamp(params.get("message-timestamp")), utcnow())
    if concat is not None:
        return _receive_part(number, patient_phone, carrier_id, text, sent_at, concat)
    existing = _message_id_for(carrier_id)
    if existing:
        return WebhookResult("duplicate", existing)
    return _store(number, patient_phone, carrier_id, text, sent_at)


def _order_time(carrier_at: datetime | None, arrived: datetime) -> datetime:
    """The conversation orders by the carrier's timestamp, which has whole seconds only. When
    the text arrived within that second, the arrival time is the same instant, only
    more precise: it keeps a STOP before the confirmation we sent a moment after it."""
    if carrier_at is None:
        return arrived
    if carrier_at <= arrived < carrier_at + timedelta(seconds=1):
        return arrived
    return carrier_at


def _message_id_for(carrier_id: str) -> int | None:
    return db.session.scalar(
        select(Message.id).where(
            Message.carrier == CARRIER_VONAGE, Message.carrier_message_id == carrier_id
        )
    )


def _store(
    number: InboxNumber,
    patient_phone: str,
    carrier_id: str,
    text: str,
    sent_at: datetime,
    *,
    parts: list[InboundPart] | None = None,
    parts_total: int | None = None,
    incomplete: bool = False,
) -> WebhookResult:
    """One new inbound message (and, for a long text, its parts marked as used): the
    batch's writer with a batch of one, in the session's transaction; then STOP / START /
    HELP are acted on."""
    conn = db.session.connection()
    route = _route(conn, [number.e164], [patient_phone])
    new = _NewText(0, number.account_id, number.id, number.e164, patient_phone, carrier_id,
                   text, sent_at, parts_total, incomplete)  # fmt: skip
    written = _write_texts(conn, [new], route)
    message_id, conv_id = written.ids[0], written.conversation_ids[0]
    if message_id is None:
        # The same text, stored a moment ago by another request.
        db.session.rollback()
        return WebhookResult("duplicate", _message_id_for(carrier_id))
    for part in parts or ():
        part.message_id = message_id
    event_hooks.emit(written.hooks)
    account_id = number.account_id  # read before the commit expires it
    db.session.commit()
    events.publish(account_id, events.message_added(conv_id, message_id, inbound=True))
    consent.apply_keyword(db.session.get(Conversation, conv_id), text)
    return WebhookResult("stored", message_id)


# ---- concatenated texts ----------------------------------------------------------------


def _receive_part(
    number: InboxNumber,
    sender: str,
    carrier_id: str,
    text: str,
    sent_at: datetime,
    concat: _Concat,
) -> WebhookResult:
    if db.session.scalar(
        select(InboundPart.id).where(InboundPart.carrier_message_id == carrier_id)
    ):
        return WebhookResult("duplicate", detail="part already held")
    db.session.add(
        InboundPart(
            account_id=number.account_id,
            inbox_number_id=number.id,
            sender=sender,
            concat_ref=concat.ref,
            concat_total=concat.total,
            part=concat.part,
            carrier_message_id=carrier_id,
            text=text,
            sent_at=sent_at,
        )
    )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return WebhookResult("duplicate", detail="part already held")
    return _assemble(number, sender, concat.ref, concat.total)


def _group(number_id: int, sender: str, ref: str, total: int):
    return select(InboundPart).where(
        InboundPart.inbox_number_id == number_id,
        InboundPart.sender == sender,
        InboundPart.concat_ref == ref,
        InboundPart.concat_total == total,
    )


def _body(parts: list[InboundPart], total: int) -> str:
    by_number = {p.part: p.text for p in parts}
    return "".join(by_number.get(n, MISSING_PART) for n in range(1, total + 1))


def _assemble(number: InboxNumber, sender: str, ref: str, total: int) -> WebhookResult:
    """Build the message if every part is here; merge into an incomplete one if this
    is a late part; otherwise hold."""
    horizon = utcnow() - timedelta(days=1)  # concat-ref is one byte: it wraps
    pending = list(
        db.session.scalars(
            _group(number.id, sender, ref, total).where(
                InboundPart.message_id.is_(None), InboundPart.received_at >= horizon
            )
        )
    )
    if not pending:
        return WebhookResult("duplicate", detail="already assembled")
    late = _incomplete_message(number.id, sender, ref, total, {p.part for p in pending})
    if late is not None:
        return _merge_late(late, pending)
    unique = {p.part: p for p in pending}
    if len(unique) < total:
        return WebhookResult("held", detail=f"{len(unique)} of {total} parts")
    return _store_parts(number, sender, pending, total)


def _store_parts(
    number: InboxNumber, sender: str, parts: list[InboundPart], total: int
) -> WebhookResult:
    """One message from the parts of a long text (all of them, or what arrived). Its id
    derives from the lowest part's, so whoever builds it first is the only one."""
    unique: dict[int, InboundPart] = {}
    for p in sorted(parts, key=lambda p: (p.part, p.id or 0)):
        unique.setdefault(p.part, p)
    kept = list(unique.values())
    return _store(
        number,
        sender,
        "concat:" + kept[0].carrier_message_id,
        _body(kept, total),
        min(p.sent_at for p in kept),
        parts=parts,
        parts_total=total,
        incomplete=len(kept) < total,
    )


def _incomplete_message(
    number_id: int, sender: str, ref: str, total: int, new_parts: set[int]
) -> Message | None:
    """The incomplete message (flushed after the timeout) these parts belong to."""
    horizon = utcnow() - timedelta(days=1)
    rows = db.session.execute(
        _group(number_id, sender, ref, total)
        .with_only_columns(InboundPart.message_id, InboundPart.part)
        .join(Message, Message.id == InboundPart.message_id)
        .where(Message.incomplete.is_(True), InboundPart.received_at >= horizon)
    ).all()
    taken: dict[int, set[int]] = {}
    for message_id, part in rows:
        taken.setdefault(message_id, set()).add(part)
    for message_id, parts in sorted(taken.items()):
        if not parts & new_parts:
            return db.session.get(Message, message_id)
    return None


def _merge_late(message: Message, pending: list[InboundPart]) -> WebhookResult:
    for part in pending:
        part.message_id = message.id
    db.session.flush()
    parts = list(
        db.session.scalars(select(InboundPart).where(InboundPart.message_id == message.id))
    )
    total = message.parts_total or len(parts)
    message.body = _body(parts, total)
    message.incomplete = len({p.part for p in parts}) < total
    message.sent_at = min([message.sent_at, *(p.sent_at for p in parts)])
    db.session.commit()
    events.publish(message.account_id, events.status_changed(message.conversation_id, message.id))
    return WebhookResult("stored", message.id, detail="late part merged")


def flush_stale_parts(now: datetime | None = None, timeout: float | None = None) -> int:
    """Parts waiting longer than the timeout for their siblings become a message of
    what arrived, marked incomplete. Returns how many messages were made."""
    now = now or utcnow()
    timeout = timeout if timeout is not None else current_app.config["CONCAT_TIMEOUT_SECONDS"]
    cutoff = now - timedelta(seconds=timeout)
    groups = db.session.execute(
        select(
            InboundPart.inbox_number_id,
            InboundPart.sender,
            InboundPart.concat_ref,
            InboundPart.concat_total,
        )
        .where(InboundPart.message_id.is_(None))
        .group_by(
            InboundPart.inbox_number_id,
            InboundPart.sender,
            InboundPart.concat_ref,
            InboundPart.concat_total,
        )
        .having(func.max(InboundPart.received_at) < cutoff)
    ).all()
    made = 0
    for number_id, sender, ref, total in groups:
        number = db.session.get(InboxNumber, number_id)
        parts = list(
            db.session.scalars(
                _group(number_id, sender, ref, total)
                .where(InboundPart.message_id.is_(None))
                .order_by(InboundPart.part, InboundPart.id)
            )
        )
        if number is None or number.status != NUMBER_ACTIVE:
            # The number was released: its texts are no longer taken in.
            db.session.execute(delete(InboundPart).where(InboundPart.id.in_([p.id for p in parts])))
            db.session.commit()
            continue
        if not parts:
            continue
        result = _store_parts(number, sender, parts, total)
        made += result.outcome == "stored"
        log.info("flushed %s of %s parts as an incomplete message", len(parts), total)
    return made


# ---- many at a time (the intake's batches) -----------------------------------------------


@cache
def _batch_statements(dialect: str) -> dict:
    """Built once per database kind: a batch's statements, with expanding IN lists."""
    n, a, m = InboxNumber.__table__, Account.__table__, Message.__table__
    p, c = Patient.__table__, Conversation.__table__
    return {
        # One read for the routing: each active number the group was sent to, with the
        # senders already known to its account and their conversations on it (if any).
        "route": select(
            n.c.id,
            n.c.e164,
            n.c.account_id,
            a.c.inbox_enabled,
            p.c.id,
            p.c.phone,
            p.c.home_clinic_id,
            p.c.opted_out_at,
            c.c.id,
        )
        .join(a, a.c.id == n.c.account_id)
        .outerjoin(
            p,
            (p.c.account_id == n.c.account_id) & p.c.phone.in_(bindparam("phones", expanding=True)),
        )
        .outerjoin(c, (c.c.inbox_number_id == n.c.id) & (c.c.patient_id == p.c.id))
        .where(n.c.e164.in_(bindparam("e164s", expanding=True)), n.c.status == NUMBER_ACTIVE),
        "known": select(m.c.carrier_message_id).where(
            m.c.carrier == CARRIER_VONAGE,
            m.c.carrier_message_id.in_(bindparam("ids", expanding=True)),
        ),
        # A copy of a text already stored is skipped by the carrier's unique id.
        "insert": (postgresql if dialect == "postgresql" else sqlite)
        .insert(m)
        .on_conflict_do_nothing(index_elements=["carrier", "carrier_message_id"])
        .returning(m.c.id, m.c.carrier_message_id),
        "new_patients": insert(p).returning(p.c.id, sort_by_parameter_order=True),
        "new_conversations": insert(c).returning(c.c.id, sort_by_parameter_order=True),
    }


@dataclass
class _Route:
    """What the routing read found: each active number the texts were sent to, its
    account and whether its Inbox is on; the senders its account knows; their conversations."""

    numbers: dict[str, tuple[int, int, bool]]  # e164 -> (number id, account id, inbox on)
    patients: dict[tuple[int, str], tuple[int, int | None, bool]]  # (account, phone) -> ...
    conversations: dict[tuple[int, int], int]  # (number id, patient id) -> conversation id


def _route(conn: Connection, e164s: list[str], senders: list[str]) -> _Route:
    route = _Route({}, {}, {})
    sql = _batch_statements(conn.dialect.name)
    params = {"e164s": sorted(set(e164s)), "phones": sorted(set(senders))}
    for row in conn.execute(sql["route"], params):
        number_id, e164, account_id, enabled, patient_id, phone, clinic_id, opted_out, conv = row
        route.numbers[e164] = (number_id, account_id, enabled)
        if patient_id is not None:
            route.patients[(account_id, phone)] = (patient_id, clinic_id, opted_out is not None)
        if conv is not None:
            route.conversations[(number_id, patient_id)] = conv
    return route


@dataclass(frozen=True)
class _NewText:
    key: int  # the caller's (the intake's row id)
    account_id: int
    number_id: int
    to: str
    sender: str
    carrier_id: str
    text: str
    sent_at: datetime
    parts_total: int | None = None  # a long text put back together from its parts
    incomplete: bool = False  # ... from the parts that arrived before the timeout


@dataclass
class _Written:
    ids: list[int | None]  # each text's message id; None: stored before (a copy)
    conversation_ids: list[int]
    hooks: list[event_hooks.Event]  # the event webhooks of the stored ones, to emit


def _write_texts(
    conn: Connection, texts: list[_NewText], route: _Route, claim: Callable[[], None] = lambda: None
) -> _Written:
    """The one writer of inbound texts: each new sender made a patient (an unknown sender)
    with a conversation on our number under their home clinic, the messages inserted (a copy of
    one already stored is skipped by the carrier's unique id), and the list's columns
    moved, on `conn`'s transaction. Commits nothing; calls claim() before its first write."""
    now = utcnow()
    rows = []
    for t in texts:  # built before the write lock (SQLite: one writer, machine-wide)
        info = segments.count(t.text)
        rows.append(
            {
                "account_id": t.account_id, "conversation_id": None, "direction": DIRECTION_IN,
                "body": t.text, "from_number": t.sender, "to_number": t.to,
                "status": STATUS_RECEIVED, "carrier": CARRIER_VONAGE,
                "carrier_message_id": t.carrier_id,
                "segments": t.parts_total or max(info.segments, 1), "encoding": info.encoding,
                "sent_at": t.sent_at, "created_at": now, "kind": KIND_TEXT,
                "parts_total": t.parts_total, "incomplete": t.incomplete,
            }
        )  # fmt: skip
    claim()  # the writes start here
    sql = _batch_statements(conn.dialect.name)
    patients, conversations = route.patients, route.conversations
    new = sorted({(t.account_id, t.sender) for t in texts} - set(patients))
    if new:
        made = conn.execute(
            sql["new_patients"],
            [
                {"account_id": a, "phone": e164, "phone_digits": phones.national_digits(e164),
                 "unknown_sender": True, "created_at": utcnow()}
                for a, e164 in new
            ],
        ).scalars()  # fmt: skip
        patients.update({key: (pid, None, False) for key, pid in zip(new, made, strict=True)})
    wanted = {(t.number_id, t.account_id, patients[(t.account_id, t.sender)]) for t in texts}
    starts = sorted(
        (number_id, account_id, patient)
        for number_id, account_id, patient in wanted
        if (number_id, patient[0]) not in conversations
    )
    if starts:
        made = conn.execute(
            sql["new_conversations"],
            [
                {"account_id": account_id, "inbox_number_id": number_id, "patient_id": pid,
                 "clinic_id": clinic_id, "opted_out": opted_out, "created_at": utcnow()}
                for number_id, account_id, (pid, clinic_id, opted_out) in starts
            ],
        ).scalars()  # fmt: skip
        for (number_id, _, (pid, *_)), conv_id in zip(starts, made, strict=True):
            conversations[(number_id, pid)] = conv_id
    for row, t in zip(rows, texts, strict=True):
        row["conversation_id"] = conversations[(t.number_id, patients[(t.account_id, t.sender)][0])]
    stored = {
        carrier_id: message_id for message_id, carrier_id in conn.execute(sql["insert"], rows)
    }
    written = _Written([], [row["conversation_id"] for row in rows], [])
    newest: dict[int, dict] = {}
    for row, t in zip(rows, texts, strict=True):
        message_id = stored.get(t.carrier_id)
        written.ids.append(message_id)
        if message_id is None:
            continue
        conv_id = row["conversation_id"]
        written.hooks.append(
            event_hooks.message_received(
                t.account_id, message_id, conv_id, patients[(t.account_id, t.sender)][0], t.sent_at
            )
        )
        if conv_id not in newest or row["sent_at"] >= newest[conv_id]["sent_at"]:
            newest[conv_id] = row
    touch_conversations(
        [(cid, r["sent_at"], r["body"], DIRECTION_IN) for cid, r in newest.items()],
        unread=True,
        conn=conn,
    )
    return written


def store_batch(
    items: list[tuple[int, dict[str, str]]], claim: Callable[[], None], conn: Connection
) -> Batch:
    """Store many inbound texts in a few statements, as receive() stores each: whole
    texts (no parts, no STOP / START / HELP) to one of our active numbers. On the caller's
    transaction on `conn`; it commits nothing.
    What it leaves (no outcome: parts, keywords) goes through receive(). It reads first
    and calls claim() before its first write."""
    done = Batch()
    plain: list[tuple[int, dict[str, str], str, str]] = []
    for row_id, params in items:
        if _concat(params) is not None:  # check() passed at the door
            continue
        if keywords.classify(params.get("text") or "") is not None:
            continue
        to = carrier.from_wire(params["to"])
        plain.append((row_id, params, carrier.from_wire(params["msisdn"]), to))
    if not plain:
        return done
    route = _route(conn, [to for *_, to in plain], [sender for _, _, sender, _ in plain])
    routed: list[tuple[int, dict[str, str], str, str, tuple[int, int, bool]]] = []
    for row_id, params, sender, to in plain:
        number = route.numbers.get(to)
        if number is None or not number[2]:
            done.outcomes[row_id] = "ignored"  # not one of our active numbers / inbox off
        else:
            routed.append((row_id, params, sender, to, number))

    # A copy (Vonage's retry, a replay) of a stored text finds its patient and conversation, and
    # the insert skips it. A text that would make a patient or a conversation is looked up
    # first, so a copy never makes one (its sender's phone may have changed since).
    def has_conversation(sender: str, number_id: int, account_id: int) -> bool:
        patient = route.patients.get((account_id, sender))
        return patient is not None and (number_id, patient[0]) in route.conversations

    making = [
        params["messageId"]
        for _, params, sender, _, (number_id, account_id, _) in routed
        if not has_conversation(sender, number_id, account_id)
    ]
    if making:
        sql = _batch_statements(conn.dialect.name)
        known = set(conn.execute(sql["known"], {"ids": making}).scalars().all())
        for row_id, params, *_ in routed:
            if params["messageId"] in known:
                done.outcomes[row_id] = "duplicate"
        routed = [r for r in routed if r[0] not in done.outcomes]
    if not routed:
        return done
    now = utcnow()
    texts = [
        _NewText(row_id, account_id, number_id, to, sender, params["messageId"],
                 params.get("text") or "",
                 _order_time(carrier.parse_timestamp(params.get("message-timestamp")), now))
        for row_id, params, sender, to, (number_id, account_id, _) in routed
    ]  # fmt: skip
    written = _write_texts(conn, texts, route, claim)
    for t, message_id, conv_id in zip(texts, written.ids, written.conversation_ids, strict=True):
        if message_id is None:
            done.outcomes[t.key] = "duplicate"  # stored before: a retry or a replay
            continue
        done.outcomes[t.key] = "stored"
        done.accounts.add(t.account_id)
        done.events.append((t.account_id, events.message_added(conv_id, message_id, inbound=True)))
    done.webhooks += event_hooks.emit(written.hooks, conn)  # one read, one INSERT if subscribed
    return done
