"""Clinic Inbox: the application factory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, render_template, session
from sqlalchemy import event, make_url
from sqlalchemy.engine import Engine

from .config import (
    API_BATCH_PATHS,
    IMPORT_PATH,
    INSTANCE,
    ROOT,
    Config,
    check_production_config,
    private_file,
)
from .extensions import csrf, db, htmx, limiter, login_manager, mail, migrate, sock


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(INSTANCE),
    )
    app.config.from_mapping(Config().as_dict())
    if overrides:
        app.config.update(overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from .logs import install_log_redaction

    install_log_redaction()
    check_production_config(app.config)
    _configure_limiter(app)
    _wrap_wsgi(app)
    _configure_engine(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    from .web import cached, guards

    cached.init_app(app)  # reads the page generation before anything reads the database
    guards.init_app(app)  # who may call each route: decided before the CSRF check
    app.before_request(_larger_uploads)  # before the CSRF check reads the form
    csrf.init_app(app)
    htmx.init_app(app)
    sock.init_app(app)
    limiter.init_app(app)
    mail.init_app(app)

    from . import models  # noqa: F401 - register the tables

    _configure_login()
    from .cli import register_cli
    from .web import register_blueprints
    from .web.helpers import register_template_helpers

    register_blueprints(app)
    register_cli(app)
    register_template_helpers(app)
    _error_pages(app)
    from .web import assets, security

    security.init_app(app)
    assets.init_app(app)  # static files under URLs that name their content
    return app


def _wrap_wsgi(app: Flask) -> None:
    """The middleware around the app: the proxy's headers, then (outermost) the body read
    in full, or refused with 408, before anything else runs."""
    if app.config.get("TRUSTED_PROXIES"):
        # Behind a reverse proxy: the client's address (login throttle, session binding)
        # and scheme (secure cookies, wss) come from its X-Forwarded-* headers.
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    from .slow_clients import BoundedBody

    app.wsgi_app = BoundedBody(  # type: ignore[method-assign]
        app.wsgi_app,
        timeout=app.config["REQUEST_BODY_TIMEOUT_SECONDS"],
        limit=max(app.config["MAX_CONTENT_LENGTH"], app.config["WEBHOOK_MAX_BYTES"]),
        larger={
            IMPORT_PATH: (
                app.config["IMPORT_MAX_BYTES"],
                app.config["IMPORT_BODY_TIMEOUT_SECONDS"],
            ),
            **{
                path: (app.config["API_BATCH_MAX_BYTES"], app.config["IMPORT_BODY_TIMEOUT_SECONDS"])
                for path in API_BATCH_PATHS
            },
        },
    )


def _configure_engine(app: Flask) -> None:
    """The database engine's options for the database the URL names."""
    uri, options = (
        str(app.config["SQLALCHEMY_DATABASE_URI"]),
        app.config["SQLALCHEMY_ENGINE_OPTIONS"],
    )
    if uri.startswith("sqlite"):
        # A file cannot drop a connection: the ping would be a statement per checkout.
        options = {**options, "pool_pre_ping": False}
        path = make_url(uri).database
        if path and path != ":memory:" and not Path(path).exists():
            private_file(Path(path))  # patients' texts: this user's alone (and its WAL)
    elif uri.startswith("postgresql"):
        # Every query of this app reads a few index ranges in a few ms; starting parallel
        # workers costs more than that (a name search took 39 ms with one, 17 ms without).
        # Its pages are in memory: a page read at random costs about what the next one
        # does. At the default (4) a search's count went to a sequential scan (91 ms
        # against 22) as soon as recent texts had left table pages to read beside the index.
        connect_args = dict(options.get("connect_args", {}))
        connect_args["options"] = (
            connect_args.get("options", "")
            + " -c max_parallel_workers_per_gather=0 -c random_page_cost=1.1"
        ).strip()
        options = {**options, "connect_args": connect_args}
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _configure_login() -> None:
    """Flask-Login: the signed-in user, read through the page cache's user cache, and
    only while the session belongs to the user's current generation."""
    from .services import sessions
    from .web import cached

    @login_manager.user_loader
    def load_user(user_id: str):
        try:
            user = cached.load_user(int(user_id))
        except (TypeError, ValueError):
            return None
        if user is not None and not sessions.is_current(user, session.get(sessions.GENERATION)):
            # Ended on the server (logout, password change, deactivation, "Sign out
            # everywhere"): a copy of the cookie is worth nothing.
            session.clear()
            return None
        return user

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"


def _error_pages(app: Flask) -> None:
    """Error pages: problem details under /api/v1, the app's page elsewhere."""
    from . import api
    from .web.patients import import_too_large

    api.init_app(app)  # /api/v1: bearer keys, problem details (before the pages' handlers)
    for code in (400, 401, 403, 404, 405, 413, 500):
        app.register_error_handler(
            code,
            api.api_error_or(
                lambda e, code=code: (render_template("errors/error.html", code=code), code)
            ),
        )
    app.register_error_handler(413, api.api_error_or(import_too_large))


def _configure_limiter(app: Flask) -> None:
    """flask-limiter on the app's Redis (shared by every process), failing open: if Redis
    is down, logins still work and the limiter logs why it did not count."""
    config = app.config
    if not config.get("RATELIMIT_STORAGE_URI"):
        url = config.get("REDIS_URL") or ""
        if not url:
            # The embedded server's socket (inbox.embedded_redis); started by the first
            # process that needs Redis.
            url = "unix://" + str(Path(config.get("INSTANCE_DIR", INSTANCE)) / "redis.socket")
        if url.startswith("unix://"):
            url = "redis+unix://" + url[len("unix://") :]
        config["RATELIMIT_STORAGE_URI"] = url
    config.setdefault(
        "RATELIMIT_STORAGE_OPTIONS", {"socket_timeout": 1, "socket_connect_timeout": 1}
    )
    config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    config.setdefault("RATELIMIT_KEY_PREFIX", "login-throttle")
    config.setdefault("RATELIMIT_HEADERS_ENABLED", False)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL, foreign keys and a busy timeout, so web and worker share SQLite safely."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def _larger_uploads() -> None:
    """Import patients takes a CSV up to IMPORT_MAX_BYTES, the API's batch upserts up to
    API_BATCH_MAX_BYTES; every other route keeps MAX_CONTENT_LENGTH (64 KB)."""
    from flask import current_app, request

    if request.path == IMPORT_PATH and request.method == "POST":
        request.max_content_length = current_app.config["IMPORT_MAX_BYTES"]
    elif request.path in API_BATCH_PATHS and request.method == "POST":
        request.max_content_length = current_app.config["API_BATCH_MAX_BYTES"]
