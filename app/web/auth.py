"""Who is asking (bearer token or session cookie), the per-route guard, log-in and log-out.

Theory of operation: the `authenticate` middleware finds the principal of every request
(app/web/access.py) and leaves it on the request; it never refuses by itself except for a
wrong bearer token. Each route of the table declares what it needs (`Route.access`: public,
read, act or admin) and `guarded` checks it before the handler runs; what exactly a user may
see or change within that (a queue, an agent) the handler asks the scope. A change made with a
session cookie needs the CSRF header. Without `service.admin_token` and without users, the
service is open as it always was (loopback only: the settings refuse another host then). A
change (POST, PUT, PATCH, DELETE) whose Origin header names another site is refused whoever
asks: a browser always sends Origin with a cross-site change, and an open service has no cookie
or token to stop another site's page from acting through the operator's browser.
"""

from __future__ import annotations

import hmac
import math
import time
from typing import Annotated

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from app.config import HoldfastConfig
from app.store import StoreError
from app.store.web_sessions import RevocationStore
from app.web.access import ADMIN_TOKEN, OPEN, Principal, Role, Scope, principal_for_user, scope_from_config
from app.web.body import read_body
from app.web.context import SERVICE_KEY, SESSIONS_KEY
from app.web.errors import ApiError, Handler
from app.web.login_guard import LineFull, PasswordChecks, Throttle, client_address
from app.web.models import Line
from app.web.passwords import hash_password, token_matches
from app.web.sessions import COOKIE, KEY_FILE, Session, key_in_file, load_or_make_key, new_key

log = structlog.get_logger("holdfast.web.auth")

PRINCIPAL = web.RequestKey("principal", object)  # Principal | None
SESSION_PROBLEM = web.RequestKey("session_problem", str)
BEARER_PROBLEM = web.RequestKey("bearer_problem", ApiError)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
LEVELS = ("public", "read", "act", "admin", "metrics")
# Checked when the user name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = hash_password("not a password", salt=b"holdfast-dummy-1")


def is_open(config: HoldfastConfig) -> bool:
    return config.service.admin_token is None and not config.users


def password_hashes(config: HoldfastConfig) -> dict[str, str]:
    return {name: u.password_hash for name, u in config.users.items() if u.password_hash}


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        request[PRINCIPAL] = _principal(request)
    except ApiError as error:  # a wrong bearer token: refused by every route that needs someone
        request[PRINCIPAL] = None
        request[BEARER_PROBLEM] = error
    return await handler(request)


def _principal(request: web.Request) -> Principal | None:
    config = request.app[SERVICE_KEY].config
    header = request.headers.get("Authorization", "")
    if header and not is_open(config):  # an open service ignores the header, as it always has
        return _bearer(config, header)
    cookie = request.cookies.get(COOKIE)
    if cookie:
        found = request.app[SESSIONS_KEY].read(cookie, password_hashes(config))
        if isinstance(found, Session):
            return principal_for_user(config, found.user, "session", found.session_id)
        request[SESSION_PROBLEM] = found
    return OPEN if is_open(config) else None


def _bearer(config: HoldfastConfig, header: str) -> Principal:
    admin = config.service.admin_token
    if admin is not None:
        given = header.encode("utf-8", "backslashreplace")
        expected = f"Bearer {admin.get_secret_value()}".encode()
        if hmac.compare_digest(given, expected):  # constant time: no guessing byte by byte
            return ADMIN_TOKEN
    scheme, _, token = header.partition(" ")
    if scheme == "Bearer" and token:
        for name, user in config.users.items():  # SHA-256 of a 256-bit token: cheap, constant-time
            if user.api_token_hash and token_matches(token, user.api_token_hash):
                principal = principal_for_user(config, name, "user_token")
                assert principal is not None
                return principal
    raise ApiError(401, "missing or wrong bearer token")


def principal_of(request: web.Request) -> Principal | None:
    principal = request.get(PRINCIPAL)
    return principal if isinstance(principal, Principal) else None


def scope_of(request: web.Request) -> Scope:
    """The scope of the (already guarded) request's principal."""
    principal = principal_of(request)
    if principal is None:
        raise ApiError(401, "log in first")
    return scope_from_config(principal, request.app[SERVICE_KEY].merged_config())


def who(request: web.Request, fallback: str) -> str:
    """The name the admin log records: the user, or what the client said for the global token."""
    principal = principal_of(request)
    if principal is None or principal.via in ("open", "admin_token"):
        return fallback
    return principal.name


def refusal(request: web.Request) -> ApiError:
    bearer: ApiError | None = request.get(BEARER_PROBLEM)
    if bearer is not None:
        return bearer
    problem = request.get(SESSION_PROBLEM)
    config = request.app[SERVICE_KEY].config
    if problem == "expired":
        return ApiError(401, "your session has expired; log in again")
    if not config.users:
        return ApiError(401, "missing or wrong bearer token")
    return ApiError(401, "log in (POST /api/session) or send a bearer token")


def metrics_allowed(request: web.Request, config: HoldfastConfig) -> bool:
    """/metrics: open on an open service; else the metrics token (web.metrics_token) or an admin
    (the admin token, an admin's own token or session). Also for a standby's app, which has no
    `authenticate` middleware."""
    if is_open(config):
        return True
    header = request.headers.get("Authorization", "")
    token = config.web.metrics_token
    if token is not None and header:
        expected = f"Bearer {token.get_secret_value()}".encode()
        if hmac.compare_digest(header.encode("utf-8", "backslashreplace"), expected):
            return True
    principal = principal_of(request)
    if principal is None and header and PRINCIPAL not in request:
        try:
            principal = _bearer(config, header)
        except ApiError:
            return False
    return principal is not None and principal.role is Role.ADMIN


def require(request: web.Request, level: str) -> Principal | None:
    """Check `level` for this request (see LEVELS); returns the principal, raises a refusal."""
    if level == "public":
        return principal_of(request)
    if level == "metrics":
        if not metrics_allowed(request, request.app[SERVICE_KEY].config):
            who_asks = principal_of(request)
            if who_asks is not None:  # a supervisor or viewer: known, not allowed
                raise ApiError(
                    403, f"/metrics is for admins and the metrics scraper; {who_asks.name} is a {who_asks.role}"
                )
            raise ApiError(401, "/metrics needs the metrics token (web.metrics_token) or an admin's bearer token")
        return principal_of(request)
    principal = principal_of(request)
    if principal is None:
        raise refusal(request)
    if principal.via == "session" and request.method not in SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER, "")
        assert principal.session_id is not None
        if not given or not request.app[SESSIONS_KEY].csrf_ok(principal.session_id, given):
            raise ApiError(403, f"missing or wrong {CSRF_HEADER} header (GET /api/session gives it)")
    if level == "act" and principal.role is Role.VIEWER:
        raise ApiError(403, f"{principal.name} is a viewer: viewers cannot change anything")
    if level == "admin" and principal.role is not Role.ADMIN:
        raise ApiError(403, f"only an admin may do this; {principal.name} is a {principal.role}")
    return principal


def same_origin(request: web.Request) -> bool:
    """Whether the request's Origin (if it sends one) is this service, as the Host header names it.
    No Origin is not a browser's cross-site request (a CLI, a script, a test client)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return origin.split("://", 1)[-1] == request.headers.get("Host", "")


def guarded(handler: Handler, level: str) -> Handler:
    if level not in LEVELS:
        raise ValueError(f"route access {level!r}; use one of {', '.join(LEVELS)}")

    async def guard(request: web.Request) -> web.StreamResponse:
        if request.method not in SAFE_METHODS and not same_origin(request):
            raise ApiError(403, "a change must come from a page of this service (Origin differs from Host)")
        require(request, level)
        return await handler(request)

    guard.__name__ = handler.__name__
    return guard


# --- log-in, log-out, who am I --------------------------------------------------------------------


class LoginBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    username: Annotated[str, Field(min_length=1, max_length=64), Line]
    password: str = Field(min_length=1, max_length=200)


class SessionView(BaseModel):
    user: str
    role: str
    via: str = Field(description="session, user_token, admin_token or open")
    csrf_token: str | None = Field(description="send it as X-CSRF-Token with every change made with the cookie")
    expires_at_epoch: float | None
    queues: list[str] = Field(description="the queues this user sees")
    campaigns: list[str] = Field(default_factory=list, description="the dialler campaigns this user sees")
    can_act: bool
    is_admin: bool


THROTTLE = web.AppKey("login_throttle", Throttle)
PASSWORD_CHECKS = web.AppKey("password_checks", PasswordChecks)


async def login(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    config = service.config
    if request.content_type != "application/json":  # a form on another site cannot send JSON
        raise ApiError(415, "send the log-in as application/json")
    body = await read_body(request, LoginBody)
    throttle = request.app[THROTTLE]
    now = time.time()
    # Every X-Forwarded-For line, as one list (RFC 9110 5.3): a proxy that appends a line of its
    # own leaves the client's forged one first, and reading only that let a guesser pick its address.
    forwarded = ", ".join(request.headers.getall("X-Forwarded-For", []))
    address = client_address(request.remote, forwarded, config.web.trusted_proxies)
    try:  # the first log-in after a start (or a take-over) reads the store's wrong passwords first
        await throttle.ready(now)
    except StoreError as error:
        log.error("login_failures_not_read", error=str(error))
        raise ApiError(503, "log-ins cannot be checked right now; try again in a few seconds", retry_after=5) from None
    refused = throttle.attempt(body.username, address, now)  # counted as a failure until it is checked
    logins = service.metrics.logins
    if refused is not None:
        logins.labels(refused.result).inc()
        log.warning("login_throttled", username=body.username, address=address, why=refused.why)
        wait = math.ceil(refused.wait)
        raise ApiError(429, f"{refused.why}; try again in {wait} s", retry_after=wait)
    user = config.users.get(body.username)
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    failed = False
    try:  # scrypt takes tens of milliseconds: off the event loop, one at a time (login_guard.py)
        ok = await request.app[PASSWORD_CHECKS].verify(body.password, stored)
        failed = not ok or user is None or user.password_hash is None
    except LineFull as full:
        logins.labels("line_full").inc()
        log.warning("login_line_full", username=body.username, address=address, error=str(full))
        raise ApiError(503, "too many log-ins at once; try again in a few seconds", retry_after=5) from None
    finally:
        if not failed:  # right, or never checked: not a failure after all
            throttle.withdraw(body.username, address, now)
        else:  # checked and wrong: kept in the store, for after a restart
            throttle.checked_wrong(body.username, address, now)
    if failed or user is None or user.password_hash is None:
        logins.labels("wrong_password").inc()
        raise ApiError(401, "wrong user name or password")
    logins.labels("ok").inc()
    cookie, session = request.app[SESSIONS_KEY].issue(body.username, user.password_hash, config.web.session_lifetime)
    principal = principal_for_user(config, body.username, "session", session.session_id)
    assert principal is not None
    response = web.json_response(_session_view(request, principal, session.expires_at).model_dump(mode="json"))
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(config.web.session_lifetime),
        httponly=True,
        samesite="Strict",
        secure=_secure(request, config),
        path="/",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    cookie = request.cookies.get(COOKIE)
    if cookie:
        found = request.app[SESSIONS_KEY].read(cookie, password_hashes(request.app[SERVICE_KEY].config))
        if isinstance(found, Session):
            request.app[SESSIONS_KEY].revoke(found)  # refused from now on, by this process
            await _keep_revocation(request, found)  # ... and after a restart
    response = web.json_response({"logged_out": True})
    response.del_cookie(COOKIE, path="/")
    return response


async def _keep_revocation(request: web.Request, session: Session) -> None:
    """The log-out in the store before it is answered: a restart must not revive the session.
    If the store refuses, the client is told (503) and keeps its cookie to log out again."""
    store = request.app[SERVICE_KEY].store
    if not isinstance(store, RevocationStore):
        return  # no store: sessions and their log-outs last as long as the process
    try:
        await store.revoke_session(session.session_id, session.user, session.expires_at, time.time())
    except StoreError as error:
        log.error("logout_not_stored", user=session.user, error=str(error))
        raise ApiError(503, "the log-out could not be stored; log out again") from error


async def load_session_key(app: web.Application) -> None:
    """At start (on_startup, so before the site serves a request): the key that signs the log-in
    cookies. With a store it is the store's, one for every node on it; the candidate offered if the
    store holds none yet is the key an older Holdfast kept in `data_dir/web-session.key` (its
    cookies stay valid), else a new one. The file is then only read, never written. Without a
    store, the file as before. A store that cannot be read stops the start-up."""
    if app[SESSIONS_KEY].has_key:  # already read by the runner, with the start's other store work
        return
    service = app[SERVICE_KEY]
    data_dir = service.config.service.data_dir
    if service.store is None:
        app[SESSIONS_KEY].use_key(load_or_make_key(data_dir))
        return
    in_file = key_in_file(data_dir)
    key = await service.store.session_key(in_file or new_key())
    if in_file is not None and in_file != key:
        # Another node handed its key over first (or a restored store brought its own): the cookies
        # signed with this node's file alone are refused; the file is left as it was.
        log.info(
            "session_key_file_ignored",
            file=str(data_dir / KEY_FILE),
            detail="the store holds another key: cookies signed with this file alone are refused; the file may go",
        )
    app[SESSIONS_KEY].use_key(key)


async def restore_revocations(app: web.Application) -> None:
    """At start (on_startup): the log-outs still in force, from the store. A store that cannot be
    read stops the start-up (a logged-out session must not be let in)."""
    store = app[SERVICE_KEY].store
    if isinstance(store, RevocationStore):
        app[SESSIONS_KEY].restore(await store.revoked_sessions(time.time()))


async def keep_login_failures(app: web.Application) -> None:
    """At shutdown (before the store closes): the wrong passwords not written yet are."""
    await app[THROTTLE].close()


async def current_session(request: web.Request) -> web.Response:
    principal = principal_of(request)
    if principal is None:
        raise refusal(request)
    expires = None
    if principal.session_id is not None:
        cookie = request.cookies.get(COOKIE, "")
        found = request.app[SESSIONS_KEY].read(cookie, password_hashes(request.app[SERVICE_KEY].config))
        expires = found.expires_at if isinstance(found, Session) else None
    return web.json_response(_session_view(request, principal, expires).model_dump(mode="json"))


def _session_view(request: web.Request, principal: Principal, expires: float | None) -> SessionView:
    scope = scope_from_config(principal, request.app[SERVICE_KEY].merged_config())
    sessions = request.app[SESSIONS_KEY]
    return SessionView(
        user=principal.name,
        role=principal.role.value,
        via=principal.via,
        csrf_token=sessions.csrf_token(principal.session_id) if principal.session_id else None,
        expires_at_epoch=expires,
        queues=sorted(scope.queues),
        campaigns=sorted(scope.campaigns),
        can_act=scope.can_act,
        is_admin=scope.is_admin,
    )


def _secure(request: web.Request, config: HoldfastConfig) -> bool:
    mode = config.web.secure_cookies
    if mode != "auto":
        return mode == "always"
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def session_expired(request: web.Request, principal: Principal, now: float | None = None) -> bool:
    """Whether a session principal's cookie has expired (for the websocket, which outlives a request)."""
    if principal.via != "session":
        return False
    cookie = request.cookies.get(COOKIE, "")
    found = request.app[SESSIONS_KEY].read(cookie, password_hashes(request.app[SERVICE_KEY].config), now)
    return not isinstance(found, Session)


def session_expiry(request: web.Request) -> float | None:
    cookie = request.cookies.get(COOKIE, "")
    found = request.app[SESSIONS_KEY].read(cookie, password_hashes(request.app[SERVICE_KEY].config))
    return found.expires_at if isinstance(found, Session) else None


__all__ = ["guarded", "login", "logout", "principal_of", "require", "same_origin", "scope_of", "who"]
