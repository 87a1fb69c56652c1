"""Request lines are logged without query strings (webhooks by GET carry the patient's
text and number there; search terms carry names and numbers)."""

import datetime
import logging
import runpy
from pathlib import Path
from types import SimpleNamespace

from gunicorn.config import Config
from gunicorn.glogging import Logger

from inbox.logs import RedactQueryStrings, strip_query

ROOT = Path(__file__).resolve().parents[2]
QUERY = "msisdn=19175550100&to=12125550134&text=my+rash+is+worse"


def test_gunicorn_access_log_has_the_path_but_not_the_query():
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("access_log_format", settings["access_log_format"])
    logger = Logger(cfg)
    environ = {
        "REQUEST_METHOD": "GET", "RAW_URI": "/webhooks/vonage/inbound?" + QUERY,
        "PATH_INFO": "/webhooks/vonage/inbound", "QUERY_STRING": QUERY,
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "203.0.113.9",
        "HTTP_REFERER": "http://127.0.0.1:5000/inbox?q=%2B19175550100",
    }  # fmt: skip
    resp = SimpleNamespace(status="200 OK", sent=0, headers=[])
    atoms = logger.atoms(resp, [], environ, datetime.timedelta(milliseconds=3))
    line = cfg.access_log_format % atoms
    assert "GET /webhooks/vonage/inbound HTTP/1.1" in line and " 200 " in line
    for secret in ("19175550100", "12125550134", "rash", "q="):
        assert secret not in line


def test_werkzeug_request_lines_lose_their_query(caplog):
    filtered = logging.getLogger("redaction-test")
    filtered.addFilter(RedactQueryStrings())
    with caplog.at_level(logging.INFO, logger="redaction-test"):
        request_line = "GET /webhooks/vonage/inbound?" + QUERY + " HTTP/1.1"
        filtered.info('%s - - [x] "%s" %s %s', "127.0.0.1", request_line, "200", "-")
    assert caplog.records[-1].getMessage() == (
        '127.0.0.1 - - [x] "GET /webhooks/vonage/inbound HTTP/1.1" 200 -'
    )
    assert strip_query("/inbox?q=Ava") == "/inbox"


def test_password_link_tokens_never_reach_a_log(caplog):
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("access_log_format", settings["access_log_format"])
    cfg.set("logger_class", settings["logger_class"])
    logger = cfg.logger_class(cfg)
    token = "3g53dbgRdrmtBdxhr7ioh0dOD2iKdB8cY3vk8AcQZXQ"
    environ = {
        "REQUEST_METHOD": "GET", "RAW_URI": "/password/set/" + token,
        "PATH_INFO": "/password/set/" + token, "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "203.0.113.9",
    }  # fmt: skip
    resp = SimpleNamespace(status="200 OK", sent=0, headers=[])
    line = cfg.access_log_format % logger.atoms(resp, [], environ, datetime.timedelta(0))
    assert "GET /password/set/[token] HTTP/1.1" in line and token not in line

    filtered = logging.getLogger("redaction-test")
    filtered.addFilter(RedactQueryStrings())
    with caplog.at_level(logging.INFO, logger="redaction-test"):
        filtered.info('"%s" %s', f"POST /password/set/{token} HTTP/1.1", "302")
    assert caplog.records[-1].getMessage() == '"POST /password/set/[token] HTTP/1.1" 302'
