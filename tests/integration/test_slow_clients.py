"""Slow clients cannot starve the web threads (issue: 70 connections each sending 7 of 10
promised body bytes stalled /healthz, login and real webhooks for as long as they held on).

- gunicorn alone (no proxy in front): the body must arrive within
  REQUEST_BODY_TIMEOUT_SECONDS, else 408 and the thread is free again
  (inbox/slow_clients.py);
- behind the shipped nginx (`python -m inbox.proxy`, the Procfile's `proxy`): a slow
  client never reaches gunicorn at all, even with gunicorn's own wait made long."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

from inbox.models import Message
from inbox.sandbox import sign_params
from tests.conftest import API_KEY, API_SECRET, SIG_SECRET, inbound_params, row_count

ROOT = Path(__file__).resolve().parents[2]
THREADS = 4  # fewer threads than slow clients: without a bound, every one is taken
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def _process(cmd: list[str], env: dict[str, str], log: Path):
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def _env(app, database_url: str, redis_url: str, sandbox, tmp: Path, **extra: str) -> dict:
    return {
        **os.environ,
        "APP_ENV": "test",
        "SECRET_KEY": "slow-clients",
        "INSTANCE_PATH": str(tmp),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "VONAGE_API_KEY": API_KEY,
        "VONAGE_API_SECRET": API_SECRET,
        "VONAGE_SIGNATURE_SECRET": SIG_SECRET,
        "VONAGE_SIGNATURE_METHOD": "sha256",
        "VONAGE_REST_HOST": sandbox.host,
        "PUBLIC_BASE_URL": app.config["PUBLIC_BASE_URL"],
        **extra,
    }


def _gunicorn(port: int) -> list[str]:
    return [str(Path(sys.executable).parent / "gunicorn"), "app:app", "--worker-class",
            "gthread", "--workers", "1", "--threads", str(THREADS), "--bind",
            f"127.0.0.1:{port}", "--no-control-socket"]  # fmt: skip


def _slow_clients(port: int, n: int) -> list[socket.socket]:
    """Each promises a 10-byte body, sends 7 bytes of it and holds on."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(
            b"POST /webhooks/vonage/inbound HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\n"
            b"msisdn="
        )
        socks.append(s)
    time.sleep(0.3)  # let the server take them up (a thread each, without a bound)
    return socks


@pytest.fixture
def tmp_dir():
    path = Path(tempfile.mkdtemp(prefix="clinic-inbox-slow-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _healthy_and_storing(base: str, sandbox) -> None:
    """While the slow clients hold on: the health check, the login page and a validly
    signed patient text are all answered, and the text is stored."""
    assert requests.get(base + "/healthz", timeout=15).status_code == 200
    assert requests.get(base + "/login", timeout=15).status_code == 200
    before = row_count(Message)
    signed = sign_params(sandbox.state, inbound_params(text="Still there?"))
    r = requests.post(base + "/webhooks/vonage/inbound", data=signed, timeout=15)
    assert r.status_code == 200
    assert row_count(Message) == before + 1


def test_gunicorn_alone_gives_up_on_a_body_that_does_not_arrive(
    app, demo, database_url, redis_url, sandbox, tmp_dir
):
    port = _free_port()
    env = _env(app, database_url, redis_url, sandbox, tmp_dir, REQUEST_BODY_TIMEOUT_SECONDS="1")
    with ExitStack() as stack:
        stack.enter_context(_process(_gunicorn(port), env, tmp_dir / "web.log"))
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/healthz")
        slow = _slow_clients(port, THREADS * 3)
        for s in slow:
            stack.callback(s.close)
        _healthy_and_storing(base, sandbox)
        # Each slow client got its answer: 408, and the connection closed.
        for s in slow:
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 408"), answer
            assert answer.endswith(b"The request body did not arrive in time.\n")


@pytest.mark.skipif(not os.path.exists(NGINX), reason="Debian's nginx is not installed")
def test_behind_the_shipped_proxy_slow_clients_never_reach_gunicorn(
    app, demo, database_url, redis_url, sandbox, tmp_dir
):
    web_port, proxy_port = _free_port(), _free_port()
    # gunicorn's own wait made long: only the proxy stands between the clients and it.
    env = _env(app, database_url, redis_url, sandbox, tmp_dir, REQUEST_BODY_TIMEOUT_SECONDS="600",
               TRUSTED_PROXIES="1", PORT=str(proxy_port), PROXY_BIND="127.0.0.1",
               WEB_BIND=f"127.0.0.1:{web_port}")  # fmt: skip
    with ExitStack() as stack:
        stack.enter_context(_process(_gunicorn(web_port), env, tmp_dir / "web.log"))
        # The Procfile's proxy process, as production starts it.
        stack.enter_context(
            _process([sys.executable, "-m", "inbox.proxy"], env, tmp_dir / "proxy.log")
        )
        base = f"http://127.0.0.1:{proxy_port}"
        _wait(f"http://127.0.0.1:{web_port}/healthz")
        _wait(base + "/healthz")
        for s in _slow_clients(proxy_port, 70):
            stack.callback(s.close)
        _healthy_and_storing(base, sandbox)
        # A client cannot pass itself off as https through the proxy (the app reads the
        # value the proxy appended, not the client's).
        spoofed = requests.get(base + "/login", headers={"X-Forwarded-Proto": "https"}, timeout=15)
        assert "Strict-Transport-Security" not in spoofed.headers
        # The live socket passes through the proxy.
        _live_socket_through(base)


def _live_socket_through(base: str) -> None:
    import re

    from tests.conftest import ws_open

    s = requests.Session()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', s.get(base + "/login").text)
    form = {"email": "staff@glow.test", "password": "demo1234", "csrf_token": token.group(1)}
    r = s.post(base + "/login", data=form, allow_redirects=False)
    assert r.status_code == 302
    ws = ws_open(base, "; ".join(f"{k}={v}" for k, v in s.cookies.items()))
    try:
        assert 'id="inbox-badge"' in ws.receive(timeout=10)
    finally:
        ws.close()
