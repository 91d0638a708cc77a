"""The HTTP API: health, metrics, queue and agent views, agents' state changes, callbacks, reload.

Every route, its method, body model and answers are listed once in `app/web/routes.py`; the
same table registers the handlers here and writes the OpenAPI document served at
`GET /api/openapi.json`. Bodies are validated by the pydantic models in `app/web/models.py`;
every refusal is JSON with an "error" sentence (`app/web/errors.py`). A change is answered only
after it is stored (`app/web/commit.py`).

When `service.admin_token` is set, /api/* requires `Authorization: Bearer <token>`. The token is
read from the running settings on each request, so a reload that changes it applies at once.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from app.telephony.service import TelephonyService
from app.web.body import MAX_BODY_BYTES
from app.web.context import OPENAPI_KEY, SERVICE_KEY, STARTED_CONFIG_KEY
from app.web.errors import ApiError, Handler, errors_as_json
from app.web.openapi import build_openapi
from app.web.routes import ROUTES

__all__ = ["SERVICE_KEY", "make_app"]


def make_app(service: TelephonyService) -> web.Application:
    # errors_as_json is outermost: a refusal by auth is JSON too.
    app = web.Application(middlewares=[errors_as_json, bearer_token], client_max_size=MAX_BODY_BYTES)
    app[SERVICE_KEY] = service
    app[STARTED_CONFIG_KEY] = service.config
    app[OPENAPI_KEY] = build_openapi(ROUTES)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    return app


@web.middleware
async def bearer_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/api/"):
        token = request.app[SERVICE_KEY].config.service.admin_token
        if token is not None:
            given = request.headers.get("Authorization", "").encode("utf-8", "backslashreplace")
            expected = f"Bearer {token.get_secret_value()}".encode()
            if not hmac.compare_digest(given, expected):  # constant time: no guessing byte by byte
                raise ApiError(401, "missing or wrong bearer token")
    return await handler(request)
