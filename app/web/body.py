"""Reading a request body into its model, or a 4xx that names the field and why.

Theory of operation: the bytes are parsed and validated in one step by pydantic's JSON parser,
which has its own nesting limit (no RecursionError) and rejects what is not JSON (NaN is JSON to
it, but no strict field accepts it). A body that is not JSON at all is 400; JSON of the wrong
shape or with a bad field is 422 with one entry per problem. An empty body means "all defaults"
(an agent paused without a reason); the model then names any required field.

A body with anything in it must say `Content-Type: application/json` (else 415): a page on
another site can send a text/plain or form body without a CORS preflight, but not JSON, so this
keeps a cross-site form from acting for whoever's browser it runs in (on an open service above
all, where there is no cookie to guard). The Origin check is in app/web/auth.py.
"""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from app.web.errors import ApiError

MAX_BODY_BYTES = 16 * 1024  # the largest valid body is well under 2 KiB

M = TypeVar("M", bound=BaseModel)


async def read_body(request: web.Request, model: type[M]) -> M:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, f"the body is larger than {request.client_max_size} bytes") from None
    if not raw.strip():
        raw = b"{}"
    elif request.content_type != "application/json":
        raise ApiError(415, f"the body is {request.content_type}; send it as application/json")
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise _refusal(error, model) from None


def _refusal(error: ValidationError, model: type[BaseModel]) -> ApiError:
    details = error.errors(include_url=False)
    invalid = [d for d in details if d["type"] == "json_invalid"]
    if invalid:
        why = str((invalid[0].get("ctx") or {}).get("error", "cannot be parsed"))
        return ApiError(400, f"the body is not valid JSON: {why}")
    problems = [{"field": _field(d), "problem": _problem(d, model)} for d in details]
    text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return ApiError(422, f"the body is not valid: {text}", problems=problems)


def _field(detail: ErrorDetails) -> str:
    return ".".join(str(part) for part in detail["loc"]) or "body"


def _problem(detail: ErrorDetails, model: type[BaseModel]) -> str:
    kind = detail["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return f"is not a known field; known fields: {', '.join(model.model_fields)}"
    if kind == "model_type":
        fields = ", ".join(model.model_fields) or "none"
        return f"must be a JSON object (fields: {fields})"
    return str(detail["msg"])
