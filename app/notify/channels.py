"""Delivery channels: a signed JSON webhook and an HTTP SMS gateway.

Every request carries the notification's idempotency key (`Idempotency-Key` and
`X-Holdfast-Idempotency-Key` headers; in the webhook body as `id`, in a gateway body as `%id%`):
a retry after a lost answer, or after a restart, sends the same key, so the receiver can ignore
a repeat. A 2xx answer is delivered. A 4xx other than 408/429 is refused for good (the same
request would be refused again): `Rejected`, the row is marked failed at once. Anything else (a
5xx, a timeout, a refused connection) is `Retry`: tried again with backoff. A redirect is not
followed (aiohttp would turn a POST into a GET without the body on a 301/302/303 and take the
next page's 200 for a delivery; and the signed body and key would go wherever it points): it is
a `Retry` naming where it points, so an admin corrects the URL and a reload sends the pending
rows there.

An error names the request by method, scheme, host and path only (`where`): a gateway's URL may
carry its credential, the customer's number and the message in the query string or user info,
and the error goes to the service log and the API.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import aiohttp

from app.config.notifications import SmsGatewayConfig, WebhookConfig
from app.notify.templates import form_escape, json_escape, render
from app.store.outbox_records import Notification

SIGNATURE_HEADER = "X-Holdfast-Signature"
KEY_HEADERS = ("Idempotency-Key", "X-Holdfast-Idempotency-Key")
RETRYABLE_4XX = (408, 425, 429)
_HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # RFC 9110 5.5: all but tab


class DeliveryError(Exception):
    """A try that did not deliver; `permanent` ones are not tried again."""

    permanent = False


class Retry(DeliveryError):
    pass


class Rejected(DeliveryError):
    permanent = True


class Channel(Protocol):
    async def deliver(self, session: aiohttp.ClientSession, notification: Notification) -> None: ...


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: `sha256=<hex HMAC-SHA256 of the exact body bytes>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def one_line(value: str) -> str:
    """A header value without the control characters HTTP forbids in one (a %message% from a
    multi-line template has line breaks): each becomes a space, where aiohttp would refuse the request."""
    return _HEADER_CONTROL.sub(" ", value)


def where(method: str, url: str) -> str:
    """`METHOD scheme://host[:port]/path` of a URL: no user:password, no query, no fragment."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return f"{method} (a URL that cannot be read)"
    return f"{method} {parts.scheme}://{host}{parts.path}"


def _why(e: BaseException, url: str, shown: str) -> str:
    """The failure in words, without the URL (some aiohttp errors repeat it in full)."""
    if isinstance(e, aiohttp.ClientResponseError):
        return f"{type(e).__name__}: {e.status} {e.message}"
    if isinstance(e, aiohttp.InvalidURL):
        return type(e).__name__
    safe = shown.partition(" ")[2]
    return f"{type(e).__name__}: {str(e).replace(url, safe) if url else e}"


async def _send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    body: bytes | None,
    headers: dict[str, str],
    timeout: float,
    verify_tls: bool,
    shown: str | None = None,
) -> None:
    """`shown` is how errors name the request (default: `where(method, url)`)."""
    shown = shown or where(method, url)
    try:
        async with session.request(
            method,
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            ssl=verify_tls,  # True: certificates verified (the default); False only if the admin said so
            allow_redirects=False,  # see the module docstring
        ) as answer:
            if 200 <= answer.status < 300:
                return
            if 300 <= answer.status < 400:
                location = answer.headers.get("Location", "")
                moved = where("to", urljoin(url, location)) if location else "without a Location"
                raise Retry(f"{shown} answered {answer.status} {answer.reason}: redirects {moved}; not followed")
            text = (await answer.text(errors="replace"))[:200]
            error = f"{shown} answered {answer.status} {answer.reason}: {text}".strip()
            if 400 <= answer.status < 500 and answer.status not in RETRYABLE_4XX:
                raise Rejected(error)
            raise Retry(error)
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        raise Retry(f"{shown}: {_why(e, url, shown)}") from e


class WebhookChannel:
    def __init__(self, config: WebhookConfig) -> None:
        self.config = config

    async def deliver(self, session: aiohttp.ClientSession, notification: Notification) -> None:
        body = body_bytes(notification.payload)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, self.config.secret.get_secret_value()),
            "X-Holdfast-Event": notification.event,
            **{h: notification.id for h in KEY_HEADERS},
        }
        await _send(
            session,
            "POST",
            self.config.url,
            body=body,
            headers=headers,
            timeout=self.config.timeout,
            verify_tls=self.config.verify_tls,
        )


class SmsChannel:
    def __init__(self, config: SmsGatewayConfig) -> None:
        self.config = config

    def request_parts(self, notification: Notification) -> tuple[bytes | None, dict[str, str]]:
        fields = {"to": notification.payload["to"], "message": notification.payload["message"], "id": notification.id}
        escape = json_escape if "json" in self.config.content_type else form_escape
        body = render(self.config.body, fields, escape).encode() if self.config.method != "GET" else None
        headers = {name: one_line(render(value, fields)) for name, value in self.config.headers.items()}
        headers.setdefault("Content-Type", self.config.content_type)
        for h in KEY_HEADERS:
            headers.setdefault(h, notification.id)
        return body, headers

    async def deliver(self, session: aiohttp.ClientSession, notification: Notification) -> None:
        body, headers = self.request_parts(notification)
        url = self.config.url
        if self.config.method == "GET":  # a gateway taking its fields in the query string
            fields = {"to": notification.payload["to"], "message": notification.payload["message"]}
            url = render(url, {**fields, "id": notification.id}, form_escape)
        await _send(
            session,
            self.config.method,
            url,
            body=body,
            headers=headers,
            timeout=self.config.timeout,
            verify_tls=self.config.verify_tls,
            shown=where(self.config.method, self.config.url),  # the template: placeholders, not values
        )
