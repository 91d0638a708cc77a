"""A predictive campaign's pacing over the API: what the dialler would place now and what it measured.

Theory of operation: the engine's pacer (app/core/pacing.py) keeps, per predictive campaign, the
estimates it paces with and the abandon windows it is judged on (rolling 24 h and 30 days, seeded
at start-up from the event log). `HoldfastPacer.figures` turns them and the engine's current view
of agents and dials into plain numbers; this module only shapes them for JSON. Read-only: asking
does not dial (the decision is recomputed, never acted on). Windows count live answers as the
closed loop does: connected + abandoned, plus the configured AMD false-positive share of every
machine verdict (a person hung up on as a machine counts as abandoned).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from app.core import pacing
from app.core.settings import CampaignMode
from app.web.campaigns import _campaign
from app.web.errors import ApiError
from app.web.times import iso


class PacingWindowView(BaseModel):
    live_answers: float = Field(description="connected + abandoned (+ estimated AMD false positives)")
    abandoned: float = Field(description="abandoned live answers (+ estimated AMD false positives)")
    abandon_rate: float | None = Field(description="abandoned / live_answers; null before any live answer")
    machines: int = Field(description="AMD machine verdicts")
    amd_false_positives: float = Field(description="estimated persons among the machine verdicts")


class PacingFiguresView(BaseModel):
    campaign: str
    calls_to_place: int = Field(description="new dials the pacing would place now")
    in_flight: int = Field(description="dials ringing + answered contacts waiting for an agent")
    agents_present: int
    agents_ready: int
    dial_level: float | None = Field(description="lines in use per present agent; null with nobody present")
    live_rate: float = Field(description="measured share of dials a person answers (recent dials weigh more)")
    machine_rate: float = Field(description="measured share of dials AMD classes as machines")
    live_answer_delay: float = Field(description="mean seconds from dial to a person's answer")
    talk_time: float = Field(description="mean seconds of conversation")
    gain: float = Field(description="the closed loop's correction of the risk model")
    target_abandon_rate: float = Field(description="aimed at now: the cap less a margin that grows near it")
    abandon_cap: float
    over_cap: bool = Field(
        description="a judged window has no room for another abandon (near or over the cap, or too few live"
        " answers yet): one dial per ready agent"
    )
    room: float = Field(description="abandons the tighter judged window can still take under the cap")
    amd_false_positive: float = Field(description="configured share of machine verdicts that are persons")
    last_24h: PacingWindowView
    last_30d: PacingWindowView
    at: str
    at_epoch: float


def _window(w: pacing.WindowFigures) -> PacingWindowView:
    return PacingWindowView(
        live_answers=round(w.lives, 3),
        abandoned=round(w.abandoned, 3),
        abandon_rate=None if w.rate is None else round(w.rate, 4),
        machines=w.machines,
        amd_false_positives=round(w.amd_false_positives, 3),
    )


def pacing_figures_view(campaign: str, f: pacing.PacingFigures) -> PacingFiguresView:
    return PacingFiguresView(
        campaign=campaign,
        calls_to_place=f.calls_to_place,
        in_flight=f.in_flight,
        agents_present=f.present,
        agents_ready=f.ready,
        dial_level=None if f.dial_level is None else round(f.dial_level, 3),
        live_rate=round(f.live_rate, 4),
        machine_rate=round(f.machine_rate, 4),
        live_answer_delay=round(f.live_answer_delay, 2),
        talk_time=round(f.talk_time, 1),
        gain=round(f.gain, 4),
        target_abandon_rate=round(f.target, 4),
        abandon_cap=f.cap,
        over_cap=f.over_cap,
        room=round(f.room, 3),
        amd_false_positive=f.amd_false_positive,
        last_24h=_window(f.day),
        last_30d=_window(f.month),
        at=iso(f.now),
        at_epoch=f.now,
    )


async def campaign_pacing(request: web.Request) -> web.Response:
    service, _, campaign, _ = _campaign(request)
    engine = service.engine
    settings = engine.campaigns.get(campaign)
    if settings is None or settings.mode is not CampaignMode.PREDICTIVE:
        raise ApiError(409, f"campaign {campaign!r} is not in predictive mode: it has no pacing")
    pacer = engine.pacer(campaign)
    if not isinstance(pacer, pacing.HoldfastPacer):
        raise ApiError(409, f"campaign {campaign!r} is paced by a benchmark policy without figures")
    figures = pacer.figures(engine.pacing_view(settings), settings.max_dial_level)
    return web.json_response(pacing_figures_view(campaign, figures).model_dump(mode="json"))
