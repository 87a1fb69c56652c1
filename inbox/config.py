"""Every setting comes from the environment, here and nowhere else."""

from __future__ import annotations

import functools
import logging
import os
import secrets
import stat
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("INSTANCE_PATH", ROOT / "instance"))
log = logging.getLogger(__name__)

# The local sandbox's well-known key: any other VONAGE_API_KEY is a real carrier account.
SANDBOX_API_KEY = "sandbox-key"


def private_dir(path: Path) -> Path:
    """A folder of this app's data (the SQLite database, the embedded Redis, the sandbox's
    texts, the secret key): readable by this user alone, whatever the umask."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = path.stat()
    # An existing folder of ours (an install from before) is tightened too; never a shared
    # one such as /tmp (sticky) or another user's.
    if mode.st_uid == os.getuid() and not mode.st_mode & stat.S_ISVTX:
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty if missing, readable by this user alone (SQLite gives its -wal
    and -shm files the database file's mode)."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    path.chmod(0o600)
    return path


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """Use SECRET_KEY; in development keep a generated one under instance/ so
    sessions survive restarts and every process of one install shares it."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = private_dir(INSTANCE) / "secret_key"
    if not path.exists() or not path.read_text().strip():
        private_file(path).write_text(secrets.token_hex(32))
    return path.read_text().strip()


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        # Hosting platforms hand out postgres:// URLs; SQLAlchemy wants a driver name.
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://") :]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    # DEMO=0 (`DEMO=0 make dev`, and the flask commands run beside it): a database of its
    # own, so a first run starts empty and the demo's data stays as it was.
    name = "practice.sqlite3" if os.environ.get("DEMO") == "0" else "clinic-inbox.sqlite3"
    return f"sqlite:///{private_dir(INSTANCE) / name}"


class Config:
    """Read once at app creation; tests pass overrides to create_app()."""

    def __init__(self) -> None:
        self.ENV_NAME = os.environ.get("APP_ENV", "development")
        self.SECRET_KEY = _secret_key()
        self.SQLALCHEMY_DATABASE_URI = database_url()
        # hide_parameters: a database error in the log never carries patient text or numbers.
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}
        # Empty means: start (or join) the embedded redis-server under instance/.
        self.REDIS_URL = os.environ.get("REDIS_URL", "")
        self.VONAGE_API_KEY = os.environ.get("VONAGE_API_KEY", "")
        self.VONAGE_API_SECRET = os.environ.get("VONAGE_API_SECRET", "")
        self.VONAGE_SIGNATURE_SECRET = os.environ.get("VONAGE_SIGNATURE_SECRET", "")
        self.VONAGE_SIGNATURE_METHOD = os.environ.get("VONAGE_SIGNATURE_METHOD", "sha256")
        self.VONAGE_REST_HOST = os.environ.get("VONAGE_REST_HOST", "")
        self.VONAGE_TIMEOUT = int(os.environ.get("VONAGE_TIMEOUT", "10"))  # whole seconds (SDK)
        self.PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip(
            "/"
        )
        self.SANDBOX_PORT = int(os.environ.get("SANDBOX_PORT", "5001"))
        if not self.VONAGE_API_KEY:
            # No real keys: talk to the local sandbox with its well-known demo credentials.
            self.VONAGE_API_KEY = SANDBOX_API_KEY
            self.VONAGE_API_SECRET = self.VONAGE_API_SECRET or "sandbox-secret"
            self.VONAGE_SIGNATURE_SECRET = (
                self.VONAGE_SIGNATURE_SECRET or "sandbox-signature-secret"
            )
            self.VONAGE_REST_HOST = self.VONAGE_REST_HOST or f"127.0.0.1:{self.SANDBOX_PORT}"
        # How old a signed webhook's `timestamp` may be. Vonage signs when it *started*
        # pushing a message and keeps that stamp on every retry: inbound texts for 24 h,
        # delivery receipts for 72 h. A shorter window refuses late retries and loses
        # texts; replays are harmless anyway (deduplicated on the carrier's message id).
        # The defaults are the retry spans plus an hour.
        self.WEBHOOK_MAX_AGE_SECONDS = int(os.environ.get("WEBHOOK_MAX_AGE_SECONDS", "90000"))
        self.RECEIPT_MAX_AGE_SECONDS = int(os.environ.get("RECEIPT_MAX_AGE_SECONDS", "262800"))
        # A timestamp ahead of this server's clock by more than this is refused.
        self.WEBHOOK_CLOCK_SKEW_SECONDS = int(os.environ.get("WEBHOOK_CLOCK_SKEW_SECONDS", "300"))
        self.SHOW_DEMO_LOGINS = _bool("SHOW_DEMO_LOGINS", self.ENV_NAME == "development")
        # Cookies: never readable by scripts, not sent on cross-site subrequests, and only
        # over https outside development and tests (those serve plain http on loopback).
        secure = _bool("SESSION_COOKIE_SECURE", self.ENV_NAME not in ("development", "test"))
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = secure
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = secure
        # Signed out after this long without a user request (background traffic excluded),
        # warned IDLE_WARNING_SECONDS before; and after SESSION_MAX_HOURS whatever happens.
        self.IDLE_LOGOFF_MINUTES = float(os.environ.get("IDLE_LOGOFF_MINUTES", "15"))
        self.IDLE_WARNING_SECONDS = int(os.environ.get("IDLE_WARNING_SECONDS", "60"))
        self.SESSION_MAX_HOURS = float(os.environ.get("SESSION_MAX_HOURS", "12"))
        # Login throttling (flask-limiter on the app's Redis). Only failed attempts count.
        self.LOGIN_LIMIT_PER_EMAIL = os.environ.get("LOGIN_LIMIT_PER_EMAIL", "5/minute")
        self.LOGIN_LIMIT_PER_IP = os.environ.get("LOGIN_LIMIT_PER_IP", "20/minute")
        self.RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
        self.RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "")
        # Requests per API key (flask-limiter / limits notation), shared by every process.
        self.API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "600/minute")
        # How many reverse proxies in front set X-Forwarded-For/-Proto (0: none).
        self.TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
        # Webhooks: "on" (default) checks Vonage's signature; "off" must be said out loud.
        self.WEBHOOK_SIGNATURES = os.environ.get("WEBHOOK_SIGNATURES", "on").strip().lower()
        self.WEBHOOK_MAX_BYTES = int(os.environ.get("WEBHOOK_MAX_BYTES", str(64 * 1024)))
        # A webhook waits this long for its group to be stored before it answers 503.
        self.WEBHOOK_STORE_TIMEOUT_SECONDS = float(
            os.environ.get("WEBHOOK_STORE_TIMEOUT_SECONDS", "10")
        )
        # A request's body must arrive within this many seconds (gunicorn without the
        # proxy in front: a slow client would hold a thread; see inbox/slow_clients.py).
        self.REQUEST_BODY_TIMEOUT_SECONDS = float(
            os.environ.get("REQUEST_BODY_TIMEOUT_SECONDS", "10")
        )
        self.WTF_CSRF_TIME_LIMIT = None
        # Password hashes: werkzeug's scrypt (N=32768, about 0.14 s of CPU a hash, on
        # purpose). The tests' stacks hash with N=1024 instead: a run logs in and seeds
        # users thousands of times, and half its CPU went here. Same algorithm and code.
        self.PASSWORD_HASH_METHOD = "scrypt:1024:8:1" if self.ENV_NAME == "test" else "scrypt"
        self.MAX_CONTENT_LENGTH = 64 * 1024
        # Patients › Import patients takes a CSV this large (only at IMPORT_PATH: Flask, the
        # body-reading middleware and the nginx proxy all allow it there and nowhere else),
        # and gives its body IMPORT_BODY_TIMEOUT_SECONDS to arrive.
        self.IMPORT_MAX_BYTES = int(os.environ.get("IMPORT_MAX_BYTES", str(20 * 1024 * 1024)))
        # The API's batch upserts (up to 1,000 records) take a body this large.
        self.API_BATCH_MAX_BYTES = int(os.environ.get("API_BATCH_MAX_BYTES", str(2 * 1024 * 1024)))
        self.IMPORT_BODY_TIMEOUT_SECONDS = float(
            os.environ.get("IMPORT_BODY_TIMEOUT_SECONDS", "120")
        )
        self.RQ_QUEUE = os.environ.get("RQ_QUEUE", "default")
        # Outbound: Vonage's default account throughput; 0 turns the limit off.
        self.SEND_RATE_PER_SECOND = int(os.environ.get("SEND_RATE_PER_SECOND", "30"))
        # A send job also sends up to this many texts waiting behind it in the queue (one
        # job's bookkeeping for the batch), for at most SEND_BATCH_SECONDS; 0 turns it off.
        self.SEND_BATCH = int(os.environ.get("SEND_BATCH", "20"))
        self.SEND_BATCH_SECONDS = float(os.environ.get("SEND_BATCH_SECONDS", "20"))
        # Seconds between the tries of a send that failed for a passing reason (jittered).
        self.SEND_RETRY_INTERVALS = [
            float(x) for x in os.environ.get("SEND_RETRY_INTERVALS", "2,10,30,120,300").split(",")
        ]
        # The outbox sweep: a text still `queued` this long with no live job is enqueued
        # again; one `sending` this long lost its worker; one unconfirmed this long with
        # no receipt is failed with Retry offered (never re-sent on its own).
        self.SWEEP_QUEUED_AFTER_SECONDS = float(os.environ.get("SWEEP_QUEUED_AFTER_SECONDS", "60"))
        self.SWEEP_SENDING_AFTER_SECONDS = float(
            os.environ.get("SWEEP_SENDING_AFTER_SECONDS", "120")
        )
        self.UNCONFIRMED_AFTER_SECONDS = float(os.environ.get("UNCONFIRMED_AFTER_SECONDS", "900"))
        # Long inbound texts: how long to wait for a missing part before showing the rest.
        self.CONCAT_TIMEOUT_SECONDS = float(os.environ.get("CONCAT_TIMEOUT_SECONDS", "120"))
        # Reminders go from here while an account's Inbox is off (the installation's
        # shared sender; an account may set its own).
        # A number any practice here gave up is offered to no other for this many days:
        # its old patients may still text it.
        self.NUMBER_QUARANTINE_DAYS = float(os.environ.get("NUMBER_QUARANTINE_DAYS", "90"))
        self.SMS_DEFAULT_SENDER = os.environ.get("SMS_DEFAULT_SENDER", "+12125550199")
        self.REMINDER_LEAD_HOURS = float(os.environ.get("REMINDER_LEAD_HOURS", "24"))
        # Local hours (clinic timezone) in which reminders may go out: [start, end).
        self.REMINDER_HOURS = (8, 21)
        # Email (password links). No MAIL_SERVER: nothing is sent and links are shown to
        # copy instead. MAIL_USE_TLS is STARTTLS (port 587); MAIL_USE_SSL is TLS from the
        # first byte (port 465).
        self.MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
        self.MAIL_PORT = int(os.environ.get("MAIL_PORT", "587"))
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
        self.MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = _bool("MAIL_USE_SSL", False)
        self.MAIL_DEFAULT_SENDER = os.environ.get(
            "MAIL_DEFAULT_SENDER", "Clinic Inbox <no-reply@localhost>"
        )
        self.MAIL_TIMEOUT = int(os.environ.get("MAIL_TIMEOUT", "10"))
        # Flask-Mailman would swap SMTP for an in-memory outbox under TESTING; the tests
        # read what a real SMTP server received instead.
        self.MAIL_BACKEND = "smtp"
        # "Forgot password?": requests per email address and per client address.
        self.RESET_LIMIT_PER_EMAIL = os.environ.get("RESET_LIMIT_PER_EMAIL", "3/hour")
        self.RESET_LIMIT_PER_IP = os.environ.get("RESET_LIMIT_PER_IP", "10/hour")
        # Change password: wrong current passwords per signed-in user.
        self.PASSWORD_CHANGE_LIMIT = os.environ.get("PASSWORD_CHANGE_LIMIT", "5/15 minutes")
        # Event webhooks out (Settings › Integrations › Webhooks). Seconds before each try
        # of a delivery (Standard Webhooks' suggestion; the last repeats) until it is
        # WEBHOOK_GIVE_UP_SECONDS old, with a last try at that mark (the schedule's next
        # would pass it); an endpoint failing for WEBHOOK_DISABLE_AFTER_SECONDS is disabled.
        self.WEBHOOK_RETRY_SCHEDULE = [
            float(x)
            for x in os.environ.get(
                "WEBHOOK_RETRY_SCHEDULE", "0,5,300,1800,7200,18000,36000,36000"
            ).split(",")
        ]
        self.WEBHOOK_GIVE_UP_SECONDS = float(os.environ.get("WEBHOOK_GIVE_UP_SECONDS", "86400"))
        self.WEBHOOK_DISABLE_AFTER_SECONDS = float(
            os.environ.get("WEBHOOK_DISABLE_AFTER_SECONDS", "86400")
        )
        self.WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10"))
        # Production: endpoints must be https and resolve to public addresses only
        # (server-side request forgery: checked on each try's connection, which goes only to
        # an address checked); development and tests may use loopback and http.
        production = self.ENV_NAME == "production"
        self.WEBHOOK_REQUIRE_HTTPS = _bool("WEBHOOK_REQUIRE_HTTPS", production)
        self.WEBHOOK_ALLOW_PRIVATE = _bool("WEBHOOK_ALLOW_PRIVATE", not production)
        # Pings find dead tabs; each open socket holds one gunicorn thread. Its reader thread
        # is a daemon: an open tab must not keep a stopping process alive.
        self.SOCK_SERVER_OPTIONS = {
            "ping_interval": 25,
            "thread_class": functools.partial(threading.Thread, daemon=True),
        }

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k.isupper()}


# The one route that takes a large upload (see IMPORT_MAX_BYTES).
IMPORT_PATH = "/patients/import"
# The API's batch upserts (see API_BATCH_MAX_BYTES).
API_BATCH_PATHS = ("/api/v1/patients/batch", "/api/v1/appointments/batch")


def check_production_config(config: Mapping[str, Any]) -> None:
    """Refuse to serve with unsigned (forgeable) webhooks in production, or with a real
    carrier account whatever APP_ENV says (real patients' texts arrive there), unless
    switched off out loud. Called by create_app() before anything else is set up."""
    if config.get("WEBHOOK_SIGNATURES") == "off":
        log.warning(
            "WEBHOOK_SIGNATURES=off: Vonage webhooks are NOT verified; anyone who can reach "
            "/webhooks/vonage/* can forge patient texts and delivery receipts"
        )
        return
    key = config.get("VONAGE_API_KEY") or SANDBOX_API_KEY
    real_carrier = key != SANDBOX_API_KEY
    if config.get("ENV_NAME") != "production" and not real_carrier:
        return
    secret = config.get("VONAGE_SIGNATURE_SECRET") or ""
    if not secret or secret == "sandbox-signature-secret":
        why = "APP_ENV=production" if not real_carrier else "A real VONAGE_API_KEY"
        raise RuntimeError(
            f"{why} needs VONAGE_SIGNATURE_SECRET (Vonage's signed webhooks: without it "
            "anyone can forge patient texts); set WEBHOOK_SIGNATURES=off to run without "
            "them, at your own risk"
        )
