"""A campaign's state as a supervisor sets it: paused or running, stored and readable.

Theory of operation: the state is stored first (`Store.set_campaign_state`, which the service
reads back at start-up, so a paused campaign stays paused after a restart), then given to the
running engine (`CampaignControl`), which stops handing out new dials while paused; calls in
progress go on. Each change is written to the admin log (who, when, why). A change runs one at a
time with the other campaign changes (`campaign_changes`: a delete cannot remove a campaign
being resumed), is refused before it is stored if the engine would refuse it, and once stored is
answered as stored (app/web/stored.py). Creating, editing and stopping campaigns:
app/web/campaign_crud.py.
"""

from __future__ import annotations

from aiohttp import web

from app.core.events import CampaignControl
from app.core.settings import CampaignState
from app.store.contact_records import CampaignState as StoredState
from app.telephony.service import TelephonyService
from app.web.auth import who
from app.web.body import read_body
from app.web.campaign_crud import campaign_changes
from app.web.campaign_models import CampaignStateBody, CampaignStateView
from app.web.campaigns import _campaign
from app.web.stored import after_store, checked
from app.web.times import iso_or_none


async def campaign_state(request: web.Request) -> web.Response:
    service, store, campaign, _ = _campaign(request)
    stored = {s.campaign: s for s in await store.campaign_states()}.get(campaign)
    return _answer(service, campaign, stored)


async def pause_campaign(request: web.Request) -> web.Response:
    return await _set(request, CampaignState.PAUSED, "pause")


async def resume_campaign(request: web.Request) -> web.Response:
    return await _set(request, CampaignState.RUNNING, "start")


async def _set(request: web.Request, state: CampaignState, action: str) -> web.Response:
    service, store, campaign, _ = _campaign(request)
    body = await read_body(request, CampaignStateBody)
    by = who(request, body.by)  # a logged-in user is recorded as themselves
    async with campaign_changes(service):
        now = service.clock()
        event = CampaignControl(now, campaign, action)
        checked(service, event)  # a delete or reload may have removed it while we waited
        before = service.engine.campaign_state.get(campaign)
        await store.set_campaign_state(campaign, state.value, now, by)
        detail = {
            "campaign": campaign,
            "reason": body.reason,
            "before": before.value if before is not None else None,
            "after": state.value,
        }
        what = f"the state {state.value} of campaign {campaign!r}"
        await after_store(
            service,
            what,
            lambda: service.feed_and_commit(event),
            at=now,
            by=by,
            action=f"campaign_{action}",
            detail=detail,
        )
        return _answer(service, campaign, StoredState(campaign, state.value, now, by))


def _answer(service: TelephonyService, campaign: str, stored: StoredState | None) -> web.Response:
    configured = next(c for c in service.engine.settings.campaigns if c.id == campaign)
    running = service.engine.campaign_state.get(campaign)
    view = CampaignStateView(
        campaign=campaign,
        state=stored.state if stored is not None else configured.state.value,
        engine_state=running.value if running is not None else None,
        stored=stored is not None,
        updated_at=iso_or_none(stored.updated_at if stored else None),
        updated_at_epoch=stored.updated_at if stored else None,
        updated_by=stored.updated_by if stored else None,
    )
    return web.json_response(view.model_dump(mode="json"))
