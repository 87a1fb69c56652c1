"""Security headers on every response, a CSP the templates can live with (no inline
script, style or handlers anywhere), and the production start-up check on webhooks."""

import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from inbox.extensions import db
from inbox.models import Conversation
from inbox.web.security import check_production_config
from tests.conftest import login

ROOT = Path(__file__).resolve().parents[2]


def _csp(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {d.split()[0]: " ".join(d.split()[1:]) for d in policy.split("; ")}


def _check(response) -> None:
    csp = _csp(response)
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["img-src"] == "'self' data:"
    assert csp["connect-src"] == "'self' ws://localhost"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["base-uri"] == "'self'" and csp["form-action"] == "'self'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_every_kind_of_response_carries_the_headers(client, demo):
    conv = db.session.scalars(select(Conversation)).first()
    responses = [client.get("/login"), client.get("/inbox"), client.get("/no-such-page")]
    login(client, "staff@glow.test")
    responses += [
        client.get("/inbox"),
        client.get(f"/inbox/c/{conv.id}", headers={"HX-Request": "true"}),
        client.get(f"/patients/{conv.patient_id}"),
        client.get("/settings/profile"),
        client.get("/static/js/app.js"),
        client.get("/webhooks/vonage/inbound"),
        client.post("/webhooks/vonage/inbound", data="{", content_type="application/json"),
    ]
    for r in responses:
        assert r.status_code < 500
        _check(r)
    assert responses[3].headers["Cache-Control"] == "no-store"  # patient data: not cached


def test_templates_have_no_inline_script_style_or_handlers():
    """What the CSP forbids, the templates must not need (the sandbox's own pages are a
    separate app and not covered)."""
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        if path.parent.name == "email":
            # Email bodies are not pages: no CSP reaches them, and mail clients drop <style>
            # and stylesheets, so their look is inline. They carry no script (checked below).
            if "<script" in path.read_text() or "javascript:" in path.read_text():
                offenders.append(f"{path.name}: script in an email")
            continue
        html = path.read_text()
        for match in re.finditer(r"<script\b[^>]*>", html):
            if "src=" not in match.group(0):
                offenders.append(f"{path.name}: inline <script>")
        if re.search(r"\sstyle\s*=", html):
            offenders.append(f"{path.name}: style= attribute")
        if re.search(r"<style\b", html):
            offenders.append(f"{path.name}: <style> block")
        for match in re.finditer(r"\s(on[a-z]+|hx-on[:\w-]*)\s*=", html):
            offenders.append(f"{path.name}: {match.group(1)}= handler")
        if "javascript:" in html:
            offenders.append(f"{path.name}: javascript: URL")
    assert offenders == []
    base = (ROOT / "templates" / "base.html").read_text()
    assert '"includeIndicatorStyles": false' in base and '"allowEval": false' in base


def test_production_refuses_to_start_without_webhook_signatures(caplog):
    prod = {"ENV_NAME": "production", "WEBHOOK_SIGNATURES": "on"}
    with pytest.raises(RuntimeError, match="VONAGE_SIGNATURE_SECRET"):
        check_production_config({**prod, "VONAGE_SIGNATURE_SECRET": ""})
    with pytest.raises(RuntimeError):  # the sandbox's well-known secret is no secret
        check_production_config({**prod, "VONAGE_SIGNATURE_SECRET": "sandbox-signature-secret"})
    check_production_config({**prod, "VONAGE_SIGNATURE_SECRET": "a-real-one"})
    check_production_config({"ENV_NAME": "development", "VONAGE_SIGNATURE_SECRET": ""})
    with caplog.at_level(logging.WARNING):
        check_production_config({**prod, "WEBHOOK_SIGNATURES": "off"})
    assert "NOT verified" in caplog.text


def test_real_carrier_keys_refuse_to_start_without_webhook_signatures(caplog):
    """Whatever APP_ENV says: a real Vonage account receives real patients' texts."""
    for env in ("development", "test", "staging", "production"):
        real = {"ENV_NAME": env, "WEBHOOK_SIGNATURES": "on", "VONAGE_API_KEY": "a1b2c3d4"}
        with pytest.raises(RuntimeError, match="VONAGE_SIGNATURE_SECRET"):
            check_production_config({**real, "VONAGE_SIGNATURE_SECRET": ""})
        with pytest.raises(RuntimeError, match="VONAGE_API_KEY"):
            check_production_config(real)
        check_production_config({**real, "VONAGE_SIGNATURE_SECRET": "a-real-one"})
        with caplog.at_level(logging.WARNING):
            check_production_config({**real, "WEBHOOK_SIGNATURES": "off"})
        assert "NOT verified" in caplog.text
    # The sandbox (no key set) in development needs none.
    check_production_config({"ENV_NAME": "development", "VONAGE_API_KEY": "sandbox-key"})


def test_create_app_refuses_real_keys_without_a_secret(app):
    from inbox import create_app

    with pytest.raises(RuntimeError, match="VONAGE_API_KEY"):
        create_app({"ENV_NAME": "development", "VONAGE_API_KEY": "a1b2c3d4",
                    "VONAGE_SIGNATURE_SECRET": ""})  # fmt: skip


def test_create_app_refuses_production_without_a_secret(app):
    from inbox import create_app

    with pytest.raises(RuntimeError):
        create_app({"ENV_NAME": "production", "VONAGE_SIGNATURE_SECRET": ""})
