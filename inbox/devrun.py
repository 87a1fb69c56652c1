"""`make dev`: migrate, then run web + worker (from the Procfile), the embedded Redis,
the Vonage sandbox and a local mail server (emails are printed here), seed the demo data,
print the URLs. Ctrl+C stops it all.

`DEMO=0 make dev` seeds nothing: with no DATABASE_URL it uses its own SQLite file (the
demo's stays as it was), and prints how to create the first practice."""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import threading
import time

from flask import Flask
from flask_migrate import upgrade
from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Printer

from . import create_app, embedded_redis
from .cli import practice_count, seed_demo
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


def first_run_help(app: Flask) -> None:
    """With no practice in the database, say how to create the first one."""
    with app.app_context():
        count = practice_count()
    if count == 0:
        print(
            "\n  No practice yet. Create the first one in another terminal, in this folder:\n\n"
            '    DEMO=0 .venv/bin/flask --app app create-practice "Your Practice Name" \\\n'
            '        --admin-email you@yourpractice.com --admin-name "Your Name" '
            "--timezone America/Chicago\n\n"
            "  then open the link it prints to set the Main Admin's password.\n",
            flush=True,
        )


def prepare(app: Flask, demo: bool) -> None:
    """Migrate; with the demo, seed its rows before the web starts, so the first page is
    never "No practice here yet" (its number is connected once the sandbox is up)."""
    with app.app_context():
        upgrade()
        if demo:
            seed_demo(connect=False)


def main() -> int:
    _lock = _single_instance()  # noqa: F841 - released when the process exits
    port = int(os.environ.get("PORT", "5000"))
    sandbox_port = int(os.environ.get("SANDBOX_PORT", "5001"))
    mail_port = int(os.environ.get("MAIL_DEV_PORT", "5025"))
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

    demo = os.environ.get("DEMO", "1") != "0"
    local_mail = not os.environ.get("MAIL_SERVER")
    if local_mail:
        # Password emails go to the local mail server, which prints them in this console.
        env["MAIL_SERVER"] = "127.0.0.1"
        env["MAIL_PORT"] = str(mail_port)
        env["MAIL_USE_TLS"] = "0"

    # Migrations and the demo here, in this process (`flask db upgrade` and `flask
    # seed-demo` each paid seconds of start-up); the processes below start from `env` too.
    os.environ.update(env)
    app = create_app()
    prepare(app, demo)

    procfile = parse_procfile((ROOT / "Procfile").read_text())
    manager = Manager(Printer(sys.stdout))
    for name in ("web", "worker", "cron"):
        manager.add_process(name, procfile.processes[name], env={**env, "PORT": str(port)})
    if not os.environ.get("VONAGE_API_KEY"):
        manager.add_process("sandbox", f"{sys.executable} -m inbox.sandbox", env=env)
    if local_mail:
        manager.add_process(
            "mail", f"{sys.executable} -m inbox.devmail --port {mail_port}", env=env
        )

    def announce() -> None:
        ok = _wait_for_port(port) and _wait_for_port(sandbox_port)
        if demo:
            with app.app_context():
                seed_demo(connect=True)
            login = "   (log in as staff@glow.test / demo1234)"
        else:
            login = ""
        if ok:
            mail = (
                "   (password emails are printed here, as 'mail |' lines)\n" if local_mail else ""
            )
            print(
                f"\n  Clinic Inbox    http://127.0.0.1:{port}{login}\n"
                f"  Patient phone   http://127.0.0.1:{sandbox_port}"
                "   (text the practice from here)\n"
                + (f"  Mail            127.0.0.1:{mail_port}{mail}" if mail else "")
                + "  Ctrl+C stops everything.\n",
                flush=True,
            )
        if not demo:
            first_run_help(app)

    threading.Thread(target=announce, daemon=True).start()
    try:
        manager.loop()
    finally:
        if started_redis:
            embedded_redis.stop(INSTANCE)
    return manager.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
