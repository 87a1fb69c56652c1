"""The account-wide outbound rate limit, shared by every worker through Redis.

Vonage accepts 30 SMS API requests a second per account by default; going over gets
status 1 (throttled) or HTTP 429. A moving window (the `limits` library's Redis
strategy) holds every 1-second window to the limit, and a send waits for its slot
instead of failing."""

from __future__ import annotations

import time

from flask import current_app
from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from ..broker import get_redis

MAX_WAIT_SECONDS = 30.0

_limiters: dict[int, MovingWindowRateLimiter] = {}


class SlotTimeout(Exception):
    """No send slot within MAX_WAIT_SECONDS: the job is retried later."""


def _limiter() -> MovingWindowRateLimiter:
    client = get_redis()
    limiter = _limiters.get(id(client))
    if limiter is None:
        storage = RedisStorage(
            "redis://", connection_pool=client.connection_pool, key_prefix="clinic-inbox:rate"
        )
        limiter = _limiters[id(client)] = MovingWindowRateLimiter(storage)
    return limiter


def wait_for_send_slot(account_id: int, per_second: int | None = None) -> float:
    """Block until this account may make one more send request; return seconds waited."""
    rate = per_second if per_second is not None else current_app.config["SEND_RATE_PER_SECOND"]
    if not rate:
        return 0.0
    item = RateLimitItemPerSecond(rate)
    limiter = _limiter()
    key = f"send:{account_id}"
    started = time.monotonic()
    while not limiter.hit(item, key):
        waited = time.monotonic() - started
        if waited > MAX_WAIT_SECONDS:
            raise SlotTimeout(f"waited {waited:.0f} s for a send slot")
        reset_at = limiter.get_window_stats(item, key).reset_time
        time.sleep(min(max(reset_at - time.time(), 0.002), 0.25))
    return time.monotonic() - started
