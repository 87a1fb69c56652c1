"""Errors as RFC 9457 problem details (application/problem+json): a stable `type` per kind
of problem (documented at /api/docs#problems), the HTTP status, a title, a detail in words,
and field-level `errors` where a request was malformed."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, json, request
from werkzeug.exceptions import HTTPException

CONTENT_TYPE = "application/problem+json"
DOCS = "/api/docs#problem-"

# slug -> (status, title)
PROBLEMS: dict[str, tuple[int, str]] = {
    "malformed-request": (400, "The request could not be read"),
    "unauthenticated": (401, "A valid API key is needed"),
    "missing-scope": (403, "The API key lacks a scope this call needs"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "The request conflicts with what is stored"),
    "idempotency-key-reused": (422, "The Idempotency-Key was used for another request"),
    "too-large": (413, "The request body is too large"),
    "unsupported-media-type": (415, "Send JSON"),
    "validation": (422, "Some fields are not valid"),
    "refused": (422, "The request cannot be carried out"),
    "rate-limited": (429, "Too many requests for this API key"),
    "server-error": (500, "Something went wrong on our side"),
}
_BY_STATUS = {status: slug for slug, (status, _) in reversed(PROBLEMS.items())}


class Problem(Exception):
    """Raised anywhere in an API request; answered as problem details."""

    def __init__(
        self,
        slug: str,
        detail: str = "",
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or slug)
        self.slug = slug
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra

    @property
    def status(self) -> int:
        return PROBLEMS[self.slug][0]


def response(problem: Problem) -> Response:
    status, title = PROBLEMS[problem.slug]
    body: dict[str, Any] = {
        "type": DOCS + problem.slug,
        "title": title,
        "status": status,
        "detail": problem.detail or title + ".",
        "instance": request.path,
    }
    if problem.errors:
        body["errors"] = problem.errors
    body.update(problem.extra)
    out = current_app.response_class(json.dumps(body), status=status, mimetype=CONTENT_TYPE)
    for name, value in problem.headers.items():
        out.headers[name] = value
    return out


def _field_errors(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """webargs/marshmallow messages ({"json": {"phone": ["..."]}}) as a flat list of
    {"field": "phone", "message": "..."}; nested fields as dotted paths (patients.3.phone)."""
    out: list[dict[str, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if not prefix and key in ("json", "query", "headers", "path", "view_args"):
                out += _field_errors(value, "")
            else:
                out += _field_errors(value, f"{prefix}{key}" if not prefix else f"{prefix}.{key}")
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out += [{"field": prefix or "body", "message": m} for m in messages]
    elif isinstance(messages, list):
        for m in messages:
            out += _field_errors(m, prefix)
    else:
        out.append({"field": prefix or "body", "message": str(messages)})
    return out


def from_http_exception(error: HTTPException) -> Response:
    """A werkzeug error raised in an API request (routing, webargs' 422, abort())."""
    code = error.code or 500
    data = getattr(error, "data", None) or {}
    if code == 422 and "messages" in data:
        errors = _field_errors(data["messages"])
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return response(Problem("validation", detail, errors=errors))
    slug = _BY_STATUS.get(code, "server-error" if code >= 500 else "malformed-request")
    detail = ""
    if code == 404:
        detail = "Nothing here with that id in this practice."
    elif code == 405:
        detail = f"{request.method} is not allowed on {request.path}."
    elif code == 400:
        detail = "The body is not valid JSON." if request.is_json else (error.description or "")
    problem = Problem(slug, detail)
    if code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        problem.headers["Allow"] = ", ".join(error.valid_methods)
    return response(problem)


def is_api_request() -> bool:
    return request.path.startswith("/api/")
