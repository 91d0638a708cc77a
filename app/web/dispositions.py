"""The dialler seen from an agent's desk: the contact card, "dial now", skip, and dispositions.

Theory of operation: the card is read from the engine (the request the agent is rung for or
talking on carries the contact as it was loaded), so it is there the moment the agent's phone
rings. "Dial now", skip and dispositions are core events (ContactDialNow, ContactSkipped,
ContactDisposed), answered once stored; the engine refuses what does not fit the agent's
state (409) or the campaign's list of dispositions (409 naming the allowed ones).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, Field

from app.core.errors import CoreError
from app.core.events import ContactDialNow, ContactDisposed, ContactSkipped, Event
from app.web.body import read_body
from app.web.callbacks import refused
from app.web.commit import feed_and_commit
from app.web.context import SERVICE_KEY
from app.web.errors import ApiError
from app.web.models import Body, Epoch, Line, Timestamp
from app.web.times import iso

MAX_DISPOSITION = 64


class DispositionBody(Body):
    """The agent's disposition of their last dialler call."""

    disposition: Annotated[
        str, Field(min_length=1, max_length=MAX_DISPOSITION, description="one of the campaign's dispositions"), Line
    ]
    when: Annotated[
        str | None,
        Field(
            description="call_back: when to call, ISO 8601 with a time zone, e.g. 2026-12-05T10:00:00+01:00",
            json_schema_extra={"format": "date-time"},
        ),
        Line,
    ] = None
    reserve: Annotated[bool, Field(description="call_back: only this agent gets the call back")] = False


class ContactCard(BaseModel):
    request_id: str
    state: str = Field(description="ringing_agent, whisper (the agent reviews it), dialling_customer, connected…")
    campaign: str
    contact_id: int
    number: str
    name: str
    fields: dict[str, str] = Field(description="the free columns of the upload")
    timezone: str | None
    priority: int
    attempts: int = Field(description="dials made before this one")
    reserved_agent: str | None


class DispositionResult(BaseModel):
    agent_id: str
    disposition: str
    call_back_at: Timestamp | None = None
    call_back_at_epoch: Epoch | None = None


def _agent(request: web.Request) -> str:
    service = request.app[SERVICE_KEY]
    agent_id = request.match_info["agent_id"]
    if agent_id not in service.engine.agents:
        raise ApiError(404, f"no agent {agent_id!r}")
    return agent_id


async def contact_card(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    agent_id = _agent(request)
    found = service.engine.contact_for_agent(agent_id)
    if found is None:
        raise ApiError(404, f"agent {agent_id} has no dialler contact now")
    request_id, contact = found
    card = ContactCard(
        request_id=request_id,
        state=service.engine.requests[request_id].state.value,
        campaign=contact.campaign,
        contact_id=contact.contact_id,
        number=contact.number,
        name=contact.name,
        fields=dict(contact.fields),
        timezone=contact.timezone,
        priority=contact.priority,
        attempts=contact.attempts,
        reserved_agent=contact.reserved_agent,
    )
    return web.json_response(card.model_dump(mode="json"))


async def _apply(request: web.Request, event: Event) -> None:
    try:
        await feed_and_commit(request.app[SERVICE_KEY], event)
    except CoreError as error:
        raise refused(error) from None


async def dial_now(request: web.Request) -> web.Response:
    agent_id = _agent(request)
    await _apply(request, ContactDialNow(request.app[SERVICE_KEY].clock(), agent_id))
    return await contact_card(request)


async def skip(request: web.Request) -> web.Response:
    agent_id = _agent(request)
    await _apply(request, ContactSkipped(request.app[SERVICE_KEY].clock(), agent_id))
    return web.json_response({"agent_id": agent_id, "skipped": True})


async def dispose(request: web.Request) -> web.Response:
    agent_id = _agent(request)
    body = await read_body(request, DispositionBody)
    at: float | None = None
    if body.when is not None:
        try:
            when = datetime.fromisoformat(body.when)
        except ValueError:
            raise ApiError(422, f"when {body.when!r} is not an ISO 8601 time") from None
        if when.tzinfo is None:
            raise ApiError(422, "when needs a time zone, e.g. 2026-12-05T10:00:00+01:00 or …Z")
        at = when.timestamp()
    service = request.app[SERVICE_KEY]
    await _apply(request, ContactDisposed(service.clock(), agent_id, body.disposition, at, body.reserve))
    answer = DispositionResult(
        agent_id=agent_id,
        disposition=body.disposition,
        call_back_at=iso(at) if at is not None else None,
        call_back_at_epoch=at,
    )
    return web.json_response(answer.model_dump(mode="json", exclude_none=True))


AGENT_ID = {"agent_id": {"type": "string", "description": "an agent id from the settings"}}


def routes() -> tuple[Any, ...]:
    """This file's routes for the table in routes.py (imported here, when that table is built)."""
    from app.web.routes import NOT_STORED, Answer, Route

    no_agent = Answer(404, "no such agent (or, for the card, no dialler contact now)")
    refused_now = Answer(409, "not possible now (no previewed contact, no call to dispose, unknown disposition)")
    return (
        Route(
            "GET",
            "/api/agents/{agent_id}/contact",
            contact_card,
            "the contact card of the dialler call the agent is rung for or on (from the moment the phone rings)",
            (Answer(200, "the contact", ContactCard), no_agent),
            parameters=AGENT_ID,
        ),
        Route(
            "POST",
            "/api/agents/{agent_id}/contact/dial",
            dial_now,
            "preview: dial the contact now, before the campaign's review time ends",
            (Answer(200, "dialled (stored); the card", ContactCard), no_agent, refused_now, NOT_STORED),
            parameters=AGENT_ID,
        ),
        Route(
            "POST",
            "/api/agents/{agent_id}/contact/skip",
            skip,
            "preview: skip the contact (not dialled, due again) and take the next one",
            (Answer(200, "skipped (stored)", None), no_agent, refused_now, NOT_STORED),
            parameters=AGENT_ID,
        ),
        Route(
            "POST",
            "/api/agents/{agent_id}/contact/disposition",
            dispose,
            "the disposition of the agent's last dialler call; call_back with `when` schedules the contact",
            (Answer(200, "stored", DispositionResult), no_agent, refused_now, Answer(422, "invalid body"), NOT_STORED),
            body=DispositionBody,
            parameters=AGENT_ID,
        ),
    )
