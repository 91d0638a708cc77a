"""Issue 12, the core's side: what agents and callers hear, and what the core refuses.

1. the agent hears ringback while the customer's phone rings, and a prompt when it fails;
2. no made-up wait when nobody serves the queue;
3. "you keep your place" only where the queue keeps it;
4. no callbacks into a queue that does not take them;
5. auto-answer for agents' phones.
Each test failed on the code before the change.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product

import pytest

from app.core import commands as c
from app.core import events as ev
from app.core.callers import spoken_minutes
from app.core.errors import CallbacksDisabled
from app.core.settings import (
    AgentSettings,
    AnnounceSettings,
    CallbackOrder,
    CallbackSettings,
    CoreSettings,
    DispatchPolicy,
    QueueSettings,
)
from app.core.states import AgentState, AttemptOutcome, Outcome, RequestState
from tests.core.harness import DK_MOBILE, DK_MOBILE_2, Harness, callback_settings, settings
from tests.core.test_recovery import callback_core, restart, web_callback

RINGBACK = (c.PromptItem("ringback"),)


def dial(h: Harness, rid: str = "r1") -> tuple[str, list[c.Command]]:
    """The agent rung for `rid` answers and hears the whisper; returns (agent leg, the commands then)."""
    ring = [x for x in h.log if isinstance(x, c.OriginateAgent) and x.request_id == rid][-1]
    h.answer(ring.leg_id)
    return ring.leg_id, h.prompt_done(ring.leg_id)


def customer_leg(out: list[c.Command]) -> str:
    return Harness.one(out, c.OriginateCustomer).leg_id


# ------------------------------------------------------------------------- 1. ringback and why it ended


def test_agent_hears_ringback_while_the_customer_is_dialled_and_it_stops_before_the_bridge() -> None:
    h = Harness(callback_core())
    web_callback(h, "r1")
    h.ready("a1")
    agent_leg, out = dial(h)
    assert c.PlayPrompt(agent_leg, RINGBACK) in out  # was: silence until the customer answered
    out = h.answer(customer_leg(out))
    stop, bridge = out.index(c.StopPrompt(agent_leg)), out.index(h.one(out, c.BridgeLegs))
    assert stop < bridge


@pytest.mark.parametrize(
    ("outcome", "max_attempts", "prompt", "state"),
    [
        (AttemptOutcome.BUSY, 2, "callback_customer_unreachable", RequestState.QUARANTINE),
        (AttemptOutcome.NO_ANSWER, 2, "callback_customer_unreachable", RequestState.QUARANTINE),
        (AttemptOutcome.FAILED, 1, "callback_customer_unreachable_final", RequestState.ENDED),
    ],
)
def test_failed_attempt_tells_the_agent_then_ends_their_leg_without_waiting_for_it(
    outcome: AttemptOutcome, max_attempts: int, prompt: str, state: RequestState
) -> None:
    h = Harness(callback_core(max_attempts=max_attempts))
    web_callback(h, "r1")
    h.ready("a1")
    agent_leg, out = dial(h)
    out = h.fail(customer_leg(out), outcome)
    assert [x for x in out if isinstance(x, c.StopPrompt | c.PlayPrompt | c.Hangup)] == [
        c.StopPrompt(agent_leg),
        c.PlayPrompt(agent_leg, (c.PromptItem(prompt),), hangup_after=True),
    ]  # was: Hangup(agent_leg) at once, the agent never knew why
    assert h.engine.agents["a1"].state is AgentState.READY  # released now, not after the prompt
    req = h.engine.requests.get("r1")
    assert (req.state if req else RequestState.ENDED) is state
    # the agent leg's end after the prompt is not news to the engine
    assert [x for x in h.leg_hung_up(agent_leg) if not isinstance(x, c.Activity)] == []


def test_customer_ring_timeout_tells_the_agent_too() -> None:
    h = Harness(callback_core(max_attempts=2))
    web_callback(h, "r1")
    h.ready("a1")
    agent_leg, out = dial(h)
    leg = customer_leg(out)
    out = h.run_until(h.now + 60)
    assert c.Hangup(leg, "ring_timeout") in out
    assert c.PlayPrompt(agent_leg, (c.PromptItem("callback_customer_unreachable"),), hangup_after=True) in out
    assert c.Hangup(agent_leg, "customer_unreachable") not in out


def test_voicemail_left_stops_the_ringback_before_the_agent_is_hung_up() -> None:
    h = Harness(callback_core(amd=True, voicemail_message="voicemail_message"))
    web_callback(h, "r1")
    h.ready("a1")
    agent_leg, out = dial(h)
    out = h.answer(customer_leg(out), voicemail=True)
    assert out.index(c.StopPrompt(agent_leg)) < out.index(c.Hangup(agent_leg, "voicemail"))


def test_redial_after_a_restart_in_the_whisper_plays_ringback_too() -> None:
    h = Harness(callback_core())
    web_callback(h, "r1")
    h.ready("a1")
    ring = h.one(h.log, c.OriginateAgent)
    h.answer(ring.leg_id)
    h2 = restart(h, callback_core())
    out = h2.send(ev.LegsReconciled(h2.now))
    assert c.PlayPrompt(ring.leg_id, RINGBACK) in out and h2.of(out, c.OriginateCustomer)


# ------------------------------------------------------------------------- 2. no made-up wait


def announcing(agents: int = 1) -> Harness:
    announce = AnnounceSettings(position=True, estimated_wait=True, interval=60.0)
    return Harness(settings(agents=agents, callback=callback_settings(enabled=False), announce=announce))


def test_no_agent_serving_means_no_estimate_and_no_minutes_announced() -> None:
    h = announcing()
    h.arrive("r1")
    out = h.tick()  # the first announcement is due on arrival
    assert h.engine.estimated_wait("r1") is None  # was 86400: "1440 minutes"
    assert h.prompts(out) == ["position", "count"]


def test_an_agent_whose_phone_cannot_be_reached_serves_nobody_and_gives_no_estimate() -> None:
    """A softphone closed at the end of the day without logging off: nobody will be rung, so no
    "about 3 minutes" either, until the phone registers again."""
    h = announcing()
    h.ready("a1")
    h.send(ev.AgentReachability(h.now, "a1", False))
    h.arrive("r1")
    out = h.tick()
    assert h.engine.estimated_wait("r1") is None and h.engine.agents_serving("support") == 0
    assert h.prompts(out) == ["position", "count"]
    h.send(ev.AgentReachability(h.now, "a1", True))
    assert h.engine.agents_serving("support") == 1


def test_nothing_at_all_is_announced_when_only_the_unknown_wait_would_be() -> None:
    announce = AnnounceSettings(position=False, estimated_wait=True)
    h = Harness(settings(agents=1, callback=callback_settings(enabled=False), announce=announce))
    h.arrive("r1")
    out = h.tick()
    assert h.of(out, c.PlayPrompt) == [] and h.activities("announced") == []


def test_a_known_estimate_is_still_announced_in_minutes() -> None:
    h = announcing(agents=2)
    h.ready("a1")
    h.arrive("r0", number=None)  # a1 is rung for r0; a2 is logged off
    h.answer(h.one(h.log, c.OriginateAgent).leg_id)
    h.arrive("r1")
    out = h.tick()
    estimate = h.engine.estimated_wait("r1")
    assert estimate is not None and estimate < 24 * 3600
    assert h.prompts(out) == ["position", "count", "estimated_wait", "minutes"]
    minutes = [i.value for p in h.of(out, c.PlayPrompt) for i in p.items if i.name == "minutes"]
    assert minutes == [spoken_minutes(estimate)]
    assert [spoken_minutes(s) for s in (0, 29, 30, 89, 90, 150, 210)] == [1, 1, 1, 1, 2, 3, 4]


def test_unknown_estimate_counts_as_long_for_the_offer() -> None:
    h = Harness(settings(agents=1, callback=callback_settings(offer_threshold=60.0)))
    h.arrive("r1")
    h.run_until(h.now + 25)
    offered = h.activities("offered", "r1")
    assert len(offered) == 1 and offered[0].data["estimate"] is None


# ------------------------------------------------------------------------- 3. the keep-place promise


BREAKS = {
    "dispatch": DispatchPolicy.WHEN_AGENTS_FREE,
    "order": CallbackOrder.OLDEST_FIRST,
    "max_callback_agent_share": 0.5,
    "callback_delay": 30.0,
}


def test_keeps_place_only_with_every_condition() -> None:
    assert CallbackSettings().keeps_place
    for flags in product((False, True), repeat=len(BREAKS)):
        changes = {name: value for (name, value), on in zip(BREAKS.items(), flags, strict=True) if on}
        assert replace(CallbackSettings(), **changes).keeps_place is (not changes), changes


def test_config_names_a_break_exactly_when_the_core_says_the_place_is_not_kept() -> None:
    from app.config.promise import place_promise  # the admin's explanation of the core's rule

    for flags in product((False, True), repeat=len(BREAKS)):
        changes = {name: value for (name, value), on in zip(BREAKS.items(), flags, strict=True) if on}
        promise = place_promise(replace(CallbackSettings(), **changes))
        assert promise.kept is (not promise.breaks) is (not changes), promise


def offer_and_confirm(cb: CallbackSettings) -> tuple[tuple[c.PromptItem, ...], tuple[c.PromptItem, ...]]:
    h = Harness(settings(agents=1, callback=replace(cb, allow_other_number=False)))
    h.arrive("r1")
    h.run_until(h.now + cb.min_wait_before_offer)
    offer = next(p for p in h.of(h.log, c.PlayPrompt) if p.items[0].name == "callback_offer")
    out = h.dtmf("r1", "1")
    return offer.items, h.one(out, c.PlayPrompt).items


def test_queue_that_keeps_the_place_promises_it() -> None:
    offer, confirmation = offer_and_confirm(CallbackSettings())
    assert offer == (c.PromptItem("callback_offer", "1"),)  # the shell adds callback_offer_tail
    assert confirmation == (c.PromptItem("callback_confirmed"),)


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_queue_that_does_not_keep_the_place_does_not_promise_it(name: str) -> None:
    offer, confirmation = offer_and_confirm(replace(CallbackSettings(), **{name: BREAKS[name]}))
    assert offer == (c.PromptItem("callback_offer", "1"), c.PromptItem("callback_offer_tail_no_place"))
    assert confirmation == (c.PromptItem("callback_confirmed_no_place"),)


# ------------------------------------------------------------------------- 4. callbacks disabled


def two_queues() -> CoreSettings:
    on = QueueSettings(name="support")
    off = QueueSettings(name="sales", callback=CallbackSettings(enabled=False))
    return CoreSettings(queues=(on, off), agents=(AgentSettings(id="a1", skills=(("support", 0),)),))


def test_callback_requested_into_a_queue_without_callbacks_is_refused() -> None:
    h = Harness(two_queues())
    with pytest.raises(CallbacksDisabled, match="'sales'"):
        h.send(ev.CallbackRequested(h.now, "r1", "sales", DK_MOBILE))
    assert h.engine.requests == {} and h.log == []


def test_callback_moved_into_a_queue_without_callbacks_is_refused() -> None:
    h = Harness(two_queues())
    h.send(ev.CallbackRequested(h.now, "r1", "support", DK_MOBILE))
    with pytest.raises(CallbacksDisabled, match="'sales'"):
        h.send(ev.CallbackMoved(h.now, "r1", "sales", by="admin"))
    req = h.engine.requests["r1"]
    assert req.queue == "support" and req.state is RequestState.WAITING
    assert h.engine.waiting("support") == [req]
    h.send(ev.CallbackRequested(h.now, "r2", "support", DK_MOBILE_2))  # and the rest goes on


# ------------------------------------------------------------------------- 5. auto-answer


@pytest.mark.parametrize(
    ("agent", "queue", "expected"),
    [(False, False, False), (True, False, True), (False, True, True), (True, True, True)],
)
def test_auto_answer_when_the_agent_or_the_queue_asks_for_it(agent: bool, queue: bool, expected: bool) -> None:
    core = CoreSettings(
        queues=(QueueSettings(name="support", auto_answer_agents=queue),),
        agents=(AgentSettings(id="a1", skills=(("support", 0),), auto_answer=agent),),
    )
    h = Harness(core)
    h.ready("a1")
    out = h.arrive("r1")
    assert h.one(out, c.OriginateAgent).auto_answer is expected


def test_served_callback_still_ends_served() -> None:
    """The ringback changes nothing of the call's outcome (a regression guard)."""
    h = Harness(callback_core())
    web_callback(h, "r1")
    h.ready("a1")
    _, out = dial(h)
    leg = customer_leg(out)
    h.answer(leg)
    h.leg_hung_up(leg)
    ended = h.activities("ended", "r1")
    assert ended and ended[-1].data["outcome"] == Outcome.SERVED.value
