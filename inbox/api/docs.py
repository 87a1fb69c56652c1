"""The OpenAPI document and the readable reference, both generated from the API's routes
and schemas (never written by hand). The reference is rendered on the server: no script,
no CDN, the product's own look."""

from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify, render_template

from ..web.guards import PUBLIC, access
from . import problems, spec

bp = Blueprint("api_docs", __name__)

METHODS = ("get", "post", "put", "patch", "delete")


@bp.get("/api/v1/openapi.json")
@access(PUBLIC)
def openapi_json():
    return jsonify(spec(current_app))


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type_words(prop: dict) -> str:
    if "$ref" in prop:
        return _ref_name(prop["$ref"])
    kind = prop.get("type", "")
    kinds = kind if isinstance(kind, list) else [kind]
    words = [k for k in kinds if k != "null"]
    text = " or ".join(words) or "any"
    if text == "array":
        items = prop.get("items", {})
        text = f"list of {_type_words(items)}"
    if prop.get("format"):
        text += f" ({prop['format']})"
    if "enum" in prop:
        text += ": " + ", ".join(str(v) for v in prop["enum"] if v is not None)
    if "null" in kinds:
        text += ", or null"
    return text


def _fields(schema: dict, components: dict) -> list[dict]:
    if "$ref" in schema:
        schema = components.get(_ref_name(schema["$ref"]), {})
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        limits = []
        for key, word in (("minLength", "min length"), ("maxLength", "max length"),
                          ("minimum", "min"), ("maximum", "max"), ("minItems", "min items"),
                          ("maxItems", "max items"), ("default", "default")):  # fmt: skip
            if key in prop:
                limits.append(f"{word} {prop[key]}")
        out.append(
            {
                "name": name, "type": _type_words(prop), "required": name in required,
                "description": prop.get("description", ""), "limits": ", ".join(limits),
            }
        )  # fmt: skip
    return out


def _anchor(method: str, path: str) -> str:
    return method + "-" + re.sub(r"[^a-z0-9_]+", "-", path.lower()).strip("-")


def reference() -> dict:
    doc = spec(current_app)
    components = doc.get("components", {}).get("schemas", {})
    groups: dict[str, list[dict]] = {}
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = (op.get("requestBody", {}).get("content", {}).get("application/json", {})).get(
                "schema"
            )
            responses = []
            for code, resp in op.get("responses", {}).items():
                content = resp.get("content", {})
                schema = next(iter(content.values()), {}).get("schema") if content else None
                responses.append(
                    {"code": code, "description": resp.get("description", ""),
                     "schema": _ref_name(schema["$ref"]) if schema and "$ref" in schema else ""}
                )  # fmt: skip
            group = path.split("/")[3] if path.count("/") >= 3 else "api"
            groups.setdefault(group, []).append(
                {
                    "method": method.upper(), "path": path,
                    "summary": op.get("summary", ""), "description": op.get("description", ""),
                    "id": _anchor(method, path),
                    "parameters": [
                        {"name": p["name"], "in": p["in"], "required": p.get("required", False),
                         "type": _type_words(p.get("schema", {})),
                         "description": p.get("description", "")}
                        for p in op.get("parameters", [])
                    ],
                    "body": _fields(body, components) if body else [],
                    "body_name": _ref_name(body["$ref"]) if body and "$ref" in body else "",
                    "responses": responses,
                }
            )  # fmt: skip
    schemas = {name: _fields(schema, components) for name, schema in components.items()}
    return {"doc": doc, "groups": groups, "schemas": schemas}


@bp.get("/api/docs")
@access(PUBLIC)
def reference_page():
    return render_template(
        "api/docs.html", **reference(), problems=problems.PROBLEMS, base=current_app.config.get(
            "PUBLIC_BASE_URL"
        ) or "https://inbox.example.com",
    )  # fmt: skip
