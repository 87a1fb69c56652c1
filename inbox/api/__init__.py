"""The integration API (/api/v1): flask-smorest blueprints whose marshmallow schemas
validate each request and generate the OpenAPI 3.1 document (/api/v1/openapi.json) and
the reference page (/api/docs). Bearer keys only: no session, no cookie, no CSRF token;
errors are problem details (problems.py)."""

from __future__ import annotations

from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException

from . import problems
from .schemas import ProblemSchema

API_VERSION = "1.0.0"


class _Api(Api):
    """flask-smorest with problem details for errors, and its error handlers left to us
    (they would answer every page of the app in JSON)."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        pass

    def _register_responses(self) -> None:
        for code in (400, 401, 403, 404, 409, 422, 429):
            response = {"description": problems.PROBLEMS[problems._BY_STATUS[code]][1]}
            response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, problems.CONTENT_TYPE)
            self.spec.components.response(_status_name(code), response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, problems.CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def _status_name(code: int) -> str:
    from http import HTTPStatus

    return HTTPStatus(code).name


def spec(app: Flask) -> dict:
    """The OpenAPI document, as generated from the routes and their schemas."""
    return app.extensions["clinic-inbox-api"].spec.to_dict()


def _schema_name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name[: -len("Schema")] if name.endswith("Schema") and name != "Schema" else name


def init_app(app: Flask) -> None:
    app.config.update(
        API_TITLE="Clinic Inbox API",
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX=None,  # the document and the reference are served by docs.py
        API_SPEC_OPTIONS={
            "info": {
                "description": "Keep patients, appointments and paperwork in step with your "
                "practice-management or EHR system, read conversations and send texts.",
            },
            "servers": [{"url": "/"}],
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer", "description": "API key"}
                }
            },
            "security": [{"bearer": []}],
        },
    )
    api = _Api()
    plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
    api.init_app(app, spec_kwargs={"marshmallow_plugin": plugin})
    app.extensions["clinic-inbox-api"] = api
    from . import docs, v1

    api.register_blueprint(v1.bp)
    app.register_blueprint(docs.bp)

    @app.errorhandler(problems.Problem)
    def _problem(error: problems.Problem):
        return problems.response(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if problems.is_api_request():
            return problems.from_http_exception(error)
        return error


def api_error_or(page):
    """Wrap an HTML error page handler: on /api/ paths the answer is problem details."""

    def handler(error):
        if request.path.startswith("/api/"):
            if not isinstance(error, HTTPException):
                from werkzeug.exceptions import InternalServerError

                error = InternalServerError()
            return problems.from_http_exception(error)
        return page(error)

    return handler
