"""Replay protection for signed webhooks: each signed request carries a `nonce`; the first
request with a nonce claims it in Redis (SET NX EX) and any later one is a replay.

Redis is a second line here, not the only one: if it is down we cannot tell, say so, and
the caller relies on the database's dedupe (the unique carrier message id) instead."""

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


def claim_nonce(nonce: str, ttl_seconds: int) -> bool | None:
    """True: first sight of this nonce (now claimed). False: a replay. None: the store is
    unreachable, so nobody can tell."""
    try:
        return bool(get_redis().set(_key(nonce), b"1", nx=True, ex=ttl_seconds))
    except (redis.RedisError, OSError):
        log.warning("webhook nonce store unreachable; falling back to message-id dedupe")
        return None


def release_nonce(nonce: str) -> None:
    """Give a nonce back when its request could not be handled, so Vonage's retry of the
    same signed request is not mistaken for a replay."""
    try:
        get_redis().delete(_key(nonce))
    except (redis.RedisError, OSError):
        log.warning("webhook nonce store unreachable; could not release a nonce")
