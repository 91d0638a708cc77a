"""The pages: live view, change log, log-in form, and their assets, all served from the package.

Theory of operation: the pages are plain HTML, CSS and JavaScript in `app/web/static/` (no build
step, nothing fetched from the internet). A page needs a session (or the open mode of a service
without users and token); without one it redirects to the log-in form. The data comes from the
API and the websocket, which check who is asking on every call (app/web/auth.py).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from app.web.auth import SESSION_PROBLEM, guarded, principal_of
from app.web.errors import Handler

STATIC = Path(__file__).resolve().parent / "static"
TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
# Same-origin only: scripts, styles, the API and the websocket; no frames, no inline script.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _file(name: str) -> web.Response:
    path = STATIC / name
    return web.Response(body=path.read_bytes(), content_type=TYPES[path.suffix], headers=HEADERS)


def _page(name: str) -> Handler:
    async def page(request: web.Request) -> web.StreamResponse:
        if principal_of(request) is None:
            expired = "&expired=1" if request.get(SESSION_PROBLEM) == "expired" else ""
            raise web.HTTPFound(f"/login?next={request.path}{expired}")
        return _file(name)

    page.__name__ = f"page_{name.split('.')[0]}"
    return page


async def login_page(request: web.Request) -> web.Response:
    return _file("login.html")


async def home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/live")


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if "/" in name or name.startswith(".") or not (STATIC / name).is_file() or Path(name).suffix not in TYPES:
        raise web.HTTPNotFound()
    return _file(name)


# HTML, assets and the websocket: not part of the JSON API, so not in its OpenAPI document.
PAGE_ROUTES = (
    ("GET", "/"),
    ("GET", "/live"),
    ("GET", "/changelog"),
    ("GET", "/stats"),
    ("GET", "/login"),
    ("GET", "/static/{name}"),
    ("GET", "/ws/live"),
)


def add_pages(app: web.Application, live_socket: Handler) -> None:
    handlers = {
        "/": home,
        "/live": _page("live.html"),
        "/changelog": _page("changelog.html"),
        "/stats": _page("stats.html"),
        "/login": login_page,
        "/static/{name}": asset,
        "/ws/live": guarded(live_socket, "read"),
    }
    for method, path in PAGE_ROUTES:
        app.router.add_route(method, path, handlers[path])
