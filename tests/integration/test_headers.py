"""Security headers on every response, a CSP the templates can live with (no inline
script, style or handlers anywhere), and the production start-up check on webhooks."""

import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from inbox.config import check_production_config
from inbox.extensions import db
from inbox.models import Conversation
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


def test_static_files_are_named_by_their_content_and_cached_for_a_year(
    app, client, tmp_path, monkeypatch
):
    """A page asks for none of its stylesheets, scripts or fonts again on the next page
    (seven revalidations per navigation before); a changed file gets a new URL."""
    from inbox.web import assets

    html = client.get("/login").get_data(as_text=True)
    urls = re.findall(r'(?:href|src)="(/static/[^"?]+)\?v=([0-9a-f]{12})"', html)
    assert {u for u, _ in urls} >= {"/static/css/app.css", "/static/js/app.js",
                                     "/static/vendor/htmx/htmx-2.0.11.min.js"}  # fmt: skip
    assert not re.search(r'(?:href|src)="/static/[^"?]+"', html), "every asset is versioned"
    for url, v in urls:
        r = client.get(f"{url}?v={v}")
        assert r.status_code == 200 and r.headers["Cache-Control"] == assets.IMMUTABLE, url
        assert "Content-Security-Policy" in r.headers
    # The icon font, under the content hash its own stylesheet gives it.
    css = (ROOT / "static/vendor/bootstrap-icons/bootstrap-icons.min.css").read_text()
    font = re.search(r'url\("(fonts/bootstrap-icons\.woff2\?[0-9a-f]+)"\)', css).group(1)
    r = client.get("/static/vendor/bootstrap-icons/" + font)
    assert r.status_code == 200 and r.headers["Cache-Control"] == assets.IMMUTABLE
    # No version, or an old one: revalidated as before (never a year of a stale file).
    for url in ("/static/css/app.css", "/static/css/app.css?v=000000000000",
                "/static/vendor/htmx/htmx-2.0.11.min.js?x=1"):  # fmt: skip
        r = client.get(url)
        assert r.status_code == 200 and "immutable" not in r.headers.get("Cache-Control", "")
    assert client.get("/static/no-such.css?v=0").status_code == 404
    # An edited file is a new URL (make dev: edit app.css, reload, see it).
    monkeypatch.setattr(app, "static_folder", str(tmp_path))
    (tmp_path / "x.css").write_text("a{}")
    with app.test_request_context():
        first = assets.version("x.css")
        (tmp_path / "x.css").write_text("b{color:red}")
        assert assets.version("x.css") not in (first, None)
        assert assets.version("missing.css") is None


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
