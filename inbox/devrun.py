"""`make dev`: migrate, then run web + worker (from the Procfile), the embedded Redis
and the Vonage sandbox, seed the demo data, print the URLs. Ctrl+C stops it all."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import threading
import time

from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Printer

from . import embedded_redis
from .config import INSTANCE, ROOT, private_file


def _wait_for_port(port: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _single_instance():
    """One `make dev` per instance/ folder: wait briefly for one that is stopping."""
    lock = open(private_file(INSTANCE / "devrun.lock"), "w")  # noqa: SIM115 - held for life
    deadline = time.monotonic() + 20
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.monotonic() > deadline:
                sys.exit(f"make dev is already running for {INSTANCE}; stop it first (Ctrl+C).")
            time.sleep(0.25)


def main() -> int:
    _lock = _single_instance()  # noqa: F841 - released when the process exits
    port = int(os.environ.get("PORT", "5000"))
    sandbox_port = int(os.environ.get("SANDBOX_PORT", "5001"))
    env = dict(os.environ)
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    # No proxy in development: gunicorn itself on the loopback port (its own bounded wait
    # for request bodies, inbox/slow_clients.py), trusting no X-Forwarded-* header.
    env.setdefault("WEB_BIND", f"127.0.0.1:{port}")
    env.setdefault("TRUSTED_PROXIES", "0")
    env.setdefault("WEB_CONCURRENCY", "1")
    env["SANDBOX_PORT"] = str(sandbox_port)
    env["PYTHONUNBUFFERED"] = "1"
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    started_redis = False
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = embedded_redis.ensure_running(INSTANCE)
        started_redis = True

    flask = [sys.executable, "-m", "flask", "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], check=True, env=env, cwd=ROOT)

    procfile = parse_procfile((ROOT / "Procfile").read_text())
    manager = Manager(Printer(sys.stdout))
    for name in ("web", "worker", "cron"):
        manager.add_process(name, procfile.processes[name], env={**env, "PORT": str(port)})
    if not os.environ.get("VONAGE_API_KEY"):
        manager.add_process("sandbox", f"{sys.executable} -m inbox.sandbox", env=env)

    def announce() -> None:
        ok = _wait_for_port(port) and _wait_for_port(sandbox_port)
        subprocess.run([*flask, "seed-demo"], env=env, cwd=ROOT)
        if ok:
            print(
                f"\n  Clinic Inbox    http://127.0.0.1:{port}"
                "   (log in as staff@glow.test / demo1234)\n"
                f"  Patient phone   http://127.0.0.1:{sandbox_port}"
                "   (text the practice from here)\n"
                "  Ctrl+C stops everything.\n",
                flush=True,
            )

    threading.Thread(target=announce, daemon=True).start()
    try:
        manager.loop()
    finally:
        if started_redis:
            embedded_redis.stop(INSTANCE)
    return manager.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
