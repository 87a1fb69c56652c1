"""The body-reading middleware allows the import route its larger limit (and deadline), and
every other route the app-wide one."""

from __future__ import annotations

import io
import socket

from inbox.slow_clients import BoundedBody


def _call(path: str, body: bytes):
    seen = {}

    def app(environ, start_response):
        seen["read"] = (
            isinstance(environ["wsgi.input"], io.BytesIO)
            and environ["wsgi.input"].getvalue() == body
        )
        start_response("200 OK", [])
        return [b"ok"]

    a, b = socket.socketpair()
    try:
        wrapped = BoundedBody(app, timeout=5, limit=1024,
                              larger={"/patients/import": (4096, 30)})  # fmt: skip
        environ = {"gunicorn.socket": a, "CONTENT_LENGTH": str(len(body)), "PATH_INFO": path,
                   "wsgi.input": io.BufferedReader(io.BytesIO(body))}  # fmt: skip
        statuses = []
        wrapped(environ, lambda status, headers: statuses.append(status))
        return statuses[0], seen["read"]
    finally:
        a.close()
        b.close()


def test_the_import_route_reads_bodies_up_to_its_own_limit():
    assert _call("/patients/import", b"x" * 3000) == ("200 OK", True)


def test_other_routes_keep_the_app_wide_limit():
    # Past the limit the body is not read: the app answers 413 without reading it.
    assert _call("/patients/new", b"x" * 3000) == ("200 OK", False)
    assert _call("/patients/new", b"x" * 1000) == ("200 OK", True)
    assert _call("/patients/import", b"x" * 5000) == ("200 OK", False)
