"""A supervisor's stop signal ends a worker promptly: idle, and while Redis is away. (An
idle worker used to take RQ's stop for a Redis outage, start its loop again and live on
until SIGKILL: every deploy and every test teardown waited out the grace period.)"""

from __future__ import annotations

import os
import signal
import time

import redis


def _working(bed, timeout: float = 30) -> None:
    """Registered, and in its loop: RQ installs its signal handlers after the registration
    and before the first maintenance pass (a SIGTERM before that is Python's default)."""
    client = redis.Redis.from_url(bed.redis_url)
    deadline = time.monotonic() + timeout
    while client.scard("rq:workers") < 1 or "cleaning registries" not in bed.worker_logs():
        assert time.monotonic() < deadline, "the worker never started\n" + bed.worker_logs()
        time.sleep(0.05)


def _stopped_within(proc, seconds: float) -> int:
    """Before the fix an idle worker never stopped on TERM; "promptly" is well under a
    second on an idle machine, and `seconds` leaves room for a loaded one."""
    os.killpg(proc.pid, signal.SIGTERM)
    started = time.monotonic()
    code = proc.wait(seconds + 5)  # raises if it outlives even that
    took = time.monotonic() - started
    assert took < seconds, f"SIGTERM took {took:.1f} s"
    return code


def test_sigterm_stops_an_idle_worker(bed):
    proc = bed.start_worker()
    _working(bed)
    assert _stopped_within(proc, 10) == 0
    assert "the worker resumes" not in bed.worker_logs()


def test_sigterm_stops_a_worker_waiting_for_redis(bed):
    proc = bed.start_worker()
    _working(bed)
    bed.stop_redis()
    deadline = time.monotonic() + 15
    while "could not connect to Redis" not in bed.worker_logs():  # it waits for Redis
        assert time.monotonic() < deadline, bed.worker_logs()
        time.sleep(0.05)
    _stopped_within(proc, 10)
    assert proc.poll() is not None
