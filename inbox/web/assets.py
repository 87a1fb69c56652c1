"""Static files under URLs that name their content, cached by the browser for a year.

`url_for("static", filename=...)` adds `?v=` and the first characters of the file's
SHA-256; a request carrying the current one is answered with a year's `immutable` cache,
so a page load asks for none of its stylesheets, scripts or fonts again (it used to
revalidate seven files per page: seven requests through the app on every navigation).
A changed file gets a new URL, so nobody keeps an old copy. The vendored icon font is
requested with the content hash its own stylesheet gives it, so it is cached the same way.
Anything else (no version, an old one) is revalidated as before."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache

from flask import Flask, Response, current_app, request
from werkzeug.security import safe_join

YEAR_SECONDS = 365 * 24 * 3600
IMMUTABLE = f"public, max-age={YEAR_SECONDS}, immutable"
VERSIONED_BY_THEIR_STYLESHEET = "vendor/bootstrap-icons/fonts/"


@lru_cache(maxsize=256)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    """Keyed by modification time and size too: an edited file (`make dev`) gets a new one."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:12]


def version(filename: str) -> str | None:
    """The content version of a file in static/, or None when there is no such file."""
    path = safe_join(current_app.static_folder or "", filename)  # as send_from_directory
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _digest(path, stat.st_mtime_ns, stat.st_size)


def _add_version(endpoint: str | None, values: dict) -> None:
    if endpoint == "static" and "filename" in values and "v" not in values:
        v = version(values["filename"])
        if v:
            values["v"] = v


def _cache_versioned(response: Response) -> Response:
    if request.endpoint != "static" or response.status_code not in (200, 304):
        return response
    filename = (request.view_args or {}).get("filename", "")
    wanted = request.args.get("v")
    if (wanted and wanted == version(filename)) or (
        filename.startswith(VERSIONED_BY_THEIR_STYLESHEET) and request.query_string
    ):
        response.headers["Cache-Control"] = IMMUTABLE
    return response


def init_app(app: Flask) -> None:
    app.url_defaults(_add_version)
    app.after_request(_cache_versioned)
