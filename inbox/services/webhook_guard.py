"""Replay protection for signed webhooks: each signed request carries a `nonce`. A nonce
is remembered in Redis (SET EX) once its request was handled; a later request with the
same nonce is a replay.

Remembering only after handling means a request that failed (a 5xx, a crash, the
database away) never blocks Vonage's retry of it: no message is lost to this check.
Two copies racing in at the same moment both get through it, and the database's dedupe
(the unique carrier message id; receipts are idempotent) catches the second; the same
holds when Redis is down, where this check says "cannot tell" and steps aside."""

from __future__ import annotations

import hashlib
import logging

import redis

from ..broker import get_redis

log = logging.getLogger(__name__)

_PREFIX = "webhook:nonce:"


def _key(nonce: str) -> str:
    # Hashed: the key has a fixed size whatever the sender put in the nonce.
    return _PREFIX + hashlib.sha256(nonce.encode("utf-8", "replace")).hexdigest()


def seen_before(nonce: str) -> bool | None:
    """True: a request with this nonce was handled already (a replay). None: the store
    is unreachable, nobody can tell."""
    try:
        return bool(get_redis().exists(_key(nonce)))
    except (redis.RedisError, OSError):
        log.warning("webhook nonce store unreachable; falling back to message-id dedupe")
        return None


def remember(nonce: str, ttl_seconds: int) -> None:
    """After a request was handled: later copies of it are replays (for ttl_seconds,
    longer than the signature's timestamp window, after which the window refuses them)."""
    try:
        get_redis().set(_key(nonce), b"1", ex=ttl_seconds)
    except (redis.RedisError, OSError):
        log.warning("webhook nonce store unreachable; a nonce was not remembered")
