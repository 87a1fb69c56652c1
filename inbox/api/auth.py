"""Who is calling the API: the bearer key, its scope and its rate limit. Called by the one
access check (web.guards.enforce) for the API's levels; nothing here starts a session."""

from __future__ import annotations

import time

from flask import current_app, g, request
from limits import parse

from ..extensions import limiter
from ..services import api_keys
from .problems import Problem

SCHEME = "bearer "


def require_key(scope: str) -> api_keys.ApiActor:
    """The request's key as an actor, or a Problem: 401 without a live key (missing,
    malformed, unknown or revoked: the same answer), 429 over its rate limit, 403 without
    `scope`."""
    header = request.headers.get("Authorization", "")
    secret = header[len(SCHEME) :].strip() if header.lower().startswith(SCHEME) else ""
    key = api_keys.authenticate(secret) if secret else None
    if key is None:
        raise Problem(
            "unauthenticated",
            "Send a live API key as “Authorization: Bearer <key>” (Settings › Integrations)."
            if not secret
            else "That API key is not valid: it is unknown or has been revoked.",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )
    _rate_limit(key.id)
    if not key.allows(scope):
        raise Problem(
            "missing-scope",
            f"The API key “{key.name}” does not have the “{scope}” scope this call needs.",
        )
    api_keys.touch(key)
    actor = api_keys.actor(key)
    g.api_actor = actor
    return actor


def current_actor() -> api_keys.ApiActor:
    return g.api_actor


def _rate_limit(key_id: int) -> None:
    """A fixed window per key in the app's Redis (shared by every process); failing open
    when Redis is down. The RateLimit-* headers go on every answer (see add_headers)."""
    item = parse(current_app.config["API_RATE_LIMIT"])
    strategy = limiter.limiter
    try:
        allowed = strategy.hit(item, "api-key", str(key_id))
        stats = strategy.get_window_stats(item, "api-key", str(key_id))
    except Exception:  # noqa: BLE001 - Redis down: serve, uncounted
        current_app.logger.warning("API rate limit not counted (storage unavailable)")
        return
    reset = max(int(stats.reset_time - time.time()), 0)
    g.api_rate = (item.amount, stats.remaining, reset, item.get_expiry())
    if not allowed:
        raise Problem(
            "rate-limited",
            f"This API key made more than {item.amount} requests in {item.get_expiry()} "
            f"seconds. Try again in {reset} seconds.",
            headers={"Retry-After": str(max(reset, 1))},
        )


def add_headers(response):
    rate = g.get("api_rate")
    if rate:
        limit, remaining, reset, window = rate
        response.headers["RateLimit-Limit"] = str(limit)
        response.headers["RateLimit-Remaining"] = str(remaining)
        response.headers["RateLimit-Reset"] = str(reset)
        response.headers["RateLimit-Policy"] = f"{limit};w={window}"
    return response
