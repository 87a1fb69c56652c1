"""`@cached_page`: serve a list page rendered earlier when nothing it shows has changed
(the rules are in inbox.services.page_cache).

The key is everything the bytes depend on: the view and its full URL, the htmx headers
that pick the fragment, the user, the session's CSRF secret (forms in the page carry a
token made from it), the 15-minute time bucket, and the generations read before the request
touched the database. Pages with a flash message pending are never stored (showing the
message consumes it)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Flask, current_app, g, make_response, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response

from ..services import page_cache

# Set at login: the generation is read before the user's row is.
ACCOUNT_KEY = "_account_id"
_KEPT_HEADERS = ("Content-Type", "HX-Push-Url", "HX-Trigger", "HX-Retarget", "HX-Reswap")


def cached_page(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(*args, **kwargs):
        key = _key()
        if key is not None:
            page: page_cache.Page | None = page_cache.store.get(key)
            if page is not None:
                return Response(page.body, headers=list(page.headers))
        flashed = "_flashes" in session
        response = make_response(view(*args, **kwargs))
        if key is not None and response.status_code == 200 and not flashed:
            kept = response.headers
            headers = tuple((h, kept[h]) for h in _KEPT_HEADERS if h in kept)
            page_cache.store.put(key, page_cache.Page(response.get_data(), headers))
        return response

    wrapper.page_cached = True  # type: ignore[attr-defined]
    return wrapper


def _key() -> tuple | None:
    gen = g.get("page_generation")
    if gen is None:
        return None
    if "csrf_token" not in session:
        generate_csrf()  # the session's CSRF secret exists before it becomes part of the key
    return (
        request.endpoint,
        request.full_path,
        request.headers.get("HX-Request", ""),
        request.headers.get("HX-Target", ""),
        current_user.get_id(),
        session["csrf_token"],
        page_cache.time_bucket(),
        gen,
    )


def _read_generation() -> None:
    """Before any other hook reads the database (see page_cache: the ordering rule)."""
    view = current_app.view_functions.get(request.endpoint or "")
    account_id = session.get(ACCOUNT_KEY)
    if request.method != "GET" or not isinstance(account_id, int):
        return
    cached = getattr(view, "page_cached", False)
    # A whole page carries the generation it was rendered under to its live socket.
    whole_page = (
        request.endpoint not in ("static", "live.ws") and "HX-Request" not in request.headers
    )
    if not (cached or whole_page):
        return
    gen = page_cache.generation(account_id)
    if cached:
        g.page_generation = gen
    if whole_page:
        page_cache.carry_generation(account_id, gen)


def load_user(user_id: int):
    """Flask-Login's user loader: see page_cache.load_user."""
    return page_cache.load_user(user_id, g.get("page_generation"))


def init_app(app: Flask) -> None:
    """Call before every other before_request hook that may touch the database."""
    app.before_request(_read_generation)
