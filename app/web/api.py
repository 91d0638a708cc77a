"""The HTTP API: health, metrics, queue and agent views, agents' state changes, callbacks, reload.

Every route, its method, body model and answers are listed once in `app/web/routes.py`; the
same table registers the handlers here and writes the OpenAPI document served at
`GET /api/openapi.json`. Bodies are validated by the pydantic models in `app/web/models.py`;
every refusal is JSON with an "error" sentence (`app/web/errors.py`). A change is answered only
after it is stored (`app/web/commit.py`).

Who may call what is decided in `app/web/access.py` and checked by `app/web/auth.py`: each route
of the table says what it needs. When `service.admin_token` is set, `Authorization: Bearer
<token>` acts as admin; users (`users:` in the settings) log in to the page with a session
cookie or call the API with their own token. Settings are read on each request, so a reload
that changes a token or a user applies at once. The live page and its websocket are in
`app/web/page.py` and `app/web/live_feed.py`.
"""

from __future__ import annotations

from aiohttp import web

from app.telephony.service import TelephonyService
from app.web.auth import (
    PASSWORD_CHECKS,
    THROTTLE,
    authenticate,
    guarded,
    keep_login_failures,
    load_session_key,
    restore_revocations,
)
from app.web.body import MAX_BODY_BYTES
from app.web.context import OPENAPI_KEY, SERVICE_KEY, SESSIONS_KEY, STARTED_CONFIG_KEY
from app.web.errors import errors_as_json
from app.web.hosts import known_host
from app.web.live_feed import LIVE_KEY, LiveFeed
from app.web.login_guard import PasswordChecks, Throttle
from app.web.openapi import build_openapi
from app.web.page import add_pages
from app.web.passwords import verify_password
from app.web.routes import ROUTES
from app.web.sessions import SessionKeeper

__all__ = ["SERVICE_KEY", "make_app"]


def make_app(service: TelephonyService) -> web.Application:
    # errors_as_json is outermost: a refusal by auth is JSON too. known_host before anything reads
    # who asks: a page on a rebound name is refused whoever it claims to be (app/web/hosts.py).
    app = web.Application(middlewares=[errors_as_json, known_host, authenticate], client_max_size=MAX_BODY_BYTES)
    app[SERVICE_KEY] = service
    app[STARTED_CONFIG_KEY] = service.config
    app[OPENAPI_KEY] = build_openapi(ROUTES)
    app[SESSIONS_KEY] = SessionKeeper()  # its key from the store, at start (load_session_key)
    app[THROTTLE] = Throttle(service.store)  # wrong passwords kept in the store too (login_guard.py)
    checks = app[PASSWORD_CHECKS] = PasswordChecks(verify_password)
    feed = app[LIVE_KEY] = LiveFeed(service)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, guarded(route.handler, route.access))
    add_pages(app, feed.socket)

    async def start_feed(app: web.Application) -> None:
        feed.start()

    async def stop_feed(app: web.Application) -> None:
        await feed.stop()

    app.on_startup.append(load_session_key)  # before the site serves: no request sees another key
    app.on_startup.append(restore_revocations)
    app.on_shutdown.append(keep_login_failures)
    app.on_startup.append(start_feed)
    app.on_shutdown.append(stop_feed)

    async def stop_checks(app: web.Application) -> None:
        checks.close()

    app.on_cleanup.append(stop_checks)
    return app
