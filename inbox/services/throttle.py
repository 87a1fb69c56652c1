"""The account-wide outbound rate limit, shared by every worker through Redis.

Vonage accepts 30 SMS API requests a second per account by default; going over gets
status 1 (throttled) or HTTP 429. Sends are spaced evenly, one every 1/rate seconds
(the generic cell rate algorithm: Redis keeps the account's next free send time), and a
send waits for its slot instead of failing.

Evenly, not in bursts: a window that lets 30 go at once and then 30 more a second later
holds the count where the slots are taken, but the requests reach Vonage a variable few
milliseconds later, and the tail of one burst and the head of the next can land in the same
second of Vonage's clock (the benchmark saw 33). Spaced sends leave ~33 ms between requests
for that jitter."""

from __future__ import annotations

import time

import redis
from flask import current_app

from ..broker import get_redis

MAX_WAIT_SECONDS = 30.0
KEY_PREFIX = "clinic-inbox:rate:send:"

# KEYS[1]: the account's theoretical arrival time (TAT) in microseconds of Redis' clock.
# ARGV[1]: microseconds between two sends. Returns 0 and books the slot, or how many
# microseconds to wait before asking again. Redis' clock, so workers' clocks do not matter.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat > now then return tat - now end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil(interval / 1000) + 1000)
return 0
"""

_scripts: dict[int, redis.commands.core.Script] = {}


class SlotTimeout(Exception):
    """No send slot within MAX_WAIT_SECONDS: the job is retried later."""


def _script() -> redis.commands.core.Script:
    client = get_redis()
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_GCRA)
    return script


def limited() -> bool:
    """Whether sends are spaced by an account rate limit at all (0 turns it off)."""
    return bool(current_app.config["SEND_RATE_PER_SECOND"])


def wait_for_send_slot(account_id: int, per_second: int | None = None) -> float:
    """Block until this account may make one more send request; return seconds waited.
    Raises redis.RedisError when Redis is away (the caller retries the job later)."""
    rate = per_second if per_second is not None else current_app.config["SEND_RATE_PER_SECOND"]
    if not rate:
        return 0.0
    interval_us = round(1_000_000 / rate)
    script = _script()
    key = f"{KEY_PREFIX}{account_id}"
    started = time.monotonic()
    while wait_us := int(script(keys=[key], args=[interval_us])):
        waited = time.monotonic() - started
        if waited > MAX_WAIT_SECONDS:
            raise SlotTimeout(f"waited {waited:.0f} s for a send slot")
        time.sleep(min(wait_us / 1_000_000, 0.25))
    return time.monotonic() - started
