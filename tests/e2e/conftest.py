"""Real processes for browser tests: gunicorn (2 workers), an RQ worker, the Vonage
sandbox, and Redis; Playwright drives Debian's Chromium (never a downloaded browser)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from unittest import mock
from urllib.parse import urljoin

import pytest
import requests
from flask import Flask
from redis import Redis
from rq import Queue, Worker

from inbox import create_app
from inbox.broker import get_redis
from inbox.extensions import db
from tests.conftest import API_KEY, API_SECRET, SIG_SECRET

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
SCREENSHOTS = ROOT / "docs" / "screenshots"


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            if not os.path.exists(CHROMIUM):
                item.add_marker(pytest.mark.skip(reason="Debian's chromium is not installed"))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def _close_leftover_tabs(request):
    """Close every browser context a test opened and left open. A tab left showing a
    conversation stays live (its socket reconnects to the web processes, which later tests and
    modules share): when that patient texts again, it marks the conversation read."""
    yield
    if "browser" in request.fixturenames:
        for context in list(request.getfixturevalue("browser").contexts):
            context.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 90) -> None:
    """Seconds on a quiet machine; gunicorn took over 30 s beside two other suites."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


class Stack:
    """The app as production runs it, on free ports."""

    # Every process stops on TERM within this (gunicorn is given a 1 s graceful timeout:
    # by default it waits 30 s for open websockets, and even its quick shutdown waits for
    # their threads).
    STOP_WITHIN_SECONDS = 5

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.web_port, self.sandbox_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.tmp = Path(tempfile.mkdtemp(prefix="clinic-inbox-e2e-"))
        # Its own queue: another stack (another app config) may share the Redis.
        self.queue = f"e2e-{self.web_port}"
        self.env = {
            **os.environ,
            "APP_ENV": "test",
            "SECRET_KEY": "e2e-secret",
            "INSTANCE_PATH": str(self.tmp),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "RQ_QUEUE": self.queue,
            "VONAGE_API_KEY": API_KEY,
            "VONAGE_API_SECRET": API_SECRET,
            "VONAGE_SIGNATURE_SECRET": SIG_SECRET,
            "VONAGE_SIGNATURE_METHOD": "sha256",
            "VONAGE_REST_HOST": f"127.0.0.1:{self.sandbox_port}",
            "SANDBOX_PORT": str(self.sandbox_port),
            "PUBLIC_BASE_URL": self.url,
            "SHOW_DEMO_LOGINS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.procs: dict[str, subprocess.Popen] = {}
        self.workers_started, self.worker_name = 0, ""
        self._seeder: Flask | None = None
        bin_dir = Path(sys.executable).parent

        self.commands = {
            "sandbox": [sys.executable, "-m", "inbox.sandbox"],
            "web": [str(bin_dir / "gunicorn"), "app:app", "--worker-class", "gthread",
                    "--workers", "2", "--threads", "16", "--graceful-timeout", "1",
                    "--bind", f"127.0.0.1:{self.web_port}",
                    "--no-control-socket"],
            "worker": [str(bin_dir / "rq"), "worker", "--with-scheduler", "--worker-class",
                       "workers.worker.InboxWorker", "--url", redis_url, self.queue],
        }  # fmt: skip

    def spare_web(self) -> str:
        """A second web process on its own port (same database and Redis)."""
        port = free_port()
        self.commands["spare"] = [*self.commands["web"][:-3], "--bind", f"127.0.0.1:{port}",
                                  "--no-control-socket"]  # fmt: skip
        self.start("spare")
        wait_http(f"http://127.0.0.1:{port}/login")
        return f"http://127.0.0.1:{port}"

    def wait_worker(self, timeout: float = 90) -> None:
        """Until the worker listens on the stack's queue (its imports take seconds on a
        busy machine; a test's first job would wait for them)."""
        deadline = time.monotonic() + timeout
        with Redis.from_url(self.env["REDIS_URL"]) as redis:
            while not Worker.count(connection=redis, queue=Queue(self.queue, connection=redis)):
                assert time.monotonic() < deadline, "no worker came up:\n" + self.log("worker")
                time.sleep(0.1)

    def start(self, name: str) -> None:
        command = self.commands[name]
        if name == "worker":  # named, so that reset() can tell how it is doing
            self.workers_started += 1
            self.worker_name = f"{self.queue}-{self.workers_started}"
            command = [*command, "--name", self.worker_name]
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        self.procs[name] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def running(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Signal the process group and wait on the process; one that outlives its stop
        signal is killed, and that is reported (a stop that hangs is a bug somewhere)."""
        proc = self.procs.pop(name, None)
        if proc and proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(self.STOP_WITHIN_SECONDS)
            except subprocess.TimeoutExpired:
                warnings.warn(
                    f"e2e {name} outlived {signal.Signals(sig).name} for "
                    f"{self.STOP_WITHIN_SECONDS} s and was killed; its log:\n"
                    + self.log(name)[-2000:],
                    stacklevel=2,
                )
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        with contextlib.suppress(ProcessLookupError):  # anything it left in its group
            if proc:
                os.killpg(proc.pid, signal.SIGKILL)

    def up(self) -> Stack:
        for name in ("sandbox", "web", "worker"):
            self.start(name)
        return self._ready()

    def reset(self, app) -> Stack:
        """The stack as up() leaves it, without restarting any process: an empty database
        and Redis, the sandbox's state cleared, the demo seeded again. The worker is kept
        once it is idle (starting one costs seconds of imports), and so are its own keys
        in Redis (its registration and its scheduler's lock): everything else goes. A
        worker that will not settle is replaced. Any process a test stopped is started
        again."""
        self.stop("spare")
        if self.running("worker") and not self._empty_beside_idle_worker(app):
            self.stop("worker")
        if not self.running("worker"):
            empty_database_and_redis(app)
        if self.running("sandbox"):
            requests.post(self.sandbox_url + "/_sandbox/reset", timeout=10).raise_for_status()
        for name in ("sandbox", "web", "worker"):
            if not self.running(name):
                self.start(name)
        return self._ready()

    def _worker_activity(self, redis: Redis) -> tuple[int, int] | None:
        """The stack's worker's job counts while it is idle with nothing queued; None
        while it is busy or a job waits. LookupError when its registration is gone."""
        worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + self.worker_name,
                                    connection=redis)  # fmt: skip
        if worker is None:
            raise LookupError(self.worker_name)
        if Queue(self.queue, connection=redis).count or worker.get_state() != "idle":
            return None
        return worker.successful_job_count, worker.failed_job_count

    def _empty_beside_idle_worker(self, app, timeout: float = 20) -> bool:
        """Empty the database and Redis (but the workers' own keys) while the worker is
        idle, and make sure it ran nothing meanwhile (a job finishing after the database
        was emptied would leave its rows in the next module's). False if it never was
        idle, or its registration is gone (a worker nobody can see is replaced)."""
        deadline = time.monotonic() + timeout
        with Redis.from_url(self.env["REDIS_URL"]) as redis:
            try:
                while time.monotonic() < deadline:
                    before = self._worker_activity(redis)
                    if before is None:
                        time.sleep(0.05)
                        continue
                    empty_database_and_redis(app)
                    if self._worker_activity(redis) == before:
                        return True
            except LookupError:
                pass
        return False

    def _ready(self) -> Stack:
        wait_http(self.sandbox_url + "/_sandbox/state")
        wait_http(self.url + "/login")
        # `flask seed-demo` as the stack's processes would run it (their environment), in
        # this process: a subprocess paid seconds of imports for each module.
        if self._seeder is None:
            with mock.patch.dict(os.environ, self.env, clear=True):
                self._seeder = create_app()
        seeded = self._seeder.test_cli_runner().invoke(args=["seed-demo"])
        assert seeded.exit_code == 0 and "is connected to" in seeded.output, seeded.output
        with self._seeder.app_context():
            db.session.remove()
        self.wait_worker()
        return self

    def down(self) -> None:
        for name in list(self.procs):
            self.stop(name)
        if self._seeder is not None:
            with self._seeder.app_context():
                db.engine.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def sandbox_fault(self, kind: str, path: str, seconds: float = 0.0) -> None:
        """The sandbox's next answer on `path` fails (or is slow) as `kind` says."""
        fault = {"kind": kind, "path": path, "seconds": seconds}
        r = requests.post(self.sandbox_url + "/_sandbox/fault", json=fault, timeout=5)
        r.raise_for_status()

    def sandbox_state(self) -> dict:
        return requests.get(self.sandbox_url + "/_sandbox/state", timeout=5).json()


# RQ workers' registrations and statistics, and their schedulers' locks.
WORKER_KEYS = (b"rq:worker", b"rq:scheduler")


def empty_database_and_redis(app) -> None:
    """Every table emptied, and every Redis key but the workers' own: the shared stack's
    worker stays registered while a module runs a stack of its own beside it."""
    with app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        redis = get_redis(app)
        doomed = [k for k in redis.scan_iter(count=1000) if not k.startswith(WORKER_KEYS)]
        for i in range(0, len(doomed), 1000):
            redis.delete(*doomed[i : i + 1000])
        db.session.remove()


@contextlib.contextmanager
def running_stack(app, database_url: str, redis_url: str, **env: str) -> Iterator[Stack]:
    """The whole product on an empty database and Redis (the stack seeds its demo data),
    with `env` on top of the defaults; torn down after."""
    empty_database_and_redis(app)
    s = Stack(database_url, redis_url)
    s.env.update(env)
    try:
        yield s.up()
    finally:
        s.down()


@contextlib.contextmanager
def empty_stack(app, database_url: str, redis_url: str, mail_server, sender: str,
                sandbox: bool = False) -> Iterator[Stack]:  # fmt: skip
    """The product as a real installation begins: web and worker (and the sandbox when
    asked) on an empty database and Redis, no demo, its mail going to the test's SMTP
    server from `sender`; torn down after."""
    empty_database_and_redis(app)
    mail_server.clear()
    stack = Stack(database_url, redis_url)
    stack.env.update(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=str(mail_server.port), MAIL_USE_TLS="0",
        MAIL_DEFAULT_SENDER=sender, SHOW_DEMO_LOGINS="0",
    )  # fmt: skip
    try:
        for name in ("sandbox", "web", "worker") if sandbox else ("web", "worker"):
            stack.start(name)
        if sandbox:
            wait_http(stack.sandbox_url + "/_sandbox/state")
        wait_http(stack.url + "/login")
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="package")
def shared_stack(app, database_url, redis_url):
    """One set of processes for the browser tests (starting gunicorn and the worker is
    most of a stack's cost); `stack` gives each module a fresh state on it."""
    s = Stack(database_url, redis_url)
    try:
        yield s
    finally:
        s.down()


@pytest.fixture(scope="module")
def stack(app, shared_stack):
    """The whole product, as if just started on an empty database and Redis with the demo
    seeded: each module starts from that, as when each had its own processes."""
    return shared_stack.reset(app)


def login(page, stack: Stack, email: str, password: str = "demo1234") -> None:
    """Sign in as the login form would (its CSRF token, its POST) through the tab's own
    cookies, then open the page a login lands on. Rendering the login page for every
    test cost a page load each; the form itself is driven in the tests about it
    (test_walking_skeleton, test_audit_log, test_first_run)."""
    request = page.context.request
    form = request.get(stack.url + "/login").text()
    token = re.search(r'name="csrf_token"[^>]*\bvalue="([^"]+)"', form)
    assert token, form[:500]
    signed_in = request.post(
        stack.url + "/login",
        form={"csrf_token": token.group(1), "email": email, "password": password},
        max_redirects=0,
    )
    assert signed_in.status == 302, f"{email} could not sign in: {signed_in.text()[:500]}"
    page.goto(urljoin(stack.url, signed_in.headers["location"]))
    assert "/login" not in page.url, page.url


def sign_out(page) -> None:
    """Forget the session. Leave the page first: a request it still makes after the cookies
    are gone (htmx, keepalive, the live socket) gets sent to the login page, a navigation
    that would race the next goto and post a stale CSRF token."""
    page.goto("about:blank")
    page.context.clear_cookies()
    # A request the old page sent as it unloaded may still be answered after that, with a
    # cookie (a new session holding a "Please log in" flash and no CSRF secret: the next
    # login form then posts into it and gets a 400). Let it land, then forget it too.
    page.wait_for_timeout(300)
    page.context.clear_cookies()


def screenshot(page, name: str) -> None:
    """Save into docs/screenshots when SAVE_SCREENSHOTS=1 (the README shows them)."""
    if os.environ.get("SAVE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def shoot(page, folder: str, name: str) -> None:
    """The page fits a phone (390 px) without sideways scrolling; with SAVE_SCREENSHOTS=1
    it is saved at 1366 px and 390 px wide into docs/screenshots/<folder>/."""
    # A click that navigates returns once the new page is committed, before it is parsed
    # (document.documentElement is null for a moment: one CI run measured that moment).
    page.wait_for_load_state()
    save = bool(os.environ.get("SAVE_SCREENSHOTS"))
    into = SCREENSHOTS / folder
    if save:
        into.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(into / f"{name}-1366.png"), full_page=True)
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name} is {width}px wide on a phone"
    if save:
        page.screenshot(path=str(into / f"{name}-390.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def choose_password(page, password: str, button: str) -> None:
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("Confirm new password").fill(password)
    page.get_by_role("button", name=button).click()


def wait_js(page, expression: str, arg=None, timeout: float = 3.0):
    """Poll a page expression from here. Playwright's wait_for_function polls with eval
    inside the page, which our CSP (no unsafe-eval) rightly refuses; page.evaluate goes
    through the DevTools protocol and is not subject to it."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression, arg)
        if value or time.monotonic() > deadline:
            assert value, f"timed out waiting for {expression}"
            return value
        time.sleep(0.05)


class LiveFrames(list):
    """What the page's live socket sent (its page states), and whether the server has
    spoken on the newest socket yet."""

    heard = 0  # frames received on the newest socket


def live_frames(page) -> LiveFrames:
    """Record what the page's live socket sends (the page state it tells the server: path,
    search, visible) and hears. Call before the page opens its socket."""
    sent = LiveFrames()

    def on_socket(ws) -> None:
        sent.heard = 0

        def heard(_payload) -> None:
            sent.heard += 1

        ws.on("framesent", lambda payload: sent.append(str(payload)))
        ws.on("framereceived", heard)

    page.on("websocket", on_socket)
    return sent


def wait_live_told(page, sent: LiveFrames, timeout: float = 10.0) -> None:
    """Wait until the live socket listens for what comes next, instead of sleeping on it:
    it has told the server the page it shows now (what a text arriving next is rendered
    for), and the server has spoken on it. The server's first frame (the badge) leaves
    only once its process's listener has Redis's word that it is subscribed: a text sent
    before that reaches the page as a resync of its list, with no alert (inbox/web/live.py)."""
    import json
    from urllib.parse import urlsplit

    deadline = time.monotonic() + timeout
    while True:
        here = urlsplit(page.url)
        for frame in reversed(sent):
            try:
                told = json.loads(frame)
            except ValueError:
                continue
            search = f"?{here.query}" if here.query else ""
            if told.get("path") == here.path and told.get("search") == search and sent.heard:
                return
            break  # only the last state counts
        assert time.monotonic() < deadline, f"the live socket never told {page.url}: {sent[-3:]}"
        page.wait_for_timeout(20)


SETTLED = """() => new Promise((done) => {
  const give_up = setTimeout(done, 5000);
  const busy = () => document.readyState !== "complete"
    || document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling");
  const frame = () => requestAnimationFrame(() => setTimeout(() => {
    if (busy()) { frame(); } else { clearTimeout(give_up); done(); }
  }, 0));
  requestAnimationFrame(frame);
})"""


def settle(page) -> None:
    """Wait until the page has loaded, no htmx request, swap or settle is under way, and two
    more frames have run (focus and load handlers, a late swap's scripts)."""
    page.evaluate(SETTLED)
