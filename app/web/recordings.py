"""A request's call recordings over the API: listed from the event log, the file streamed from ARI.

`GET /api/requests/{request_id}/recordings` lists what the event log says was recorded (name,
format, when it started, when retention deleted it) and, for one not deleted, whether Asterisk
still stores it; ARI gives no size, so none is shown. `GET /api/recordings/{name}` streams the
file from ARI's stored recordings. Both answer only about the caller's queues (app/web/access.py):
a recording of a queue you may not see is answered 404, as if it did not exist. Each recording
goes with the queue it was made in (its `recording_started` names it), not the request's first:
a callback moved from sales to support and recorded there is support's to hear, never sales'.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from app.ari import AriError, AriNotFound, AriTimeout
from app.store import Store
from app.telephony.executor import RECORDING_PREFIX
from app.telephony.recordings import Recording, recordings_of
from app.telephony.service import TelephonyService
from app.web.access import Scope, campaign_of_request, is_dialler_request
from app.web.auth import scope_of
from app.web.context import SERVICE_KEY
from app.web.errors import ApiError, cut_short
from app.web.models import Epoch, Timestamp
from app.web.times import iso, iso_or_none

CONTENT_TYPES = {"wav": "audio/wav", "wav16": "audio/wav", "gsm": "audio/x-gsm", "g722": "audio/G722"}


class RecordingView(BaseModel):
    name: str = Field(description="holdfast-<request id>; GET /api/recordings/{name} streams it")
    format: str
    request_id: str | None
    queue: str | None
    started_at: Timestamp
    started_at_epoch: Epoch
    deleted_at: Timestamp | None = Field(description="when retention deleted it")
    deleted_at_epoch: Epoch | None
    stored: bool = Field(description="Asterisk still has the file")


class RecordingList(BaseModel):
    request_id: str
    recordings: list[RecordingView] = Field(description="oldest first")


def _store(service: TelephonyService) -> Store:
    if service.store is None:
        raise ApiError(503, "the service runs without a store")
    return service.store


async def _visible(service: TelephonyService, scope: Scope, request_id: str) -> list[Recording]:
    """The request's recordings the caller may hear: each of a visible queue (the one it was made
    in; a dialler contact's: if its campaign is visible). 404 for a request none of whose queues
    is visible (also for an unknown request)."""
    live = service.engine.requests.get(request_id)
    queues, found = await recordings_of(_store(service), request_id)
    if live is not None:
        queues = [*dict.fromkeys([*queues, live.queue])]
    campaign = live.campaign if live is not None else campaign_of_request(request_id)
    unplaced = is_dialler_request(request_id) and campaign is None  # a contact of no known campaign: admins only
    if not any(scope.sees_request(q, campaign) for q in queues) or (unplaced and not scope.is_admin):
        raise ApiError(404, f"no request {request_id!r}")
    last = live.queue if live is not None else queues[-1]  # for a recording stored without its queue
    return [r for r in found if scope.sees_request(r.queue or last, campaign)]


async def _stored(service: TelephonyService, r: Recording) -> bool:
    if r.deleted_at is not None:
        return False
    try:
        await service.recordings.stored(r.name)  # on whichever Asterisk server has it
    except AriNotFound:
        return False
    except AriError as error:
        raise ApiError(502, f"Asterisk did not answer about {r.name}: {error}") from None
    return True


async def list_recordings(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    request_id = request.match_info["request_id"]
    found = await _visible(service, scope_of(request), request_id)
    views = [
        RecordingView(
            name=r.name,
            format=r.format,
            request_id=r.request_id,
            queue=r.queue,
            started_at=iso(r.started_at),
            started_at_epoch=r.started_at,
            deleted_at=iso_or_none(r.deleted_at),
            deleted_at_epoch=r.deleted_at,
            stored=await _stored(service, r),
        )
        for r in found
    ]
    return web.json_response(RecordingList(request_id=request_id, recordings=views).model_dump(mode="json"))


async def stream_recording(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE_KEY]
    name = request.match_info["name"]
    missing = ApiError(404, f"no recording {name!r}")
    if not name.startswith(RECORDING_PREFIX):
        raise missing
    found = await _visible(service, scope_of(request), name.removeprefix(RECORDING_PREFIX))
    r = next((r for r in found if r.name == name and r.deleted_at is None), None)
    if r is None:
        raise missing
    chunks = service.recordings.stored_file(name)
    try:
        first = await anext(chunks, b"")  # an ARI refusal is still an answer of ours, not a cut stream
    except AriNotFound:
        raise missing from None
    except AriTimeout as error:
        raise ApiError(504, f"Asterisk did not send the recording in time: {error}") from None
    except AriError as error:
        raise ApiError(502, f"Asterisk did not give the file: {error}") from None
    response = web.StreamResponse(
        headers={
            "Content-Type": CONTENT_TYPES.get(r.format, "application/octet-stream"),
            "Content-Disposition": f'attachment; filename="{name}.{r.format}"',
        }
    )
    await response.prepare(request)
    await response.write(first)
    try:
        async for chunk in chunks:
            await response.write(chunk)
    except AriError as error:
        return cut_short(request, response, error, recording=name)
    await response.write_eof()
    return response
