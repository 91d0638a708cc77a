"""The HTTP transport under the typed wrappers: auth, JSON, timeouts, errors.

ARI takes most arguments as query parameters and a few (variables) as a JSON body; it answers
JSON, or 204 with no body, and on errors a JSON body {"message": "..."} that we put in AriError.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog
from yarl import URL

from app.ari.config import AriConfig
from app.ari.errors import AriConnectionError, AriError, AriTimeout, error_for_status

log = structlog.get_logger(__name__)

ParamValue = str | int | float | bool | Sequence[str] | None


def seg(value: str) -> str:
    """Quote one path segment: ids are ours (UUIDs) but endpoint and variable names are not."""
    return quote(value, safe="")


# The operation words of ARI's REST API (the third path segment of its resources, from the
# rest-api/*.json descriptions Asterisk ships). Anything else in that place is a name (a
# recording, a module, an endpoint) and must not become a metric label of its own.
OPERATIONS = frozenset(
    {
        "addChannel", "answer", "continue", "control", "dial", "dtmf", "dynamic", "eventFilter",
        "hold", "moh", "move", "mute", "play", "progress", "record", "redirect", "removeChannel",
        "ring", "rtp_statistics", "silence", "snoop", "subscription", "transfer_progress",
        "variable", "variables", "videoSource",
    }
)  # fmt: skip


def request_kind(method: str, path: str) -> str:
    """What a request does, without its ids ("POST /bridges/abc/addChannel" -> "POST
    /bridges/{id}/addChannel"), for the per-kind counter: which requests a call costs. The second
    segment is taken as an id or name whatever it is ("GET /asterisk/{id}" is /asterisk/info); the
    third is kept only when it is one of ARI's OPERATIONS ("/recordings/stored/{name}" ->
    "/recordings/{id}/{id}"), so the counter has a bounded set of labels."""
    parts = path.split("/", 4)  # "", resource, id, operation, rest
    kind = f"{method} /{parts[1]}" if len(parts) > 1 else method
    if len(parts) > 2:
        kind += "/{id}"
    if len(parts) > 3:
        kind += "/" + (parts[3] if parts[3] in OPERATIONS else "{id}")
    return kind


def encode_params(params: Mapping[str, ParamValue]) -> dict[str, str]:
    """ARI wants booleans as true/false and multi-valued parameters comma separated."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, str):
            out[key] = value
        elif isinstance(value, int | float):
            out[key] = str(value)
        else:
            out[key] = ",".join(value)
    return out


class AriRest:
    """Makes REST calls; owns its aiohttp session unless one is passed in."""

    def __init__(self, config: AriConfig, session: aiohttp.ClientSession | None = None) -> None:
        self._config = config
        self._session = session
        self._owns_session = session is None
        self.requests = 0
        self.failures = 0
        self.by_kind: Counter[str] = Counter()  # requests per request_kind
        # Made once: the header's base64 and the URL's base cost a little on every request.
        self._auth = config.auth_header
        self._base = config.rest_url

    @property
    def session(self) -> aiohttp.ClientSession:
        # Created lazily: a ClientSession must be made inside the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._config.connections),
                timeout=self._timeout(self._config.request_timeout),
            )
            self._owns_session = True
        return self._session

    def _timeout(self, answer_within: float | None) -> aiohttp.ClientTimeout:
        # Not a total: in a burst a request may wait for one of the pool's connections, and that
        # wait is ours, not Asterisk's. Each request is bounded once it is on the wire.
        return aiohttp.ClientTimeout(total=None, sock_connect=self._config.connect_timeout, sock_read=answer_within)

    async def close(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, ParamValue] | None = None,
        body: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Returns the decoded JSON (None for 204). Raises AriError and its subclasses."""
        url = URL(self._base + path, encoded=True)
        query = encode_params(params or {})
        self.requests += 1
        self.by_kind[request_kind(method, path)] += 1
        kwargs: dict[str, Any] = {"params": query, "headers": {"Authorization": self._auth}}
        if body is not None:
            kwargs["json"] = body
        if timeout is not None:
            kwargs["timeout"] = self._timeout(timeout)
        try:
            async with self.session.request(method, url, **kwargs) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    self.failures += 1
                    raise error_for_status(resp.status, method, path, _error_message(text, resp.reason))
                if resp.status == 204 or not text:
                    return None
                try:
                    return json.loads(text)
                except ValueError as exc:
                    self.failures += 1
                    raise AriError(resp.status, method, path, f"invalid JSON in response: {exc}") from exc
        except AriError:
            raise
        except TimeoutError as exc:
            self.failures += 1
            limit = timeout if timeout is not None else self._config.request_timeout
            raise AriTimeout(None, method, path, f"no response within {limit} s") from exc
        except aiohttp.ClientError as exc:
            self.failures += 1
            raise AriConnectionError(None, method, path, f"{type(exc).__name__}: {exc}") from exc

    async def stream(self, method: str, path: str, chunk_size: int) -> AsyncIterator[bytes]:
        """A binary answer (a recording's file) read a chunk at a time; errors as for request().
        No total timeout: a long file may take longer than a REST call; a stall between two reads
        longer than the request timeout ends it."""
        url = URL(self._config.rest_url + path, encoded=True)
        self.requests += 1
        self.by_kind[request_kind(method, path)] += 1
        timeout = self._timeout(self._config.request_timeout)
        try:
            async with self.session.request(
                method, url, headers={"Authorization": self._config.auth_header}, timeout=timeout
            ) as resp:
                if resp.status >= 400:
                    self.failures += 1
                    text = await resp.text()
                    raise error_for_status(resp.status, method, path, _error_message(text, resp.reason))
                async for chunk in resp.content.iter_chunked(chunk_size):
                    yield chunk
        except AriError:
            raise
        except TimeoutError as exc:
            # Before aiohttp.ClientError: its read timeout is both, and a stall (before the
            # headers or mid-file) is Asterisk being slow, not unreachable. The bytes already
            # yielded are a part of the file only; the caller must not end it as if whole.
            self.failures += 1
            limit = self._config.request_timeout
            raise AriTimeout(None, method, path, f"Asterisk sent no data for {limit} s") from exc
        except aiohttp.ClientError as exc:
            self.failures += 1
            raise AriConnectionError(None, method, path, f"{type(exc).__name__}: {exc}") from exc


def _error_message(text: str, reason: str | None) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    # Asterisk answers {"message": ...} normally but {"error": "Allocation failed"} when it
    # could not build a response (seen on POST /bridges/{id}/moh).
    if isinstance(data, dict):
        for key in ("message", "error"):
            if isinstance(data.get(key), str):
                return str(data[key])
    text = text.strip()
    return text[:300] if text else (reason or "no message")
