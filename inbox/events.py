"""Live events over Redis pub/sub. Only this module knows the channel names.
Events carry ids, never patient text.

publish() works from web requests and RQ jobs alike. Each web process runs one listener
thread, started lazily on the first websocket (so after gunicorn forks), that hands every
event of an account to that process's sockets of the account."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from flask import Flask

from .broker import get_redis, redis_url

log = logging.getLogger(__name__)
PREFIX = "clinic-inbox:account:"

Handler = Callable[[dict[str, Any]], None]

# The events: one constructor each; live.py renders them. Ids only, never patient text.
MESSAGE = "message"  # a text was added to a conversation (in or out)
STATUS = "status"  # a text changed: its delivery status, or a late part merged into it
READ = "read"  # conversations were marked read or unread
CONSENT = "consent"  # a patient opted out or back in (their conversations' banners)
# Who may see what changed (the Inbox turned off, a teammate's privileges saved; with a
# "user_id", that user's tabs only): each tab re-checks and re-reads, or closes.
ACCESS = "access"
RESYNC = "resync"  # a tab's own: its socket reconnected, or it may have missed events


def message_added(conversation_id: int, message_id: int, *, inbound: bool = False) -> dict:
    event: dict[str, Any] = {"type": MESSAGE, "conversation_id": conversation_id, "id": message_id}
    if inbound:
        event["direction"] = "in"  # a patient's text: the tabs' alert and sound
    return event


def status_changed(conversation_id: int, message_id: int, status: str | None = None) -> dict:
    event: dict[str, Any] = {"type": STATUS, "conversation_id": conversation_id, "id": message_id}
    if status is not None:
        event["status"] = status
    return event


def read_changed(conversation_ids: list[int]) -> dict:
    return {"type": READ, "conversation_ids": list(conversation_ids)}


def consent_changed(conversation_ids: list[int]) -> dict:
    return {"type": CONSENT, "conversation_ids": list(conversation_ids)}


def access_changed(user_id: int | None = None) -> dict:
    """Every tab of the account re-checks (None), or that user's tabs."""
    return {"type": ACCESS} if user_id is None else {"type": ACCESS, "user_id": user_id}


def resync() -> dict:
    return {"type": RESYNC}


def channel(account_id: int, db: int = 0) -> str:
    """An account's channel. Pub/sub is server-wide (a Redis database number does not
    scope it), so a database other than 0 is in the name: installs, or test workers, on
    different databases of one Redis server never hear each other's events."""
    return f"{channel_prefix(db)}{account_id}"


def channel_prefix(db: int) -> str:
    return f"clinic-inbox:db{db}:account:" if db else PREFIX


def redis_db(client: redis.Redis | redis.client.Pipeline) -> int:
    return int(client.connection_pool.connection_kwargs.get("db") or 0)


def publish(account_id: int, event: dict, app: Flask | None = None) -> None:
    """Best effort: a lost event costs a live update, never data (pages re-read the DB,
    and every tab resynchronises when its socket reconnects)."""
    try:
        client = get_redis(app)
        client.publish(channel(account_id, redis_db(client)), json.dumps(event))
    except redis.RedisError:
        log.warning("could not publish %s for account %s", event.get("type"), account_id)


def publish_many(events: list[tuple[int, dict]], app: Flask | None = None) -> None:
    """publish() for a batch: one round trip to Redis."""
    if not events:
        return
    try:
        pipe = get_redis(app).pipeline(transaction=False)
        add_publishes(pipe, events)
        pipe.execute()
    except redis.RedisError:
        log.warning("could not publish %d events", len(events))


def add_publishes(pipe: redis.client.Pipeline, events: list[tuple[int, dict]]) -> None:
    """The PUBLISH commands of these (account id, event) pairs, onto the caller's pipeline
    (which sends them together with its own commands, in order)."""
    db = redis_db(pipe)
    for account_id, event in events:
        pipe.publish(channel(account_id, db), json.dumps(event))


class Listener:
    """One pub/sub connection per process, fanning events out to local subscribers."""

    CONFIRM_WITHIN_SECONDS = 5.0  # for Redis to confirm the subscription

    def __init__(self, app: Flask) -> None:
        self.url = redis_url(app)  # bound once: a later change to the app's config is not ours
        self.prefix = PREFIX  # its database's, once connected
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.subscribers: dict[int, set[Handler]] = {}
        # Named in Redis's CLIENT LIST: an operator (or a test) can tell this process's
        # pub/sub connection from every other one on the server.
        self.name = f"inbox-live-{self.pid}-{id(self):x}"
        # Set while Redis has confirmed the subscription: a socket opened before it would
        # miss what is published in between (the first socket of a fresh process).
        self.ready = threading.Event()
        self.failing = False  # the connection is lost: its sockets resync when it is back
        self.missed = False  # a socket stopped waiting for the first subscription
        self.thread = threading.Thread(target=self._run, name="live-listener", daemon=True)
        self.thread.start()

    def subscribe(self, account_id: int, handler: Handler) -> None:
        with self.lock:
            self.subscribers.setdefault(account_id, set()).add(handler)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until Redis has confirmed the subscription, so that whatever is published
        from now on reaches this process. False at once while Redis is lost (its sockets
        resync when it is back), and after `timeout` (they resync once it is there)."""
        deadline = time.monotonic() + timeout
        while not self.ready.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
            if self.failing:
                return False  # its first try failed: the resync comes when Redis is back
            if time.monotonic() >= deadline:
                self.missed = True
                return False
        return True

    def unsubscribe(self, account_id: int, handler: Handler) -> None:
        with self.lock:
            handlers = self.subscribers.get(account_id)
            if handlers is not None:
                handlers.discard(handler)
                if not handlers:
                    del self.subscribers[account_id]

    def _dispatch(self, account_id: int, event: dict[str, Any]) -> None:
        with self.lock:
            handlers = list(self.subscribers.get(account_id, ()))
        for handler in handlers:
            try:
                handler(event)
            except Exception:  # noqa: BLE001 - one broken socket must not stop the others
                log.exception("live handler failed")

    def _connect(self) -> redis.client.PubSub:
        # Its own client: the shared one has a 5 s read timeout, which on an idle pub/sub
        # connection would look like a lost Redis every 5 s and resync every tab. Here a read
        # waits at most a second, and a ping every 10 s notices a server that went away.
        client = redis.Redis.from_url(
            self.url, socket_connect_timeout=2, health_check_interval=10, client_name=self.name
        )
        pubsub = client.pubsub()
        self.prefix = channel_prefix(redis_db(client))
        pubsub.psubscribe(self.prefix + "*")
        # Listening once Redis says so: a publish it serves before the PSUBSCRIBE would be
        # missed by a socket (or a resync) that took the sending of it for listening.
        deadline = time.monotonic() + self.CONFIRM_WITHIN_SECONDS
        while True:
            message = pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if message is not None and message.get("type") == "psubscribe":
                return pubsub
            if time.monotonic() >= deadline:
                pubsub.close()
                raise redis.TimeoutError("no confirmation of the subscription")

    def _run(self) -> None:
        failures = 0
        while True:
            pubsub = None
            try:
                pubsub = self._connect()
                self.ready.set()
                self.failing = False
                if failures or self.missed:
                    # Events may have been missed while Redis was away (or before a socket's
                    # page listened): every socket resyncs.
                    self.missed = False
                    self._dispatch_all(resync())
                failures = 0
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "pmessage":
                        self._handle(message)
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any error
                if not isinstance(exc, redis.RedisError):
                    log.exception("live listener failed; reconnecting")
                self.failing = True
                self.ready.clear()
                failures += 1
                time.sleep(min(5.0, 0.2 * 2**failures))
            finally:
                if pubsub is not None:
                    pubsub.close()

    def _handle(self, message: dict[str, Any]) -> None:
        channel_name = message["channel"]
        if isinstance(channel_name, bytes):
            channel_name = channel_name.decode()
        try:
            account_id = int(channel_name.removeprefix(self.prefix))
            event = json.loads(message["data"])
        except (ValueError, TypeError):
            return
        self._dispatch(account_id, event)

    def _dispatch_all(self, event: dict[str, Any]) -> None:
        with self.lock:
            accounts = list(self.subscribers)
        for account_id in accounts:
            self._dispatch(account_id, event)


_listener: Listener | None = None
_listener_lock = threading.Lock()


def listener(app: Flask) -> Listener:
    """This process's listener, started on first use (and again in a forked child)."""
    global _listener
    with _listener_lock:
        if _listener is None or _listener.pid != os.getpid():
            _listener = Listener(app)
        return _listener
