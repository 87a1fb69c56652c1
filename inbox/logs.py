"""Logs carry no patient text and no phone numbers.

Vonage may deliver webhooks by GET, so the text and the patient's number travel in the
query string; search terms (names, numbers) do too. Request lines are therefore logged
without their query string: by gunicorn (ACCESS_LOG_FORMAT, used by gunicorn.conf.py) and
by werkzeug's development server (a filter on its logger)."""

from __future__ import annotations

import logging
import re

# gunicorn's default minus %(r)s (the request line, with its query string), %(f)s (the
# referer: a page URL with its query) and %(a)s; %(U)s is the path alone.
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'

_QUERY = re.compile(r"\?[^\s\"]*")
# A one-time password link's token is a password until used: never in a log.
_LINK_TOKEN = re.compile(r"(/password/set/)[^\s\"?/]+")


def strip_query(text: str) -> str:
    """'GET /webhooks/vonage/inbound?msisdn=1917... HTTP/1.1' -> the same without '?...';
    '/password/set/<token>' -> '/password/set/[token]'."""
    return _LINK_TOKEN.sub(r"\1[token]", _QUERY.sub("", text))


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover - gunicorn is a dependency; tools may lack it
    _GunicornLogger = object  # type: ignore[assignment,misc]


class RedactingGunicornLogger(_GunicornLogger):  # type: ignore[misc,valid-type]
    """gunicorn's logger, with password-link tokens cut from the access log's path."""

    def atoms(self, resp, req, environ, request_time):  # noqa: D401 - gunicorn's hook
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("U", "r", "{raw_uri}e"):
            if isinstance(atoms.get(key), str):
                atoms[key] = _LINK_TOKEN.sub(r"\1[token]", atoms[key])
        return atoms


class RedactQueryStrings(logging.Filter):
    """Drop query strings from the arguments of werkzeug's request lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(strip_query(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = strip_query(record.msg)
        return True


def install_log_redaction() -> None:
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactQueryStrings) for f in logger.filters):
        logger.addFilter(RedactQueryStrings())
