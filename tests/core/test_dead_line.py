"""A leg Asterisk cut because its phone sent no audio (`rtp_timeout`: a dead line, a crashed
softphone that still answers SIP). Not the person's choice: the record says so, the agent is not
rung again until they say their phone works, and a caller's dead line is no patience sample."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.agents import NO_AUDIO
from app.core.settings import AgentSettings, CoreSettings, QueueSettings
from app.core.states import AgentState, AttemptOutcome, Outcome, RequestState
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings
from tests.core.harness import Harness, callback_settings, settings


def connected(h: Harness, rid: str) -> str:
    """`rid` arrives and is put through to the ready agent a1; returns the agent's leg."""
    h.arrive(rid)
    ring = [x for x in h.log if isinstance(x, c.OriginateAgent) and x.request_id == rid][-1]
    h.answer(ring.leg_id)
    assert h.engine.requests[rid].state is RequestState.CONNECTED
    return ring.leg_id


def ended(h: Harness, rid: str) -> c.Activity:
    return h.activities("ended", rid)[-1]


def test_agent_line_dead_mid_call_ends_the_call_as_no_audio_and_pauses_the_agent_after_wrap_up() -> None:
    h = Harness(settings(wrap_up=10.0))
    h.ready("a1")
    agent_leg = connected(h, "r1")
    out = h.send(ev.LegHungUp(h.now, agent_leg, no_audio=True))
    assert [x.leg_id for x in h.of(out, c.Hangup)] == ["r1"]  # the customer is not left to silence
    assert ended(h, "r1").data["hung_up_by"] == "agent_no_audio"
    assert [a.agent_id for a in h.activities("agent_line_dead", "r1")] == ["a1"]
    a1 = h.engine.agents["a1"]
    assert a1.state is AgentState.WRAP_UP and a1.refusals == 0

    h.run_until(h.now + 11)
    assert (a1.state, a1.pause_reason) == (AgentState.PAUSED, NO_AUDIO)
    assert h.activities("agent_state")[-1].data == {"state": "paused", "previous": "wrap_up", "reason": NO_AUDIO}
    out = h.arrive("r2")  # the next caller is not put through to a dead phone
    assert not h.of(out, c.OriginateAgent)
    out = h.ready("a1")  # the agent's phone works again: they say so
    assert [x.request_id for x in h.of(out, c.OriginateAgent)] == ["r2"]


def test_a_plain_agent_hang_up_still_makes_them_ready_after_wrap_up() -> None:
    h = Harness(settings(wrap_up=10.0))
    h.ready("a1")
    h.leg_hung_up(connected(h, "r1"))
    assert ended(h, "r1").data["hung_up_by"] == "agent"
    h.run_until(h.now + 11)
    assert h.engine.agents["a1"].state is AgentState.READY
    assert not h.activities("agent_line_dead")


def test_agent_line_dead_without_wrap_up_pauses_at_once() -> None:
    h = Harness(settings(wrap_up=0.0))
    h.ready("a1")
    h.send(ev.LegHungUp(h.now, connected(h, "r1"), no_audio=True))
    a1 = h.engine.agents["a1"]
    assert (a1.state, a1.pause_reason) == (AgentState.PAUSED, NO_AUDIO)
    assert h.activities("agent_state")[-1].data == {"state": "paused", "previous": "busy", "reason": NO_AUDIO}


def test_a_logout_asked_during_the_call_wins_over_the_no_audio_pause() -> None:
    h = Harness(settings(wrap_up=5.0))
    h.ready("a1")
    agent_leg = connected(h, "r1")
    h.send(ev.AgentLoggedOut(h.now, "a1"))
    h.send(ev.LegHungUp(h.now, agent_leg, no_audio=True))
    h.run_until(h.now + 6)
    assert h.engine.agents["a1"].state is AgentState.LOGGED_OFF


def test_caller_line_dead_mid_call_frees_the_agent_as_usual() -> None:
    h = Harness(settings(wrap_up=5.0))
    h.ready("a1")
    agent_leg = connected(h, "r1")
    out = h.send(ev.CallerHungUp(h.now, "r1", no_audio=True))
    assert [x.leg_id for x in h.of(out, c.Hangup)] == [agent_leg]
    assert ended(h, "r1").data["hung_up_by"] == "customer_no_audio"
    h.run_until(h.now + 6)
    assert h.engine.agents["a1"].state is AgentState.READY  # the agent's phone is fine


class PatienceSpy:
    """Counts the abandonments the estimator is told of, and passes everything on."""

    def __init__(self, inner: object) -> None:
        self.inner, self.abandoned = inner, 0

    def on_abandoned(self, queue: str, waited: float, now: float) -> None:
        self.abandoned += 1
        self.inner.on_abandoned(queue, waited, now)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_waiting_caller_line_dead_is_abandoned_saying_so_but_is_no_patience_sample() -> None:
    h = Harness(settings())
    spy = PatienceSpy(h.engine.estimator)
    h.engine.estimator = spy  # type: ignore[assignment]
    h.arrive("r1")
    h.arrive("r2", number="+4530123456")
    h.at(40).send(ev.CallerHungUp(h.now, "r1", no_audio=True))
    assert ended(h, "r1").data["outcome"] == Outcome.ABANDONED.value
    assert ended(h, "r1").data["line"] == "no_audio"
    assert spy.abandoned == 0
    h.at(5).hang_up("r2")  # a caller who gives up is one
    assert "line" not in ended(h, "r2").data
    assert spy.abandoned == 1


def test_agent_line_dead_during_a_callback_whisper_is_no_refusal_and_keeps_the_callback_its_place() -> None:
    core = CoreSettings(
        queues=(QueueSettings(name="support", callback=callback_settings(enabled=True), max_agent_refusals=3),),
        agents=(AgentSettings(id="a1", skills=(("support", 0),)),),
    )
    h = Harness(core)
    h.send(ev.CallbackRequested(h.now, "cb1", "support", "+4520123456"))
    h.ready("a1")
    ring = h.one(h.log, c.OriginateAgent)
    h.answer(ring.leg_id)
    assert h.engine.requests["cb1"].state is RequestState.WHISPER
    h.send(ev.LegHungUp(h.now, ring.leg_id, no_audio=True))
    a1 = h.engine.agents["a1"]
    assert (a1.state, a1.pause_reason, a1.refusals) == (AgentState.PAUSED, NO_AUDIO, 0)
    assert h.engine.requests["cb1"].state is RequestState.WAITING  # kept, for the next agent
    assert not h.activities("agent_refused")


def test_agent_line_dead_while_the_callback_customer_rings_hangs_the_customer_up_not_counted() -> None:
    core = CoreSettings(
        queues=(QueueSettings(name="support", callback=callback_settings(enabled=True)),),
        agents=(AgentSettings(id="a1", skills=(("support", 0),)),),
    )
    h = Harness(core)
    h.send(ev.CallbackRequested(h.now, "cb1", "support", "+4520123456"))
    h.ready("a1")
    agent_leg, customer_leg = h.serve_callback("cb1")
    out = h.send(ev.LegHungUp(h.now, agent_leg, no_audio=True))
    assert customer_leg in [x.leg_id for x in h.of(out, c.Hangup)]
    req = h.engine.requests["cb1"]
    assert req.attempts[-1].outcome is AttemptOutcome.AGENT_NO_ANSWER  # not counted against the customer
    assert h.engine.agents["a1"].pause_reason == NO_AUDIO


def test_a_campaign_agents_line_dead_mid_call_pauses_them_and_the_next_contact_waits() -> None:
    settings = dialler_settings(campaign(ring_time=30.0), wrap_up=5.0)
    h = DiallerHarness(settings, [contact(1), contact(2)])
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    dial = h.one(h.answer(ring.leg_id), c.OriginateCustomer)
    h.answer(dial.leg_id)
    out = h.at(30).send(ev.LegHungUp(h.now, ring.leg_id, no_audio=True))
    assert dial.leg_id in [x.leg_id for x in h.of(out, c.Hangup)]
    assert h.activities("ended", ring.request_id)[-1].data["hung_up_by"] == "agent_no_audio"
    out = h.run_until(h.now + 30)
    a1 = h.engine.agents["a1"]
    assert (a1.state, a1.pause_reason) == (AgentState.PAUSED, NO_AUDIO)
    assert not [x for x in h.log[h.log.index(dial) :] if isinstance(x, c.OriginateAgent)]  # contact 2 waits
    assert h.progress(1) is not None and h.progress(1).last_outcome == "answered"  # the contact was served
    ring2 = h.one(h.ready("a1"), c.OriginateAgent)
    assert h.engine.contact_for_agent("a1")[1].contact_id == 2 and ring2.request_id != ring.request_id
