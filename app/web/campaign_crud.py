"""Campaigns created, edited, stopped and deleted over the API, beside the YAML's.

Theory of operation:
- A body's `campaign` is validated by the same CampaignConfig as a `campaigns:` entry of the
  YAML; problems are answered 422 naming the key path (campaigns.<id>.<key>), as a reload would.
- The rule with the YAML: a campaign the file declares belongs to the file. Creating or editing an
  id the file has is refused (409: edit the file, then reload). On a reload the file wins an id
  both have (app/telephony/service.py merged_config).
- Order of a change: the engine is asked whether it would take the merged settings (read-only
  check), the definition is stored, then the engine gets them exactly as a reload gives them
  (SettingsChanged), then the admin log gets who, what, before and after. The stored definitions
  are merged again at start-up, so an API campaign outlives a restart. Once stored, a change is
  answered and logged as stored even if the engine cannot take it any more (app/web/stored.py).
- Stop stores the state "stopped" and tells the engine (CampaignControl "stop"); only a stopped
  API campaign may be deleted (its contacts stay in the store, as for a campaign removed from the
  file; its stored state goes with the definition).
- Every change of a campaign (create, edit, stop, delete, pause, resume) and an API reload run one
  at a time (`campaign_changes`): a resume cannot slip between a delete's "is it stopped?" and
  its write, nor a delete between a resume's check and its write.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from app.config.loader import _describe
from app.config.schema import CampaignConfig, QueueName
from app.core.errors import CoreError
from app.core.events import CampaignControl, SettingsChanged
from app.store import Store, StoreError
from app.telephony.service import TelephonyService
from app.web.auth import who
from app.web.body import read_body
from app.web.commit import refuse_if_stopping
from app.web.context import SERVICE_KEY
from app.web.errors import ApiError
from app.web.models import Body, By, Line, Reason, controls_in
from app.web.stored import after_store, checked

_CAMPAIGNS = TypeAdapter(dict[QueueName, CampaignConfig])


class CampaignDefBody(Body):
    """A campaign's settings: the keys of a `campaigns.<id>` entry of the YAML."""

    id: Annotated[str, Line] | None = Field(default=None, description="the new campaign's id (create only)")
    campaign: dict[str, Any] = Field(description="as a campaigns.<id> entry of the settings file")
    by: By = "admin"
    reason: Reason = ""


class CampaignActBody(Body):
    by: By = "admin"
    reason: Reason = ""


class CampaignDefView(BaseModel):
    id: str
    source: str = Field(description="yaml (the settings file's; edit the file) or api (stored)")
    state: str = Field(description="what the running engine does now: running, paused or stopped")
    stored_state: str | None = Field(description="the state set over the API, if any")
    queue: str
    mode: str
    definition: dict[str, Any] | None = Field(description="an API campaign's settings as stored")


class CampaignDefList(BaseModel):
    campaigns: list[CampaignDefView]


# Changes of campaigns run one after the other: each checks what is there (the set of API
# campaigns, a stored state), awaits the store, then hands the change to the engine; two at once
# would lose one of them or act on a check the other made stale. One lock for all campaigns:
# these changes are rare and take milliseconds, and a reload may touch any campaign.
_CHANGING: weakref.WeakKeyDictionary[TelephonyService, asyncio.Lock] = weakref.WeakKeyDictionary()


def campaign_changes(service: TelephonyService) -> asyncio.Lock:
    """Held by every change of a campaign and by an API reload."""
    return _CHANGING.setdefault(service, asyncio.Lock())


def _one_at_a_time(
    handler: Callable[[web.Request], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    @functools.wraps(handler)
    async def one(request: web.Request) -> web.Response:
        service, _ = _service(request)
        async with campaign_changes(service):
            return await handler(request)

    return one


async def list_campaigns(request: web.Request) -> web.Response:
    service, store = _service(request)
    return web.json_response(await _listing(service, store))


@_one_at_a_time
async def create_campaign(request: web.Request) -> web.Response:
    service, store = _service(request)
    body = await read_body(request, CampaignDefBody)
    if not body.id:
        raise ApiError(422, "the body is not valid: id: give the new campaign's id", problems=[{"field": "id"}])
    cid = body.id
    _not_the_files(service, cid)
    if cid in service.api_campaigns:
        raise ApiError(409, f"campaign {cid!r} exists; edit it with PUT /api/campaigns/{cid}")
    await _change(service, store, cid, body, "campaign_create", before=None, by=who(request, body.by))
    return await _one(service, store, cid, 201)


@_one_at_a_time
async def edit_campaign(request: web.Request) -> web.Response:
    service, store = _service(request)
    cid = request.match_info["campaign"]
    _not_the_files(service, cid)
    if cid not in service.api_campaigns:
        raise ApiError(404, f"no campaign {cid!r} created over the API")
    body = await read_body(request, CampaignDefBody)
    if body.id not in (None, cid):
        raise ApiError(422, f"the body is not valid: id: is {body.id!r}; a campaign's id cannot change")
    before = await _stored_definition(store, cid)
    await _change(service, store, cid, body, "campaign_edit", before=before, by=who(request, body.by))
    return await _one(service, store, cid)


@_one_at_a_time
async def stop_campaign(request: web.Request) -> web.Response:
    service, store = _service(request)
    cid = request.match_info["campaign"]
    if cid not in service.engine.campaigns:
        raise ApiError(404, f"no campaign {cid!r}")
    body = await read_body(request, CampaignActBody)
    by = who(request, body.by)  # a logged-in user is recorded as themselves
    now = service.clock()
    event = CampaignControl(now, cid, "stop")
    checked(service, event)  # a reload may have dropped it while the body came in
    await store.set_campaign_state(cid, "stopped", now, by)
    detail = {"campaign": cid, "reason": body.reason}
    what = f"the state stopped of campaign {cid!r}"
    await after_store(
        service, what, lambda: service.feed_and_commit(event), at=now, by=by, action="campaign_stop", detail=detail
    )
    return await _one(service, store, cid)


@_one_at_a_time
async def delete_campaign(request: web.Request) -> web.Response:
    service, store = _service(request)
    cid = request.match_info["campaign"]
    _not_the_files(service, cid)
    if cid not in service.api_campaigns:
        raise ApiError(404, f"no campaign {cid!r} created over the API")
    body = await read_body(request, CampaignActBody)
    definition = await _stored_definition(store, cid)
    # None: a deletion stored whose answer was lost (StoreIOError), retried; its stored state went
    # with it, so it cannot read "stopped". The engine still holds the campaign: finish the deletion.
    if definition is not None:
        stored = {s.campaign: s.state for s in await store.campaign_states()}
        if stored.get(cid) != "stopped":
            raise ApiError(409, f"campaign {cid!r} is not stopped; stop it first (POST /api/campaigns/{cid}/stop)")
    refuse_if_stopping(service)
    now = service.clock()
    rest = {k: v for k, v in service.api_campaigns.items() if k != cid}
    _engine_check(service, rest)
    await store.delete_campaign_def(cid)  # with its stored state: an id used again starts afresh
    detail: dict[str, object] = {
        "campaign": cid,
        "reason": body.reason,
        "before": definition,
    }
    await after_store(
        service,
        f"the deletion of campaign {cid!r}",
        lambda: service.apply_api_campaigns(rest),
        at=now,
        by=who(request, body.by),
        action="campaign_delete",
        detail=detail,
    )
    return web.json_response({"deleted": cid})


# --------------------------------------------------------------------------- helpers


def _service(request: web.Request) -> tuple[TelephonyService, Store]:
    service = request.app[SERVICE_KEY]
    if service.store is None:
        raise ApiError(503, "the service runs without a store; campaigns created over the API need one")
    return service, service.store


def _not_the_files(service: TelephonyService, cid: str) -> None:
    if cid in service.config.campaigns:
        raise ApiError(
            409, f"campaign {cid!r} is declared in the settings file; edit it there and reload (POST /api/reload)"
        )


def _validated(service: TelephonyService, cid: str, data: dict[str, Any]) -> CampaignConfig:
    """The YAML's rules, with the YAML's key paths (campaigns.<id>.<key>). Its texts are one line
    each, like every free-text field of the API (a NUL would not even fit PostgreSQL)."""
    controls = controls_in(data, f"campaigns.{cid}")
    if controls:
        problems = [f"{where}: {problem}" for where, problem in controls]
        raise ApiError(422, "the campaign is not valid: " + "; ".join(problems), problems=problems)
    try:
        campaign = _CAMPAIGNS.validate_python({cid: data})[cid]
    except ValidationError as error:
        problems = []
        for detail in error.errors(include_url=False):
            detail["loc"] = ("campaigns", *detail["loc"])
            problems.append(_describe(detail))
        raise ApiError(422, "the campaign is not valid: " + "; ".join(problems), problems=problems) from None
    if campaign.queue not in service.config.queues:
        known = ", ".join(sorted(service.config.queues))
        text = f"campaigns.{cid}.queue is {campaign.queue!r}; not a queue of the settings (queues: {known})"
        raise ApiError(422, f"the campaign is not valid: {text}", problems=[text])
    return campaign


def _engine_check(service: TelephonyService, api: dict[str, CampaignConfig]) -> None:
    """Would the engine take these settings? Read-only; 409 with its reason if not."""
    saved = service.api_campaigns
    service.api_campaigns = api
    try:
        settings = service.merged_config().core()
    finally:
        service.api_campaigns = saved
    try:
        service.engine.check(SettingsChanged(service.clock(), settings))
    except CoreError as error:
        raise ApiError(409, f"the running engine refuses the change: {error}") from error


async def _change(
    service: TelephonyService,
    store: Store,
    cid: str,
    body: CampaignDefBody,
    action: str,
    *,
    before: dict[str, Any] | None,
    by: str,
) -> None:
    campaign = _validated(service, cid, body.campaign)
    refuse_if_stopping(service)
    new = {**service.api_campaigns, cid: campaign}
    _engine_check(service, new)
    now = service.clock()
    definition = body.campaign  # as given, like a YAML entry; validated again at every start-up
    await store.save_campaign_def(cid, definition, now, by)  # stored first: it outlives a restart
    detail: dict[str, object] = {"campaign": cid, "reason": body.reason, "before": before, "after": definition}
    what = f"campaign {cid!r} as {'created' if before is None else 'edited'}"
    await after_store(
        service, what, lambda: service.apply_api_campaigns(new), at=now, by=by, action=action, detail=detail
    )


async def _stored_definition(store: Store, cid: str) -> dict[str, Any] | None:
    return next((d.definition for d in await store.campaign_defs() if d.campaign == cid), None)


async def _listing(service: TelephonyService, store: Store) -> dict[str, Any]:
    stored = {s.campaign: s.state for s in await store.campaign_states()}
    definitions = {d.campaign: d.definition for d in await store.campaign_defs()}
    views = []
    for c in service.engine.settings.campaigns:
        running = service.engine.campaign_state.get(c.id)
        views.append(
            CampaignDefView(
                id=c.id,
                source="yaml" if c.id in service.config.campaigns else "api",
                state=running.value if running is not None else c.state.value,
                stored_state=stored.get(c.id),
                queue=c.queue,
                mode=c.mode.value,
                definition=definitions.get(c.id) if c.id not in service.config.campaigns else None,
            )
        )
    return CampaignDefList(campaigns=views).model_dump(mode="json")


async def _one(service: TelephonyService, store: Store, cid: str, status: int = 200) -> web.Response:
    """The campaign as the answer to a change that is made (stored and applied)."""
    try:
        listing = await _listing(service, store)
    except StoreError as error:  # not "nothing changed" (the central answer): only the read failed
        text = f"the change of campaign {cid!r} is made (stored), but reading it back failed ({error})"
        text += "; GET /api/campaigns shows it"
        raise ApiError(503, text, stored=True, retry_after=2) from None
    view = next(v for v in listing["campaigns"] if v["id"] == cid)
    return web.json_response(view, status=status)
