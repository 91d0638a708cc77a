"""Errors raised by the ARI REST client.

Callers mostly need to tell three situations apart: the thing is gone (404, e.g. the caller hung up
a moment ago), the thing is in the wrong state (409, e.g. the channel already left Stasis), and
Asterisk is unreachable or slow. Everything else is a plain `AriError`.
"""

from __future__ import annotations


class AriError(Exception):
    """An ARI REST call failed. `status` is None when no HTTP response arrived."""

    def __init__(self, status: int | None, method: str, path: str, message: str) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.message = message
        where = f"{method} {path}"
        code = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"ARI {where} failed ({code}): {message}")


class AriNotFound(AriError):
    """404: the channel, bridge, playback or endpoint does not exist (any more)."""


class AriConflict(AriError):
    """409: the object exists but is in the wrong state (e.g. channel not in the Stasis app)."""


class AriTimeout(AriError):
    """No response within the request timeout; the call may or may not have taken effect."""


class AriConnectionError(AriError):
    """Asterisk could not be reached (connection refused, reset, DNS...)."""


def error_for_status(status: int, method: str, path: str, message: str) -> AriError:
    if status == 404:
        return AriNotFound(status, method, path, message)
    if status == 409:
        return AriConflict(status, method, path, message)
    return AriError(status, method, path, message)
