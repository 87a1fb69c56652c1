"""A local, wire-compatible stand-in for Vonage's SMS and Numbers REST APIs, plus a
patient-phone page that texts the practice through signed inbound webhooks."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, jsonify

from . import control, phone, vonage_api
from .state import SandboxState

STATIC = Path(__file__).resolve().parent.parent.parent / "static"


def create_sandbox_app(state: SandboxState) -> Flask:
    """The sandbox on `state` (its views read it as current_state())."""
    app = Flask(
        __name__,
        template_folder="templates",
        static_folder=str(STATIC),
        static_url_path="/static",
    )
    app.config["SANDBOX"] = state
    for blueprint in (vonage_api.bp, phone.bp, control.bp):
        app.register_blueprint(blueprint)

    @app.errorhandler(404)
    def _not_found(_e):
        return jsonify({"type": "not-found"}), 404

    return app
