"""Event webhooks out, the sending: RQ jobs send the due deliveries (`deliver_due`),
signed per the Standard Webhooks specification, each try claimed by one worker with a
conditional UPDATE (a lease), retried on a backoff schedule for 24 hours (the last try at
the 24-hour mark). An endpoint failing for that long is turned off and its Main Admin
told. The sweep queues the job again for rows whose job Redis lost. Nothing here runs in
a web request. In production each try connects only to an address checked as public at
that very connection (no second DNS lookup a rebinding could answer otherwise).
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from sqlalchemy import bindparam, select, update
from standardwebhooks import Webhook
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError
from urllib3.util.connection import allowed_gai_family

from ..extensions import db
from ..models import (
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_PENDING,
    ROLE_MAIN_ADMIN,
    Message,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from . import mail
from .event_hooks import kick
from .hook_endpoints import EndpointRefused, is_public_address, public_addresses

log = logging.getLogger(__name__)

CLAIM_BATCH = 20  # claimed, sent one by one, recorded together
JOB_SECONDS = 30.0  # one job sends for at most this long, then queues the next
USER_AGENT = "ClinicInbox-Webhooks/1"
# For the failure clock, a try made within this long of when it was due counts as made when
# it was due (a first try: when its event was written), so the try at the give-up mark
# finds the whole span failed; a later one (workers were down) counts from when it was made.
ON_TIME_SECONDS = 60.0


def next_try_at(
    created_at: datetime,
    now: datetime,
    attempts: int,
    *,
    schedule: Sequence[float],
    give_up: float,
) -> datetime | None:
    """When try number `attempts + 1` of a delivery created at `created_at` is due, after
    a failed try ending `now`; None when its tries are over. Tries follow `schedule`
    (seconds before each; the last repeats) until `give_up` seconds after the delivery was
    created: a try the schedule would put later is made at that mark instead (the final
    try), so the tries span the whole give-up time; a try ending at or after it was the
    final one."""
    deadline = created_at + timedelta(seconds=give_up)
    if now >= deadline:
        return None
    delay = schedule[min(attempts, len(schedule) - 1)]
    return min(now + timedelta(seconds=delay), deadline)


@dataclass
class Outcome:
    code: int | None
    latency_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


@dataclass
class DeliverResult:
    delivered: int = 0
    failed: int = 0
    gave_up: int = 0
    disabled: list[int] = field(default_factory=list)


def _claim(now: datetime) -> list[int]:
    """Take up to CLAIM_BATCH due rows of enabled endpoints: each by a conditional UPDATE
    that only one worker can win, which also counts the try."""
    t = WebhookDelivery.__table__
    e = WebhookEndpoint.__table__
    candidates = db.session.scalars(
        select(t.c.id)
        .join(e, e.c.id == t.c.endpoint_id)
        .where(
            t.c.state == DELIVERY_PENDING,
            t.c.next_attempt_at <= now,
            e.c.enabled.is_(True),
            (t.c.leased_until.is_(None)) | (t.c.leased_until < now),
        )
        .order_by(t.c.next_attempt_at, t.c.id)
        .limit(CLAIM_BATCH)
    ).all()
    db.session.rollback()
    if not candidates:
        return []
    # One conditional UPDATE for the batch: a row another worker took since (leased, or
    # no longer pending) fails the WHERE and is not returned (PostgreSQL re-checks it
    # after the other's commit; SQLite has one writer at a time).
    # Longer than the batch can take: every POST of it timing out, plus a margin.
    lease = now + timedelta(
        seconds=CLAIM_BATCH * current_app.config["WEBHOOK_TIMEOUT_SECONDS"] + 30
    )
    won = db.session.scalars(
        update(t)
        .where(
            t.c.id.in_(candidates),
            t.c.state == DELIVERY_PENDING,
            (t.c.leased_until.is_(None)) | (t.c.leased_until < now),
        )
        .values(leased_until=lease, attempts=t.c.attempts + 1, last_attempt_at=now)
        .returning(t.c.id)
    ).all()
    db.session.commit()
    return sorted(won)


@dataclass(frozen=True)
class _Claimed:
    """A claimed delivery with what sending it needs, read in one query per batch."""

    id: int
    endpoint_id: int
    url: str
    secret: str
    webhook_id: str
    payload: str
    message_id: int | None
    include_text: bool
    attempts: int
    created_at: datetime
    due_at: datetime  # when this try was due
    tried_at: datetime  # when it was claimed


def _load(ids: list[int]) -> list[_Claimed]:
    t, e = WebhookDelivery.__table__, WebhookEndpoint.__table__
    rows = db.session.execute(
        select(t.c.id, t.c.endpoint_id, e.c.url, e.c.secret, t.c.webhook_id, t.c.payload,
               t.c.message_id, e.c.include_text, t.c.attempts, t.c.created_at,
               t.c.next_attempt_at, t.c.last_attempt_at)
        .join(e, e.c.id == t.c.endpoint_id)
        .where(t.c.id.in_(ids))
        .order_by(t.c.id)
    ).all()  # fmt: skip
    claimed = [_Claimed(*row) for row in rows]
    db.session.rollback()  # no transaction held open over the network
    return claimed


def _texts(claimed: list[_Claimed]) -> dict[int, str]:
    """The texts an endpoint with "Include message text" gets, in one query."""
    wanted = {c.message_id for c in claimed if c.include_text and c.message_id}
    if not wanted:
        return {}
    texts = dict(
        db.session.execute(select(Message.id, Message.body).where(Message.id.in_(wanted))).all()
    )
    db.session.rollback()
    return texts


def body_for(c: _Claimed, texts: dict[int, str]) -> str:
    """The JSON sent: the stored payload, plus the text for an endpoint that asked."""
    if not (c.include_text and c.message_id in texts):
        return c.payload
    payload = json.loads(c.payload)
    payload["data"]["text"] = texts[c.message_id]
    return json.dumps(payload, separators=(",", ":"))


def sign(secret: str, webhook_id: str, at: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of one try."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
    }


class _PublicOnly:
    """Server-side request forgery, at the connection (production): the host is resolved
    once, every address must be public, and the socket is connected to one of those very
    addresses, so a DNS answer that changes between a check and the connection (DNS
    rebinding) reaches nothing private; the connected peer is checked once more. The name
    still goes in the Host header, the TLS server name and the certificate check."""

    host: str
    port: int
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        name = self._dns_host
        error: Exception | None = None
        for address in public_addresses(name.strip("[]"), self.port, allowed_gai_family()):
            self._dns_host = address  # urllib3 connects to this literal: no lookup of its own
            try:
                sock: socket.socket = super()._new_conn()  # type: ignore[misc]
            except ConnectTimeoutError as exc:  # and NewConnectionError: the next address
                error = exc
                continue
            finally:
                self._dns_host = name
            peer = str(sock.getpeername()[0])
            if not is_public_address(peer):
                sock.close()
                raise EndpointRefused(
                    f"The host {self.host} connected to a private or local address ({peer});"
                    " events go only to public ones."
                )
            return sock
        assert error is not None  # public_addresses returns one address at least
        raise error


class _PublicHTTPConnection(_PublicOnly, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicOnly, HTTPSConnection):
    pass


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicOnlyAdapter(HTTPAdapter):
    """Requests' adapter whose connections reach public addresses only."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PublicHTTPPool,
            "https": _PublicHTTPSPool,
        }


def _session(*, public_only: bool) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: the address checked is used
    if public_only:
        adapter = _PublicOnlyAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


# Two sessions, never one pool for both: a connection opened where loopback is allowed
# (development, tests) is never reused where it is not.
_http = _session(public_only=False)
_http_public = _session(public_only=True)


def post(url: str, body: str, headers: dict[str, str]) -> Outcome:
    """One try: a POST with a short timeout, following no redirect. Where private
    addresses are refused (production), the host is resolved and checked when the
    connection is made, and only the address checked is connected to (DNS may have
    changed since the URL was saved, or change again between two lookups)."""
    cfg = current_app.config
    started = time.perf_counter()
    try:
        if cfg.get("WEBHOOK_REQUIRE_HTTPS") and urlsplit(url).scheme != "https":
            raise EndpointRefused("the URL is not https")
        http = _http if cfg.get("WEBHOOK_ALLOW_PRIVATE") else _http_public
        response = http.post(
            url,
            data=body.encode(),
            headers={**headers, "content-type": "application/json", "user-agent": USER_AGENT},
            timeout=cfg["WEBHOOK_TIMEOUT_SECONDS"],
            allow_redirects=False,
        )
        response.close()
        code, error = response.status_code, None
        if not 200 <= code < 300:
            error = f"The endpoint answered {code}" + (
                " (a redirect: redirects are not followed)" if 300 <= code < 400 else ""
            )
    except EndpointRefused as exc:
        code, error = None, f"Refused: {exc}"
    except requests.Timeout:
        code, error = None, f"No answer within {cfg['WEBHOOK_TIMEOUT_SECONDS']:g} seconds"
    except requests.RequestException as exc:
        code, error = None, f"Could not connect ({type(exc).__name__})"
    return Outcome(code, int((time.perf_counter() - started) * 1000), error)


def _send(claimed: list[_Claimed], result: DeliverResult) -> None:
    """Send a claimed batch, one POST at a time, then record every outcome at once."""
    texts = _texts(claimed)
    outcomes = []
    for c in claimed:
        body = body_for(c, texts)
        at = datetime.now(UTC)
        outcomes.append((c, post(c.url, body, sign(c.secret, c.webhook_id, at, body))))
    _record(outcomes, result)


_DONE = (
    update(WebhookDelivery.__table__)
    .where(WebhookDelivery.__table__.c.id == bindparam("d_id"))
    .values(
        state=bindparam("d_state"),
        response_code=bindparam("d_code"),
        latency_ms=bindparam("d_ms"),
        last_error=bindparam("d_error"),
        next_attempt_at=bindparam("d_next"),
        delivered_at=bindparam("d_at"),
        leased_until=None,
    )
)


def _record(outcomes: list[tuple[_Claimed, Outcome]], result: DeliverResult) -> None:
    """One UPDATE (executemany) for the batch's deliveries, then each endpoint's failure
    clock (`failing_since`): the first failure of the current unbroken run, reset by a
    success. A failed try `WEBHOOK_DISABLE_AFTER_SECONDS` into the run disables the
    endpoint and tells the Main Admin. A run is over when its last delivery gives up and
    none is left to try: a quiet spell follows, and the next failure starts a new run."""
    cfg = current_app.config
    now = utcnow()
    schedule, give_up = cfg["WEBHOOK_RETRY_SCHEDULE"], cfg["WEBHOOK_GIVE_UP_SECONDS"]
    rows = []
    tries: dict[int, list[tuple[_Claimed, Outcome]]] = {}
    gave_up: set[int] = set()
    for c, outcome in outcomes:
        row = {
            "d_id": c.id,
            "d_code": outcome.code,
            "d_ms": outcome.latency_ms,
            "d_error": outcome.error and outcome.error[:255],
            "d_next": None,
            "d_at": None,
        }
        if outcome.ok:
            row |= {"d_state": DELIVERY_DELIVERED, "d_at": now}
            result.delivered += 1
        else:
            result.failed += 1
            retry_at = next_try_at(
                c.created_at, now, c.attempts, schedule=schedule, give_up=give_up
            )
            if retry_at is None:
                row["d_state"] = DELIVERY_FAILED
                result.gave_up += 1
                gave_up.add(c.endpoint_id)
            else:
                row |= {"d_state": DELIVERY_PENDING, "d_next": retry_at}
        tries.setdefault(c.endpoint_id, []).append((c, outcome))
        rows.append(row)
    db.session.execute(_DONE, rows)
    span = cfg["WEBHOOK_DISABLE_AFTER_SECONDS"]
    told = []
    for endpoint_id, made in sorted(tries.items()):  # locked in one order: no deadlock
        # Locked: two workers recording one endpoint's tries must not overwrite each
        # other's clock (a stale failure after a fresh success would disable it).
        endpoint = db.session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
        if endpoint is None:  # deleted meanwhile (its deliveries went with it)
            continue
        since = endpoint.failing_since
        for c, outcome in made:  # in the order they were made: a success resets the clock
            if outcome.ok:
                since = None
            elif since is None:
                since = max(c.due_at, c.tried_at - timedelta(seconds=ON_TIME_SECONDS))
        endpoint.failing_since = since
        if since is None or not endpoint.enabled:
            continue
        if now - since >= timedelta(seconds=span):
            hours = f"{span / 3600:g} hours" if span >= 3600 else f"{span:g} seconds"
            last = made[-1][1].error or "no answer"
            endpoint.enabled = False
            endpoint.disabled_at = now
            reason = f"Every delivery failed for {hours}; the last: {last}"
            endpoint.disabled_reason = reason[:255]
            result.disabled.append(endpoint.id)
            told.append(endpoint)
        elif endpoint_id in gave_up and not _pending(endpoint):
            endpoint.failing_since = None  # the run is over: nothing of it is left to try
    db.session.commit()
    for endpoint in told:
        _tell_main_admin(endpoint)


def _pending(endpoint: WebhookEndpoint) -> bool:
    """Whether any delivery of the endpoint is still to be tried (in this transaction:
    the batch just recorded counts as it now stands)."""
    t = WebhookDelivery.__table__
    return (
        db.session.scalar(
            select(t.c.id)
            .where(
                t.c.account_id == endpoint.account_id,
                t.c.endpoint_id == endpoint.id,
                t.c.state == DELIVERY_PENDING,
            )
            .limit(1)
        )
        is not None
    )


def _tell_main_admin(endpoint: WebhookEndpoint) -> None:
    """An email to the Main Admin: which endpoint, why, where to turn it back on."""
    admin = db.session.scalars(
        select(User).where(User.account_id == endpoint.account_id, User.role == ROLE_MAIN_ADMIN)
    ).first()
    log.warning("webhook endpoint %s disabled: %s", endpoint.id, endpoint.disabled_reason)
    if admin is None or not mail.configured():
        return
    base = current_app.config["PUBLIC_BASE_URL"]
    page = f"{base}/settings/integrations/webhooks/{endpoint.id}"
    mail.queue(
        mail.render(
            "webhook_disabled",
            admin.email,
            "A webhook endpoint was turned off",
            user=admin,
            endpoint=endpoint,
            url=page,
        )
    )


def deliver_due(seconds: float = JOB_SECONDS) -> DeliverResult:
    """The job: send every due delivery (for at most `seconds`), then queue the job again
    for when the next retry is due."""
    result = DeliverResult()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        claimed = _claim(utcnow())
        if not claimed:
            break
        _send(_load(claimed), result)
    else:
        kick()  # more are due than one job sends: the next job goes on
        return result
    _schedule_next()
    return result


def _next_due() -> datetime | None:
    """When a delivery next needs a try: the soonest due row of an enabled endpoint (a
    row a worker holds counts from when its lease runs out)."""
    t, e = WebhookDelivery.__table__, WebhookEndpoint.__table__
    pending = (
        select(t.c.next_attempt_at, t.c.leased_until)
        .join(e, e.c.id == t.c.endpoint_id)
        .where(t.c.state == DELIVERY_PENDING, e.c.enabled.is_(True))
    )
    now = utcnow()
    free = db.session.scalar(
        pending.where((t.c.leased_until.is_(None)) | (t.c.leased_until < now))
        .with_only_columns(t.c.next_attempt_at)
        .order_by(t.c.next_attempt_at)
        .limit(1)
    )
    held = db.session.scalar(
        pending.where(t.c.leased_until >= now)
        .with_only_columns(t.c.leased_until)
        .order_by(t.c.leased_until)
        .limit(1)
    )
    db.session.rollback()
    times = [x for x in (free, held) if x is not None]
    return min(times) if times else None


def _schedule_next() -> None:
    soonest = _next_due()
    if soonest is not None:
        kick(delay=max((soonest - utcnow()).total_seconds(), 0.001))


def sweep() -> bool:
    """From the periodic sweep: queue the job if a delivery is due (its job was lost with
    Redis, or a worker died holding its lease)."""
    soonest = _next_due()
    if soonest is not None and soonest <= utcnow():
        return kick()
    return False
