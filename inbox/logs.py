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


def strip_query(text: str) -> str:
    """'GET /webhooks/vonage/inbound?msisdn=1917... HTTP/1.1' -> the same without '?...'."""
    return _QUERY.sub("", text)


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
