"""Every answer but a success is JSON with an "error" sentence; nothing escapes as a bare 500.

Theory of operation: handlers raise `ApiError(status, message)` for a refusal; the middleware
turns it, aiohttp's own HTTP errors (unknown path, wrong method, body too large) and any
unexpected exception into `{"error": ...}`. A store that refuses (busy, full, failing) is no bug:
the answer is 503 with a Retry-After. Its call wrote nothing (`StoreError`), except that an I/O
error (`StoreIOError`) may have cut the answer to a COMMIT the database carried out: the answer
says so. A handler that had stored something before says so itself. An unexpected exception is a bug: it is logged with
its traceback and answered 500, so a client never sees a half-written response. A download that
fails once its headers are out is cut instead, whatever failed (`cut_short` in its handler for
an expected refusal, the middleware for the rest): no answer can follow it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from app.store import StoreBusy, StoreError, StoreIOError

log = structlog.get_logger("holdfast.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A refusal with its HTTP status; `extra` adds fields next to "error" in the JSON body."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def response(self) -> web.Response:
        response = web.json_response({"error": self.message, **self.extra}, status=self.status)
        if "retry_after" in self.extra:  # a 429 or 503 says when to come back, in the body and the header
            response.headers["Retry-After"] = str(self.extra["retry_after"])
        return response


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        answer = error.response()
    except web.HTTPException as error:
        if error.status < 400:  # a redirect is not an error
            raise
        answer = web.json_response({"error": error.reason}, status=error.status, headers=_kept(error))
    except StoreError as error:
        log.warning("request_store_refused", method=request.method, path=request.path, error=str(error))
        answer = _store_refused(error).response()
    except Exception as error:
        if isinstance(error, ConnectionResetError) and _client_gone(request):  # aiohttp's ClientConnectionResetError
            # The client went away part-way (a download cancelled, a tab closed): nothing can be
            # answered, and nothing is wrong with the service; an error line would page someone.
            log.info("download_abandoned", method=request.method, path=request.path, error=str(error))
            _close(request)
            return web.Response(status=499)  # for the access log only (nginx's "client closed request")
        log.exception("request_failed", method=request.method, path=request.path)
        answer = web.json_response({"error": "internal error; the service log has the details"}, status=500)
    if request.writer.output_size > 0:
        # A download's headers (a StreamResponse sends them at prepare) and perhaps part of its
        # body are out: the answer would land inside the body, as lines of the CSV or bytes of the
        # WAV. Cut instead; the answer is never sent, but the access log shows its status.
        log.warning("download_cut", path=request.path, status=answer.status)
        _close(request)
    return answer


def cut_short(request: web.Request, response: web.StreamResponse, error: Exception, **where: Any) -> web.StreamResponse:
    """A streamed answer (a download) whose headers are out failed part way: no error answer can
    follow, one written now would land inside the body. The connection is closed without the
    body's end, so the client knows the download is cut and never takes a part for the whole.
    For an expected refusal (the store's, ARI's) with its handler's words; anything else raised
    after the headers is cut by the middleware, logged as a bug."""
    log.warning("download_cut", path=request.path, error=f"{type(error).__name__}: {error}", **where)
    _close(request)
    return response


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _close(request: web.Request) -> None:
    """Reset the connection, not just close it: over HTTP/1.0 (and from a proxy that speaks it
    to us) a body without a length ends at the close, so a closed cut would read as complete."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # linger 0: the close sends a reset (RST), not an end (FIN)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.close()  # what is buffered goes first, then the reset


def _store_refused(error: StoreError) -> ApiError:
    # a busy database frees up in a moment; a full or failing one needs someone first
    wait = 2 if isinstance(error, StoreBusy) else 30
    what = "busy" if isinstance(error, StoreBusy) else "failing"
    # An I/O error may have cut the answer to a COMMIT the database carried out: never say "nothing".
    outcome = (
        "the step that failed may have been stored; look before you try again"
        if isinstance(error, StoreIOError)
        else "the step that failed wrote nothing; try again"
    )
    return ApiError(503, f"the store is {what} ({type(error).__name__}: {error}): {outcome}", retry_after=wait)


def _kept(error: web.HTTPException) -> dict[str, str]:
    allow = error.headers.get("Allow")  # 405 names the methods that would work
    return {"Allow": allow} if allow else {}
