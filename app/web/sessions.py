"""Log-in sessions for the page: signed cookies that survive a restart of the service.

Theory of operation: the cookie holds the user name, a random session id and an expiry, signed
with HMAC-SHA256 under a key the keeper is given (`SessionKeeper(key)`, or `use_key` at start).
The key is kept in the store, one for every node on it (app/store/web_sessions.py, table
`web_session_key`): a standby that takes over, or another node behind the same load balancer,
accepts the cookies the first one issued, and a backup of the store carries it. The web app
reads it at start, before it serves (app/web/auth.py, `load_session_key`); the first node to
start after an upgrade hands over the key an older Holdfast kept in
`service.data_dir/web-session.key`, so the cookies it signed stay valid. That file is no longer
written, except by a service without a store, which keeps its key there as before (made on first
start, readable by the owner only). Nothing else is kept in memory, so after a restart the page's
websocket reconnects with the same cookie. The signature also covers the user's password hash:
changing a password (or removing the user) ends their sessions. Log-out adds the id to a small
revocation set until the cookie would expire anyway; the set is also kept in the store and read
back at start, so a restart does not revive a logged-out session.

The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it),
Secure over TLS (or always, or never: `web.secure_cookies`). CSRF: every change made with a
session must carry `X-CSRF-Token`, an HMAC of the session id the page receives from
`GET /api/session`; another site can neither read it nor make the browser send it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.store.web_sessions import MIN_SESSION_KEY, checked_session_key

COOKIE = "holdfast_session"
KEY_FILE = "web-session.key"  # in service.data_dir: a service without a store, or one before the upgrade


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    session_id: str
    expires_at: float


class SessionKeeper:
    def __init__(self, key: bytes | None = None) -> None:
        self._key: bytes | None = None
        self._revoked: dict[str, float] = {}  # session id -> when it expires anyway
        if key is not None:
            self.use_key(key)

    def use_key(self, key: bytes) -> None:
        """The signing key, given at start before anything is signed or read."""
        self._key = checked_session_key(key)

    @property
    def has_key(self) -> bool:
        return self._key is not None

    @property
    def key(self) -> bytes:
        if self._key is None:  # never a key made up here: it would refuse every other node's cookies
            raise RuntimeError("the session key is not known yet: the web app sets it at start (load_session_key)")
        return self._key

    def issue(self, user: str, password_hash: str, lifetime: float, now: float | None = None) -> tuple[str, Session]:
        now = time.time() if now is None else now
        session = Session(user, secrets.token_urlsafe(16), now + lifetime)
        payload = _b64(json.dumps({"u": user, "s": session.session_id, "e": session.expires_at}).encode())
        return f"{payload}.{self._sign(payload, password_hash)}", session

    def read(self, cookie: str, password_hash_of: dict[str, str], now: float | None = None) -> Session | str:
        """The session, or why the cookie is refused ("expired", "invalid")."""
        now = time.time() if now is None else now
        try:
            payload, signature = cookie.split(".", 1)
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            user, sid, expires = str(data["u"]), str(data["s"]), float(data["e"])
        except (ValueError, KeyError, TypeError):
            return "invalid"
        known = password_hash_of.get(user)
        if known is None or not hmac.compare_digest(signature, self._sign(payload, known)):
            return "invalid"
        if expires <= now or sid in self._revoked:
            return "expired"
        return Session(user, sid, expires)

    def restore(self, revoked: Mapping[str, float], now: float | None = None) -> None:
        """Revocations read back from the store (session id -> when its cookie expires)."""
        now = time.time() if now is None else now
        self._revoked.update({s: e for s, e in revoked.items() if e > now})

    def revoke(self, session: Session) -> None:
        now = time.time()
        self._revoked = {s: e for s, e in self._revoked.items() if e > now}
        self._revoked[session.session_id] = session.expires_at

    def csrf_token(self, session_id: str) -> str:
        return hmac.new(self.key, b"csrf:" + session_id.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session_id: str, given: str) -> bool:
        return hmac.compare_digest(self.csrf_token(session_id), given.encode("ascii", "replace").decode())

    def _sign(self, payload: str, password_hash: str) -> str:
        message = f"{payload}|{password_hash}".encode()
        return _b64(hmac.new(self.key, message, hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def new_key() -> bytes:
    return secrets.token_bytes(MIN_SESSION_KEY)


def key_in_file(data_dir: Path) -> bytes | None:
    """The key kept in `data_dir/web-session.key` (by an older Holdfast, or a service without a
    store), None if there is none usable."""
    try:
        key = (data_dir / KEY_FILE).read_bytes()
    except FileNotFoundError:
        return None
    return key if len(key) >= MIN_SESSION_KEY else None


def load_or_make_key(data_dir: Path) -> bytes:
    """A service without a store: the key in its file, made on first use."""
    path = data_dir / KEY_FILE
    found = key_in_file(data_dir)
    if found is not None:
        return found
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_key()
    # Written whole under a temporary name, then renamed: never a half-written key; owner-only.
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    os.replace(tmp, path)
    return key
