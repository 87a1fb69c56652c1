"""The RQ worker class for the Procfile: SimpleWorker (no fork per job) that builds the
Flask app once at start, and lives through Redis outages instead of exiting."""

from __future__ import annotations

import logging
import time

import redis
from rq import SimpleWorker
from rq.exceptions import StopRequested

log = logging.getLogger(__name__)


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
