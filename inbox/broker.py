"""Redis and the RQ queue: one connection per process, from REDIS_URL or the
embedded server."""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path

import redis
from flask import Flask, current_app
from rq import Queue

from . import embedded_redis
from .config import INSTANCE

_clients: dict[str, redis.Redis] = {}


def redis_url(app: Flask | None = None) -> str:
    app = app or current_app
    url = app.config.get("REDIS_URL") or ""
    if not url:
        url = embedded_redis.ensure_running(Path(app.config.get("INSTANCE_DIR", INSTANCE)))
        app.config["REDIS_URL"] = url
    return url


def get_redis(app: Flask | None = None) -> redis.Redis:
    url = redis_url(app)
    client = _clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        _clients[url] = client
    return client


def get_queue(app: Flask | None = None) -> Queue:
    app = app or current_app
    return Queue(app.config["RQ_QUEUE"], connection=get_redis(app))


def job_status(job_id: str, app: Flask | None = None) -> str | None:
    """RQ's status of a job (queued, scheduled, deferred, started, finished, failed, ...),
    or None when Redis holds no such job (it finished long ago, or Redis restarted empty)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        status = Job.fetch(job_id, connection=get_redis(app)).get_status(refresh=False)
    except NoSuchJobError:
        return None
    return str(getattr(status, "value", status)) if status else None


def in_queue(job_id: str, app: Flask | None = None) -> bool:
    """Whether the job sits in the queue's list. RQ keeps a job's status "queued" from the
    moment a worker pops it until the worker marks it started: a worker killed in between
    leaves a "queued" job that no queue holds and nothing will run."""
    queue = get_queue(app)
    return queue.connection.lpos(queue.key, job_id) is not None


# KEYS[1]: the queue's list. ARGV: how many to take, the job-id prefix, how far down the list
# to look. Removes matching job ids from the list and deletes their job hashes, in one step:
# no worker can pop a job taken here, and nothing of it is left behind in Redis.
_TAKE_JOBS = """
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
local taken = {}
for _, id in ipairs(ids) do
  if #taken >= tonumber(ARGV[1]) then break end
  if string.sub(id, 1, string.len(ARGV[2])) == ARGV[2] then
    redis.call('LREM', KEYS[1], 1, id)
    redis.call('DEL', ARGV[4] .. id)
    taken[#taken + 1] = id
  end
end
return taken
"""


def take_queued_jobs(prefix: str, limit: int, app: Flask | None = None) -> list[str]:
    """Take up to `limit` jobs whose ids start with `prefix` off the head of the queue, for
    the caller to run itself: they leave the queue and Redis at once (one Lua call). The
    caller owns them: what it does not finish it must enqueue again; if it dies, the rows
    behind them are found by the outbox sweep like any lost job."""
    from rq.job import Job

    if limit <= 0:
        return []
    queue = get_queue(app)
    take = queue.connection.register_script(_TAKE_JOBS)
    taken = take(keys=[queue.key], args=[limit, prefix, limit * 4, Job.redis_job_namespace_prefix])
    return [t.decode() if isinstance(t, bytes) else t for t in taken]


def scheduled_for(job_id: str, app: Flask | None = None) -> datetime | None:
    """When RQ's scheduler is to put this scheduled job (a retry, a delayed send) back in
    the queue; None when it is not scheduled."""
    from rq.exceptions import NoSuchJobError
    from rq.registry import ScheduledJobRegistry

    try:
        return ScheduledJobRegistry(queue=get_queue(app)).get_scheduled_time(job_id)
    except NoSuchJobError:
        return None


def forget_job(job_id: str, app: Flask | None = None) -> None:
    """Delete a job and its registry entries, so its id can be enqueued afresh."""
    from rq.exceptions import InvalidJobOperation, NoSuchJobError
    from rq.job import Job

    connection = get_redis(app)
    with contextlib.suppress(NoSuchJobError):
        try:
            Job.fetch(job_id, connection=connection).delete()
        except (ValueError, InvalidJobOperation):
            # RQ 2 raises ValueError when an execution record of a dead worker already
            # expired, and InvalidJobOperation when the job finished and deleted itself
            # (result_ttl=0) between the fetch and the delete. Dropping the job's hash is
            # enough for the id to be enqueued afresh.
            connection.delete(Job.key_for(job_id))
