"""Clinic Inbox: the application factory."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, render_template
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .config import INSTANCE, ROOT, Config
from .extensions import csrf, db, htmx, login_manager, migrate, sock


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

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    from .web import guards

    guards.init_app(app)  # who may call each route: decided before the CSRF check
    csrf.init_app(app)
    htmx.init_app(app)
    sock.init_app(app)

    from . import models  # noqa: F401 - register the tables

    @login_manager.user_loader
    def load_user(user_id: str):
        try:
            return db.session.get(models.User, int(user_id))
        except (TypeError, ValueError):
            return None

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    from .web import register_blueprints

    register_blueprints(app)

    from .cli import register_cli

    register_cli(app)

    from .web.helpers import register_template_helpers

    register_template_helpers(app)

    for code in (400, 403, 404, 405, 413, 500):
        app.register_error_handler(
            code, lambda e, code=code: (render_template("errors/error.html", code=code), code)
        )

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return app


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
