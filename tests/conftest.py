"""Shared fixtures. One suite, two backends: embedded defaults (SQLite + an embedded
redis-server) unless DATABASE_URL / REDIS_URL point at real servers."""

from __future__ import annotations

import contextvars
import functools
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest
import simple_websocket

_TMP = Path(tempfile.mkdtemp(prefix="clinic-inbox-tests-"))
os.environ["INSTANCE_PATH"] = str(_TMP / "instance")
os.environ.setdefault("APP_ENV", "test")

from flask.testing import FlaskClient  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from inbox import create_app, embedded_redis  # noqa: E402
from inbox.broker import get_redis  # noqa: E402
from inbox.extensions import db  # noqa: E402
from inbox.sandbox import SandboxServer, SandboxState  # noqa: E402

API_KEY, API_SECRET, SIG_SECRET = "test-key", "test-secret", "test-signature-secret"


def pytest_sessionfinish(session, exitstatus):
    if not os.environ.get("REDIS_URL"):
        embedded_redis.stop(_TMP / "redis")
    shutil.rmtree(_TMP, ignore_errors=True)


# Under pytest-xdist (-n 2) every worker process needs its own database and Redis: the
# embedded defaults are per process already (_TMP); a server's are derived from the URLs.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ...


def _worker_redis_url(url: str) -> str:
    """Worker n uses Redis db TEST_REDIS_DBS[n] (comma-separated) if given, else the URL's
    db + n."""
    from urllib.parse import urlsplit, urlunsplit

    n = int(XDIST_WORKER.removeprefix("gw"))
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    dbs = [int(x) for x in os.environ.get("TEST_REDIS_DBS", "").split(",") if x.strip()]
    return urlunsplit(parts._replace(path=f"/{dbs[n] if dbs else base + n}"))


def _worker_database_url(url: str) -> str:
    """The URL's database with _gwN appended, created if missing."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url)
    mine = base.set(database=f"{base.database}_{XDIST_WORKER}")
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": mine.database}
            )
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{mine.database}"'))
    finally:
        engine.dispose()
    return mine.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        return embedded_redis.ensure_running(_TMP / "redis")
    return _worker_redis_url(url) if XDIST_WORKER else url


@pytest.fixture(scope="session")
def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        return _worker_database_url(url) if XDIST_WORKER else url
    return f"sqlite:///{_TMP / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def sandbox() -> SandboxServer:
    state = SandboxState(
        api_key=API_KEY,
        api_secret=API_SECRET,
        signature_secret=SIG_SECRET,
        signature_method="sha256",
        receipt_delay=0.02,
    )
    server = SandboxServer(state).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def app(database_url, redis_url, sandbox):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": redis_url,
            "VONAGE_API_KEY": API_KEY,
            "VONAGE_API_SECRET": API_SECRET,
            "VONAGE_SIGNATURE_SECRET": SIG_SECRET,
            "VONAGE_SIGNATURE_METHOD": "sha256",
            "VONAGE_REST_HOST": sandbox.host,
            "VONAGE_TIMEOUT": 2,
            "SHOW_DEMO_LOGINS": True,
            "RQ_QUEUE": "test",
        }
    )
    with app.app_context():
        if database_url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        upgrade()  # the real migrations, on SQLite and PostgreSQL alike
    server = make_server("127.0.0.1", 0, app, threaded=True)

    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = base
    sandbox.state.default_status_url = f"{base}/webhooks/vonage/status"
    sandbox.state.default_inbound_url = f"{base}/webhooks/vonage/inbound"
    yield app
    server.shutdown()


@pytest.fixture(autouse=True)
def _clean(request):
    """Every test starts from empty tables, an empty queue and a fresh sandbox."""
    if "app" not in request.fixturenames or request.node.get_closest_marker("e2e"):
        yield
        return
    app = request.getfixturevalue("app")
    sandbox = request.getfixturevalue("sandbox")
    # The last test's receipts land first: on SQLite ids start again, and a receipt for
    # the last test's text 1 would settle this test's text 1.
    assert sandbox.state.settle(), "a sandbox receipt never reached the app"
    with app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        get_redis(app).flushdb()
    sandbox.state.reset()
    # flask-limiter keeps one storage per process: an app another test created (bench
    # data, a Redis-down app) must not keep it.
    from inbox.extensions import limiter

    limiter.init_app(app)
    yield


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def demo(ctx, sandbox):
    """The demo practices, with the Glow number owned at the sandbox and pointed here."""
    from inbox.services import demo as demo_service
    from inbox.services import numbers

    account, _ = demo_service.seed_demo()
    numbers.connect(numbers.active_number(account.id))
    return account


class IsolatedClient(FlaskClient):
    """Each request runs in its own contexts, as in production: its own app context,
    DB session and `g`, not the test's."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


def fresh() -> None:
    """End the test's DB transaction so it sees what requests and jobs committed."""
    db.session.rollback()


def csrf_token(client, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'"X-CSRFToken": "([^"]+)"', html
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


_TOKENS = re.compile(r'("X-CSRFToken": "|name="csrf_token"[^>]*value=")[^"]+')


def without_csrf_tokens(html: str) -> str:
    """A page with its CSRF tokens blanked: they carry the second they were signed in, so two
    answers that should be the same differ in them whenever the requests straddle a second."""
    return _TOKENS.sub(r"\1T", html)


def login(client, email: str, password: str = "demo1234"):
    if client.get("/login").status_code == 302:  # someone is logged in: log out first
        client.post("/logout", data={"csrf_token": csrf_token(client, "/settings/profile")})
    token = csrf_token(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def run_jobs(app) -> None:
    """Work the queue in-process, as the RQ worker would, until it is empty."""
    from rq import SimpleWorker

    import workers.jobs

    workers.jobs._app = app
    worker = SimpleWorker([app.config["RQ_QUEUE"]], connection=get_redis(app))
    worker.work(burst=True)


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return predicate()


# ---- the app over real HTTP: a browser's session and its websocket ----------------------


def http_session(app, email: str | None, password: str = "demo1234"):
    """A requests session signed in through the login form (None: anonymous)."""
    import requests

    s = requests.Session()
    if email is None:
        return s
    base = app.config["PUBLIC_BASE_URL"]
    html = s.get(base + "/login", timeout=5).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    r = s.post(base + "/login", data={"email": email, "password": password, "csrf_token": token},
               timeout=5, allow_redirects=False)  # fmt: skip
    assert r.status_code == 302, email
    return s


class WholeHandshakeClient(simple_websocket.Client):
    """simple_websocket's client (1.1.0), keeping the frames that came with the handshake's
    answer. Its handshake takes only the first event of what it read: when the server's
    first frame (the badge, sent at once) arrived in the same read as the 101, as happens
    on a busy machine, the frame stayed in wsproto's buffer until more data came, and a test
    waited for a frame that had already arrived."""

    def __init__(self, *args, **kwargs):
        # Its reader thread must not keep a failed test's process alive, waiting on a socket.
        kwargs["thread_class"] = kwargs.get("thread_class") or functools.partial(
            threading.Thread, daemon=True
        )
        super().__init__(*args, **kwargs)

    def _thread(self):
        # What came with the 101 first (a close too: then the socket starts closed), then
        # read on. The reader thread starts once the handshake is through.
        self.connected = self._handle_events()
        super()._thread()


def ws_open(base: str, cookies: str, origin: str | None = None, client_class=None):
    """The live socket of the server at `base`, with that Cookie header (raises
    simple_websocket's ConnectionError when the handshake is refused)."""
    import requests

    return (client_class or WholeHandshakeClient).connect(
        base.replace("http://", "ws://") + "/ws",
        # The same browser: Flask-Login's strong session protection checks the agent.
        headers={"Cookie": cookies, "Origin": origin or base,
                 "User-Agent": requests.utils.default_user_agent()},
    )  # fmt: skip


def ws_connect(app, session, origin: str | None = None, client_class=None):
    """The live socket of that requests session."""
    cookies = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    return ws_open(app.config["PUBLIC_BASE_URL"], cookies, origin, client_class)


def ws_drain(ws, seconds: float) -> list[str]:
    """Every frame the socket receives within the next `seconds`."""
    from simple_websocket import ConnectionClosed

    got, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        except ConnectionClosed:
            break
        if data:
            got.append(data)
    return got


# ---- webhooks ------------------------------------------------------------------------


def inbound_params(**overrides) -> dict:
    """An inbound SMS webhook as Vonage sends it (unsigned; sign with sandbox.sign_params):
    Ava (the demo patient) texting Glow's inbox number."""
    import uuid

    params = {
        "msisdn": "19175550100",
        "to": "12125550134",
        "messageId": uuid.uuid4().hex[:16].upper(),
        "text": "Can I come at 4 instead?",
        "type": "text",
        "keyword": "CAN",
        "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "timestamp": str(int(time.time())),
        "nonce": str(uuid.uuid4()),
    }
    params.update(overrides)
    return params


def row_count(model) -> int:
    """Rows of a model as the database has them now (not this session's cache)."""
    from sqlalchemy import func, select

    fresh()
    return db.session.scalar(select(func.count()).select_from(model))


def get_with_sql(app, client, url: str, headers: dict | None = None) -> tuple[str, list[str]]:
    """GET url (expecting 200): its page, and the SQL statements run while answering it."""
    from sqlalchemy import event

    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        r = client.get(url, headers=headers or {})
        assert r.status_code == 200, f"{url}: {r.status_code}"
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return r.get_data(as_text=True), seen


def clinic_limited_user(account, clinics, email: str = "dt@glow.test"):
    """A staff member with the Inbox for only these clinics (password demo1234)."""
    from inbox.models import PRIVILEGE_INBOX, User

    user = User(account=account, email=email, name="Dee Town", role="staff",
                privileges=[PRIVILEGE_INBOX], all_clinics=False)  # fmt: skip
    user.set_password("demo1234")
    user.clinics = list(clinics)
    db.session.add(user)
    db.session.commit()
    return user


def many_conversations(account, n: int) -> None:
    """n read conversations in the account's first clinic, patients "Bulk000".. (their
    name keys written out), a month old, two at each minute (ties on purpose)."""
    from datetime import timedelta

    from inbox.models import Conversation, Patient, utcnow
    from inbox.services import phones
    from inbox.services.numbers import active_number

    number = active_number(account.id)
    clinic = account.clinics[0]
    base = utcnow() - timedelta(days=30)
    for i in range(n):
        phone = phones.normalize(f"+1212555{2000 + i:04d}")
        p = Patient(account_id=account.id, first_name=f"Bulk{i:03d}", last_name="Patient",
                    phone=phone, phone_digits=phones.national_digits(phone),
                    name_search=f"bulk{i:03d} patient|patient bulk{i:03d}",
                    home_clinic_id=clinic.id)  # fmt: skip
        db.session.add(p)
        db.session.flush()
        db.session.add(
            Conversation(
                account_id=account.id,
                inbox_number_id=number.id,
                patient_id=p.id,
                clinic_id=clinic.id,
                unread=False,
                last_direction="in",
                last_message_at=base + timedelta(minutes=i // 2),
                last_message_preview=f"hello {i}",
            )  # fmt: skip
        )
    db.session.commit()


# ---- email: a real SMTP server process -------------------------------------------------


@pytest.fixture(scope="session")
def mail_server():
    from tests.mailserver import MailServer

    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_on(app, mail_server):
    """The app sends email to the test SMTP server, which starts empty."""
    mail_server.clear()
    saved = {k: app.config.get(k) for k in ("MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS")}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=mail_server.port, MAIL_USE_TLS=False)
    yield mail_server
    app.config.update(saved)
