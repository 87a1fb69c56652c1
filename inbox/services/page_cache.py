"""Rendered inbox list pages, remembered until something they show changes.

A list page costs ~10 ms of CPU (the ORM turning ~130 rows into objects, Jinja rendering 50
rows, the menu and the tabs); asked again with nothing changed, it is the same bytes. Each
web process keeps the pages it rendered, keyed by the account's *generation*: a random token
in Redis that is replaced after every commit that touched a table a list page shows
(conversations, patients, clinics, users, numbers, the account, the counters). The
replacement is a Session hook, not a call each service must remember: ORM changes name their
account; bulk UPDATE / DELETE / INSERT statements on those tables replace the global token,
which is part of every key. The one exception: the webhook groups (services/intake.py) run
their statements on a connection of their own, which the hooks do not see, and call
replace() for their accounts themselves, after the commit and before they answer.

Correctness, in order of what could go wrong:
- The generation is read *before* the request reads the database (a before_request hook),
  so a page is never stored under a token newer than the data it was rendered from.
- A token is random, never a counter: Redis restarting empty cannot bring back an old key.
- Redis unreachable: nothing is served from or stored in the cache (pages render as before).
  A commit whose replacement fails empties this process's cache; other processes hold their
  pages at most MAX_AGE_SECONDS.
- Time: list rows show "9:41 AM" / "Tue" / "Nov 3"; the key carries a 15-minute time bucket
  so a label never outlives its day.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
from flask import g, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from .. import events
from ..broker import get_redis
from ..extensions import db
from ..models import User

log = logging.getLogger(__name__)

# What list pages show. A change to any of these tables replaces the generation.
WATCHED_TABLES = frozenset(
    {
        "accounts",
        "clinics",
        "users",
        "user_clinics",
        "conversations",
        "patients",
        "inbox_numbers",
        "conversation_counts",
    }
)
ALL_ACCOUNTS = 0  # the generation every key includes (bulk statements replace it)
MAX_ENTRIES = 512  # per process; a 50-row list page is ~25 KB
MAX_AGE_SECONDS = 60.0
TIME_BUCKET_SECONDS = 900
_PENDING = "clinic_inbox_page_cache_accounts"
_ANNOUNCE = "clinic_inbox_page_cache_announce"


def _key(account_id: int) -> str:
    return f"clinic-inbox:page-generation:{account_id}"


@dataclass(frozen=True)
class Page:
    body: bytes
    headers: tuple[tuple[str, str], ...]


class _Store:
    """A small LRU shared by the threads of one process; entries expire after
    MAX_AGE_SECONDS whatever the generation says."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[tuple, tuple[float, Any]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple) -> Any:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return None
            if time.monotonic() - entry[0] > MAX_AGE_SECONDS:
                del self.entries[key]
                return None
            self.entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple, value: Any) -> None:
        with self.lock:
            self.entries[key] = (time.monotonic(), value)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


store = _Store(MAX_ENTRIES)  # rendered pages
_users = _Store(MAX_ENTRIES)  # signed-in users' rows, pickled (see load_user)


def generation(account_id: int) -> tuple[str, str] | None:
    """The current (global, account) tokens; None when Redis cannot say (do not cache).
    A missing token is created, so a key is never built from nothing."""
    try:
        client = get_redis()
        keys = [_key(ALL_ACCOUNTS), _key(account_id)]
        values = client.mget(keys)
        if None in values:
            for k, v in zip(keys, values, strict=True):
                if v is None:
                    client.set(k, secrets.token_hex(8), nx=True)
            values = client.mget(keys)
        if None in values:
            return None
        return (values[0].decode(), values[1].decode())
    except redis.RedisError:
        return None


def _label(tokens: tuple[str, str] | None) -> str:
    """Tokens as a page carries them: one opaque string (the global token, shared by every
    practice, is not shown as is)."""
    return hashlib.sha256(".".join(tokens).encode()).hexdigest()[:16] if tokens else ""


def generation_label(account_id: int) -> str:
    """The current generation as a page carries it to its live socket ("" when Redis
    cannot say), which compares it with its own as it opens (web.live)."""
    return _label(generation(account_id))


def carry_generation(account_id: int, gen: tuple[str, str] | None) -> None:
    """The generation a whole page carries to its live socket, read before the page read
    the database (web.cached); its own commits move it on (_follow_own_change)."""
    g.live_generation = (account_id, gen)


def page_label() -> str:
    """The generation this page carries to its live socket ("" when unknown)."""
    held = g.get("live_generation")
    return _label(held[1]) if held else ""


def _follow_own_change(new: dict[int, str], old: dict[int, bytes | None]) -> None:
    """A page shows what its own request changed: the generation it carries moves on with
    its own commit (opening a conversation marks it read), unless another process had replaced
    the token since the page read it; then the page keeps the old one and its socket tells
    it to reload."""
    held = g.get("live_generation") if has_app_context() else None
    if not held or not held[1]:
        return
    account_id, tokens = held
    for key, read in zip((ALL_ACCOUNTS, account_id), tokens, strict=True):
        if key in new and (old[key] is None or old[key].decode() != read):
            return  # another change came between: keep the old one (the page reloads)
    g.live_generation = (
        account_id,
        (new.get(ALL_ACCOUNTS, tokens[0]), new.get(account_id, tokens[1])),
    )


def replace(account_ids: set[int], announce: list[tuple[int, dict]] | None = None) -> None:
    """After a commit: every page of these accounts (ALL_ACCOUNTS: of every account) is old.
    `announce`: live events of that commit, published in the same round trip to Redis,
    after the replacements (Redis runs a pipeline in order), so a browser that hears one
    loads a page that shows the change."""
    try:
        pipe = get_redis().pipeline(transaction=False)
        new = {account_id: secrets.token_hex(8) for account_id in account_ids}
        for account_id, token in new.items():
            pipe.set(_key(account_id), token, get=True)
        events.add_publishes(pipe, announce or [])
        replaced = pipe.execute()[: len(new)]
        _follow_own_change(new, dict(zip(new, replaced, strict=True)))
    except redis.RedisError as exc:
        # What this process holds may now be old; the others' age out.
        store.clear()
        _users.clear()
        log.warning(
            "page cache: could not replace the generation (%s)%s",
            type(exc).__name__,
            f"; {len(announce)} live events not published" if announce else "",
        )


def load_user(user_id: int, gen: tuple[str, str] | None) -> User | None:
    """The signed-in user for Flask-Login. Under a known generation the row read earlier is
    reused: merged into this request's session without a query (SQLAlchemy's
    `merge(load=False)`), an attached instance like any other, so the guard checks the same
    privileges the database holds (a change to `users` or `accounts` replaces the
    generation). A cached page then needs no database at all."""
    if gen is not None:
        blob = _users.get((user_id, gen))
        if blob is not None:
            return db.session.merge(pickle.loads(blob), load=False)
    user = db.session.get(User, user_id)
    if user is not None and gen is not None:
        _users.put((user_id, gen), pickle.dumps(user))
    return user


def time_bucket(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // TIME_BUCKET_SECONDS)


# ---- the Session hooks: which commits change what a list page shows --------------------


def _touched(session: Session) -> set[int]:
    return session.info.setdefault(_PENDING, set())


def touch(account_ids: Iterable[int]) -> None:
    """These accounts' pages change with the session's next commit: a Core statement on
    the session's connection, which the hooks below do not see, says whose rows it wrote."""
    _touched(db.session).update(account_ids)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__tablename__", None)
        if table in WATCHED_TABLES:
            account_id = obj.id if table == "accounts" else getattr(obj, "account_id", None)
            _touched(session).add(ALL_ACCOUNTS if account_id is None else account_id)


@event.listens_for(Session, "do_orm_execute")
def _bulk_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in WATCHED_TABLES:
        _touched(state.session).add(ALL_ACCOUNTS)


def announce(account_id: int, live_event: dict) -> None:
    """Publish this live event after the session's next commit, in the same round trip to
    Redis as the generations that commit replaces (after them: see replace()). Dropped if
    the transaction rolls back."""
    db.session.info.setdefault(_ANNOUNCE, []).append((account_id, live_event))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    touched = session.info.pop(_PENDING, None)
    announced = session.info.pop(_ANNOUNCE, None)
    if touched:
        replace(touched, announced)
    elif announced:
        events.publish_many(announced)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_ANNOUNCE, None)
