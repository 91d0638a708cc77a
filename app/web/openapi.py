"""The OpenAPI 3.1 document, written from the route table and the pydantic models.

Every route with a body also answers 400 (not JSON), 413 (too large), 415 (a body that is not
application/json) and 422 (a field is invalid); every /api/ route answers 401 without the bearer
token when one is set, and every change 403 when its Origin header names another site. Those are added
here, once, as the middleware and the body reader produce them for every route.
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from app.web.models import ErrorAnswer
from app.web.routes import Answer, Route

BODY_ANSWERS = (
    Answer(400, "the body is not JSON (or is nested too deeply)"),
    Answer(413, "the body is too large"),
    Answer(415, "the body is not sent as application/json"),
    Answer(422, "a field of the body is invalid: `problems` names each field and why"),
)
TOKEN_ANSWER = Answer(401, "missing or wrong bearer token or session (when service.admin_token or users are set)")
FORBIDDEN_ANSWER = Answer(
    403,
    "not for this user: their role (a viewer acts on nothing; some routes are for admins) or, with the "
    "session cookie, a missing or wrong X-CSRF-Token header; or a change whose Origin header names another site",
)
REF = "#/components/schemas/{model}"


def build_openapi(routes: tuple[Route, ...]) -> dict[str, Any]:
    refs = _schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Holdfast API", "version": _version()},
        "paths": paths,
        "components": {
            "schemas": refs["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _answers(route: Route) -> list[Answer]:
    forbidden = route.access in ("act", "admin") or route.method != "GET"  # a change: the Origin check
    body = BODY_ANSWERS if route.body else BODY_ANSWERS[1:2] if route.csv_body else ()
    extra = [
        *body,
        *((TOKEN_ANSWER,) if route.protected else ()),
        *((FORBIDDEN_ANSWER,) if forbidden else ()),
    ]
    given = {a.status for a in route.answers}
    return sorted([*route.answers, *(a for a in extra if a.status not in given)], key=lambda a: a.status)


def _operation(route: Route, refs: dict[Any, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "responses": {
            str(a.status): {
                "description": a.description,
                **(
                    {"content": {a.content_type: _content(a, refs)}}
                    if a.model or a.content_type != "application/json"
                    else {}
                ),
            }
            for a in _answers(route)
        },
        "security": [{"bearer": []}] if route.protected else [],
    }
    names = re.findall(r"{(\w+)}", route.path)
    parameters = [
        {"name": n, "in": "path", "required": True, "schema": route.parameters.get(n, {"type": "string"})}
        for n in names
    ] + [{"name": n, "in": "query", "required": False, "schema": schema} for n, schema in route.query.items()]
    if parameters:
        op["parameters"] = parameters
    if route.csv_body:
        op["requestBody"] = {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    if route.body is not None:
        op["requestBody"] = {
            "required": bool(route.body.model_json_schema().get("required")),
            "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
        }
    return op


def _content(answer: Answer, refs: dict[Any, Any]) -> dict[str, Any]:
    if answer.model is None:
        return {"schema": {"type": "object" if answer.content_type == "application/json" else "string"}}
    return {"schema": refs[(answer.model, "serialization")]}


def _schemas(routes: tuple[Route, ...]) -> dict[Any, Any]:
    """{(model, mode): {"$ref": ...}, "$defs": {...}} for every body and answer model."""
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorAnswer, "serialization")]
    for route in routes:
        if route.body is not None:
            wanted.append((route.body, "validation"))
        wanted += [(a.model, "serialization") for a in route.answers if a.model is not None]
    unique = list(dict.fromkeys(wanted))
    mapping, top = models_json_schema(unique, ref_template=REF)
    return {**mapping, "$defs": top.get("$defs", {})}


def _version() -> str:
    try:
        return metadata.version("holdfast")
    except metadata.PackageNotFoundError:
        return "0"
