"""The RQ worker class for the Procfile: SimpleWorker (no fork per job) that builds the
Flask app once at start, and lives through Redis outages instead of exiting."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time

import redis
from rq import SimpleWorker
from rq.exceptions import StopRequested

log = logging.getLogger(__name__)

# How long a stopping worker waits on its scheduler process before killing it.
SCHEDULER_STOP_SECONDS = 3.0


class InboxWorker(SimpleWorker):
    # After a Redis outage, look again every few seconds (RQ's default backs off to a
    # minute): patients' texts go out soon after Redis is back.
    max_connection_wait_time = 5.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from workers.jobs import _get_app

        _get_app()

    def request_stop(self, signum, frame) -> None:
        """SIGTERM/SIGINT. RQ marks a stop only when it arrives mid-job; when idle it just
        raises out of its loop, and work() below took that for a Redis outage and started
        over: the worker outlived every SIGTERM until SIGKILL. Mark it either way."""
        self._stop_requested = True
        super().request_stop(signum, frame)

    def stop_scheduler(self) -> None:
        """RQ sends its scheduler process SIGTERM and then waits on it with no limit; a
        scheduler stuck on a dead Redis never ends, and neither did the worker (a stop
        during a Redis outage hung until SIGKILL). Wait a few seconds, then kill it: it
        holds nothing that the next scheduler does not take over."""
        process = getattr(self.scheduler, "_process", None) if self.scheduler else None
        if process is None or not process.pid:
            return
        with contextlib.suppress(OSError):
            os.kill(process.pid, signal.SIGTERM)
        process.join(SCHEDULER_STOP_SECONDS)
        if process.is_alive():
            log.warning("the scheduler did not stop within %ss: killed", SCHEDULER_STOP_SECONDS)
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.SIGKILL)
            process.join(SCHEDULER_STOP_SECONDS)

    def work(self, *args, **kwargs) -> bool:
        """RQ's loop quits when Redis disappears in the middle of a job (its heartbeat
        fails). Wait for Redis and go back to work; a stop signal or burst mode ends it.
        The outbox sweep re-enqueues whatever the outage lost."""
        while True:
            try:
                result = super().work(*args, **kwargs)
            except redis.RedisError as exc:  # its own teardown needs Redis too
                log.warning("worker loop ended on a Redis error: %s", exc)
                result = False
            if self._stop_requested or kwargs.get("burst"):
                return result
            try:
                self._wait_for_redis()
            except StopRequested:  # RQ's signal handler, while Redis was away
                return result
            if self._stop_requested:
                return result
            try:
                self.register_death()  # so the same name may register its birth again
            except redis.RedisError:
                continue
            log.warning("Redis is back: the worker resumes")

    def _wait_for_redis(self) -> None:
        while not self._stop_requested:
            try:
                if self.connection.ping():
                    return
            except redis.RedisError:
                pass
            time.sleep(1)
