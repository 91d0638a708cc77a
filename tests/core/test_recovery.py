"""Restarts: what the shell stored is restored into a fresh engine, vanished legs come back as LegLost.

The shell stores every touched request through the store's codec, and the agents' (id, state,
pause reason); here a snapshot is taken the same way (encoded to rows and decoded again, so
anything the codec drops is dropped here too), restored into a new Engine built from the same settings,
and the rules of "nothing promised is lost" are checked: callers on hold keep their places, a
callback whose legs survive is re-adopted (nothing originated again), one whose legs vanished is
interrupted and goes back to its place without counting the attempt, a lost caller is dropped, a
lost connected call ends as served.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from app.core import commands as c
from app.core import events as ev
from app.core.engine import Engine
from app.core.engine_base import RESUME_GRACE
from app.core.errors import CoreError, UnknownQueue
from app.core.request import Request
from app.core.settings import CallbackOrder, CoreSettings, DispatchPolicy, OpeningHours, TimeRange
from app.core.states import AgentState, AttemptOutcome, Outcome, RequestState
from app.store import codec
from tests.core import test_properties as props
from tests.core.harness import DK_MOBILE, DK_MOBILE_2, DK_MOBILE_3, Harness, callback_settings, settings

Snapshot = tuple[list, list[tuple[str, AgentState, str | None]]]


def stored(req: Request) -> Request:
    """The request as the store gives it back: encoded to rows and decoded (no database needed)."""
    return codec.request_from_row(codec.request_row(req), [row[1:] for row in codec.attempt_rows(req)])


def take(engine: Engine) -> Snapshot:
    """What the shell has stored: rows through the codec, nothing shared with the running engine."""
    requests = [stored(r) for r in engine.requests.values()]
    agents = [(a.id, a.state, a.pause_reason) for a in engine.agents.values()]
    return requests, agents


def as_resumed(req: Request) -> Request:
    """What restore makes of a stored request: a caller in the menu is to be prompted again."""
    if req.menu is None:
        return req
    return replace(req, menu=replace(req.menu, digits="", resuming=True, keys_while_resuming=0, deadline=0.0))


def restart(h: Harness, core: CoreSettings, after: float = 5.0, snap: Snapshot | None = None) -> Harness:
    """A fresh service `after` seconds later, restored from what was stored."""
    requests, agents = snap if snap is not None else take(h.engine)
    fresh = Harness(core, start=h.now + after)
    fresh.engine.restore(copy.deepcopy(requests), agents, fresh.now)
    return fresh


def lose(h: Harness, leg: str, reason: str = "channel_vanished") -> list[c.Command]:
    return h.send(ev.LegLost(h.now, leg, reason))


def lose_all(h: Harness, reason: str = "asterisk_restarted") -> list[c.Command]:
    out: list[c.Command] = []
    for leg, *_ in h.engine.expected_legs():
        out += lose(h, leg, reason)
    return out


def ended(h: Harness, rid: str) -> dict[str, object]:
    found = h.activities("ended", rid)
    assert len(found) == 1, f"{rid}: {found}"
    return found[0].data


def positions(engine: Engine) -> dict[str, int | None]:
    return {rid: engine.position(rid) for rid in engine.requests}


CB = callback_settings(max_attempts=1, allow_other_number=False, min_wait_before_offer=0.0, offer_threshold=0.0)


def callback_core(agents: int = 1, **cb: object) -> CoreSettings:
    return settings(agents=agents, callback=replace(CB, **cb), wrap_up=0.0)


def web_callback(
    h: Harness, rid: str, number: str = DK_MOBILE, priority: int = 0, queue: str = "support"
) -> list[c.Command]:
    return h.send(ev.CallbackRequested(h.now, rid, queue, number, priority))


def originated(out: list[c.Command], kind: type[c.OriginateAgent] | type[c.OriginateCustomer]) -> list[str]:
    return [x.leg_id for x in out if isinstance(x, kind)]


# ------------------------------------------------------------------------- callers on hold


def test_callers_on_hold_keep_their_places_and_priorities() -> None:
    core = settings(agents=1)
    h = Harness(core)
    h.arrive("r1")
    h.at(1).arrive("r2", priority=1)
    h.at(1).arrive("r3", DK_MOBILE_2)
    before = positions(h.engine)
    assert before == {"r1": 2, "r2": 1, "r3": 3}
    r = restart(h, core)
    assert positions(r.engine) == before
    assert r.engine.callers_waiting("support") == 3
    assert r.engine.expected_legs() == [(rid, rid, "customer", True) for rid in ("r1", "r2", "r3")]
    r.arrive("r4")  # places handed out after the restore come after the restored ones
    assert r.engine.position("r4") == 4
    out = r.ready("a1")  # the caller with priority goes first, as before
    assert [x.request_id for x in r.of(out, c.OriginateAgent)] == ["r2"]


def test_asterisk_restart_drops_callers_on_hold_with_the_reason() -> None:
    core = settings(agents=1)
    h = Harness(core)
    h.arrive("r1")
    h.at(1).arrive("r2")
    r = restart(h, core)
    out = lose_all(r)
    assert r.engine.requests == {}
    assert not r.of(out, c.OriginateAgent) and not r.of(out, c.OriginateCustomer)
    for rid in ("r1", "r2"):
        assert ended(r, rid) == {"outcome": Outcome.DROPPED.value, "reason": "asterisk_restarted"}
    assert r.engine.callers_waiting("support") == 0


def test_caller_ringing_an_agent_whose_line_is_lost_is_dropped_and_the_agent_freed() -> None:
    core = settings(agents=1, wrap_up=0.0)
    h = Harness(core)
    h.arrive("r1")
    agent_leg = h.one(h.ready("a1"), c.OriginateAgent).leg_id
    r = restart(h, core)
    assert r.engine.agents["a1"].state is AgentState.RINGING
    out = lose(r, "r1", "asterisk_restarted")
    assert r.of(out, c.Hangup) == [c.Hangup(agent_leg, "caller_lost")]
    assert ended(r, "r1")["outcome"] == Outcome.DROPPED.value
    assert r.engine.agents["a1"].state is AgentState.READY
    assert r.engine.agents["a1"].request_id is None


def test_caller_ringing_an_agent_whose_agent_leg_is_lost_keeps_the_place_and_the_agent_is_not_blamed() -> None:
    core = settings(agents=1, wrap_up=0.0)
    h = Harness(core)
    h.arrive("r1")
    h.at(1).arrive("r2")
    agent_leg = h.one(h.ready("a1"), c.OriginateAgent).leg_id
    r = restart(h, core)
    out = lose(r, agent_leg)
    # back at the head; the agent (not at fault) is rung again at once with a new leg
    ring = r.one(out, c.OriginateAgent)
    assert ring.request_id == "r1" and ring.leg_id != agent_leg
    assert r.engine.position("r2") == 1
    assert r.activities("interrupted", "r1")


def test_ring_timeout_fires_after_restore() -> None:
    core = settings(agents=1, wrap_up=0.0, ring_timeout=15.0)
    h = Harness(core)
    h.arrive("r1")
    h.ready("a1")
    r = restart(h, core, after=30.0)  # the old deadline has passed: the ring gets its full timeout again
    assert r.engine.next_deadline() == r.now + 15.0
    r.run_until(r.now + 15.0)
    assert r.engine.requests["r1"].state is RequestState.WAITING
    assert r.engine.agents["a1"].state is AgentState.PAUSED
    assert r.engine.agents["a1"].pause_reason == "not_responding"


@pytest.mark.parametrize("lost", ["customer", "agent"])
def test_connected_inbound_call_whose_leg_is_lost_ends_as_served_and_the_other_side_is_hung_up(lost: str) -> None:
    core = settings(agents=1, wrap_up=10.0)
    h = Harness(core)
    h.arrive("r1")
    agent_leg = h.one(h.ready("a1"), c.OriginateAgent).leg_id
    h.answer(agent_leg)
    assert h.engine.requests["r1"].state is RequestState.CONNECTED
    r = restart(h, core)
    assert r.engine.agents["a1"].state is AgentState.BUSY
    out = lose(r, "r1" if lost == "customer" else agent_leg)
    other = agent_leg if lost == "customer" else "r1"
    assert [x.leg_id for x in r.of(out, c.Hangup)] == [other]
    assert ended(r, "r1")["outcome"] == Outcome.SERVED.value
    assert r.engine.agents["a1"].state is AgentState.WRAP_UP
    r.run_until(r.now + 10.0)
    assert r.engine.agents["a1"].state is AgentState.READY


def test_caller_in_the_callback_menu_gets_the_menu_timeout_after_restore() -> None:
    cb = callback_settings(allow_other_number=True, min_wait_before_offer=0.0, offer_threshold=0.0)
    core = settings(agents=1, callback=cb)
    h = Harness(core)
    h.arrive("r1")
    h.dtmf("r1", "1")
    assert h.engine.requests["r1"].menu is not None
    r = restart(h, core, after=2.0)
    r.send(ev.LegsReconciled(r.now))  # re-prompted (test_faults.py); silence after it ends
    r.prompt_done("r1")
    r.run_until(r.now + core.menu_timeout)
    assert r.engine.requests["r1"].menu is None
    assert r.activities("callback_menu_timeout", "r1")


def test_caller_in_the_callback_menu_gets_the_menu_timeout_even_if_never_reconciled() -> None:
    cb = callback_settings(allow_other_number=True, min_wait_before_offer=0.0, offer_threshold=0.0)
    core = settings(agents=1, callback=cb)
    h = Harness(core)
    h.arrive("r1")
    h.dtmf("r1", "1")
    r = restart(h, core, after=2.0)
    r.run_until(r.now + core.menu_timeout + RESUME_GRACE)
    assert r.engine.requests["r1"].menu is None


DAY = OpeningHours(timezone="UTC", weekly=tuple((TimeRange(8 * 3600, 17 * 3600),) for _ in range(7)))


def test_close_sweep_due_before_the_restart_still_comes() -> None:
    core = settings(agents=1, hours=DAY, max_wait_after_close=600.0)
    h = Harness(core, start=props.START)  # 16:50 UTC
    h.arrive("r1")
    h.run_until(props.START + 900.0)  # 17:05: closed, the sweep is due at 17:10
    assert "r1" in h.engine.requests
    r = restart(h, core, after=60.0)
    out = r.run_until(props.START + 1200.0)  # 17:10
    assert ended(r, "r1")["outcome"] == Outcome.CLOSED.value
    assert "closed" in r.prompts(out)


# ------------------------------------------------------------------------- callbacks waiting


def test_waiting_callbacks_keep_places_and_callback_delay_after_restore() -> None:
    core = callback_core(callback_delay=60.0)
    h = Harness(core)
    web_callback(h, "r1", priority=1)
    h.at(1).arrive("r2", DK_MOBILE_3)  # someone else: were it r1's caller, r1 would end as reached by phone
    web_callback(h.at(1), "r3", DK_MOBILE_2)
    before = positions(h.engine)
    assert before == {"r1": 1, "r2": 2, "r3": 3}
    r = restart(h, core, after=10.0)
    assert positions(r.engine) == before
    assert r.engine.callers_waiting("support") == 1
    r.ready("a1")  # the caller goes first; the callbacks wait out their delay
    ring = r.one(r.log, c.OriginateAgent)
    assert ring.request_id == "r2"
    r.answer(ring.leg_id)
    r.send(ev.LegHungUp(r.now, ring.leg_id))
    assert not r.of(r.log, c.OriginateAgent)[1:]
    r.run_until(h.now - 2 + 60.0)  # r1's delay ends
    rings = [x.request_id for x in r.of(r.log, c.OriginateAgent)]
    assert rings == ["r2", "r1"]


def test_waiting_callback_expiry_fires_after_restore() -> None:
    core = callback_core(max_age=600.0)
    h = Harness(core)
    web_callback(h, "r1")
    r = restart(h, core, after=100.0)
    out = r.run_until(h.now + 600.0)
    assert ended(r, "r1")["outcome"] == Outcome.EXPIRED.value
    assert r.one(out, c.Notify).kind == "callback_expired"


def test_callback_expired_while_the_service_was_down_ends_at_the_first_event() -> None:
    core = callback_core(max_age=600.0)
    h = Harness(core)
    web_callback(h, "r1")
    r = restart(h, core, after=3600.0)
    r.tick()
    assert ended(r, "r1")["outcome"] == Outcome.EXPIRED.value


def test_quarantined_callback_comes_back_at_the_end_after_restore() -> None:
    core = callback_core(max_attempts=2, sec_between_retries=300.0)
    h = Harness(core)
    web_callback(h, "r1")
    h.ready("a1")
    h.serve_callback("r1", AttemptOutcome.NO_ANSWER)
    req = h.engine.requests["r1"]
    assert req.state is RequestState.QUARANTINE and req.counted_attempts == 1
    not_before = req.not_before
    h.at(1).arrive("r2", DK_MOBILE_3)  # someone else takes the only agent
    r = restart(h, core, after=50.0)
    assert r.engine.requests["r1"].state is RequestState.QUARANTINE and r.engine.position("r1") is None
    assert r.engine.requests["r2"].state is RequestState.RINGING_AGENT
    agent_leg = r.engine.requests["r2"].agent_leg
    assert agent_leg is not None and r.engine.agents["a1"].state is AgentState.RINGING
    r.answer(agent_leg)
    r.send(ev.LegHungUp(r.now, agent_leg))
    r.run_until(not_before - 1)
    assert r.engine.requests["r1"].state is RequestState.QUARANTINE
    out = r.run_until(not_before)
    assert r.one(out, c.OriginateAgent).request_id == "r1"
    assert r.activities("requeued", "r1")


# ------------------------------------------------------------------------- callbacks in service


def ringing_callback(core: CoreSettings) -> tuple[Harness, str]:
    h = Harness(core)
    web_callback(h, "r1")
    return h, h.one(h.ready("a1"), c.OriginateAgent).leg_id


def test_ringing_callback_is_readopted_when_its_leg_survives() -> None:
    core = callback_core()
    h, agent_leg = ringing_callback(core)
    r = restart(h, core)
    assert r.engine.expected_legs() == [(agent_leg, "r1", "agent", False)]
    assert r.engine.agents["a1"].state is AgentState.RINGING
    assert not r.of(r.tick(), c.OriginateAgent)  # nothing rung twice
    r.answer(agent_leg)
    out = r.prompt_done(agent_leg)
    dial = r.one(out, c.OriginateCustomer)
    assert dial.attempt == 1
    assert not r.of(r.log, c.OriginateAgent)


def test_ringing_callback_whose_agent_leg_vanished_is_rung_once_more_with_a_new_leg() -> None:
    core = callback_core()
    h, agent_leg = ringing_callback(core)
    r = restart(h, core)
    out = lose(r, agent_leg)
    ring = r.one(out, c.OriginateAgent)
    assert ring.leg_id != agent_leg and ring.request_id == "r1"
    assert r.engine.requests["r1"].attempts == []
    assert r.engine.agents["a1"].state is AgentState.RINGING  # not paused as not responding
    assert lose(r, agent_leg) == []  # reported twice: the old leg is no longer expected


def test_whisper_readopted_then_the_customer_is_dialled_once() -> None:
    core = callback_core()
    h, agent_leg = ringing_callback(core)
    h.answer(agent_leg)
    assert h.engine.requests["r1"].state is RequestState.WHISPER
    r = restart(h, core)
    assert r.engine.agents["a1"].state is AgentState.BUSY
    out = r.prompt_done(agent_leg)
    assert r.one(out, c.OriginateCustomer).attempt == 1
    assert not r.of(r.log, c.OriginateAgent)


def test_whisper_whose_agent_leg_vanished_returns_to_its_place_without_an_attempt() -> None:
    core = callback_core()
    h, agent_leg = ringing_callback(core)
    h.answer(agent_leg)
    h.at(1).arrive("r2")
    r = restart(h, core)
    r.send(ev.AgentPaused(r.now, "a1"))  # nobody to take it at once: watch the place
    out = lose(r, agent_leg)
    assert not r.of(out, c.OriginateAgent) and not r.of(out, c.OriginateCustomer)
    req = r.engine.requests["r1"]
    assert req.state is RequestState.WAITING and req.attempts == []
    assert positions(r.engine) == {"r1": 1, "r2": 2}
    assert r.engine.agents["a1"].state is AgentState.PAUSED


def dialling_callback(core: CoreSettings) -> tuple[Harness, str, str]:
    h, agent_leg = ringing_callback(core)
    h.answer(agent_leg)
    customer_leg = h.one(h.prompt_done(agent_leg), c.OriginateCustomer).leg_id
    return h, agent_leg, customer_leg


def test_dialling_callback_is_readopted_and_nothing_is_dialled_twice() -> None:
    core = callback_core()
    h, agent_leg, customer_leg = dialling_callback(core)
    r = restart(h, core)
    assert sorted(r.engine.expected_legs()) == sorted(
        [(customer_leg, "r1", "customer", False), (agent_leg, "r1", "agent", True)]
    )
    assert r.tick() == []
    out = r.answer(customer_leg)
    assert r.one(out, c.BridgeLegs) == c.BridgeLegs("r1", customer_leg, agent_leg)
    assert not r.of(r.log, c.OriginateCustomer) and not r.of(r.log, c.OriginateAgent)
    r.send(ev.LegHungUp(r.now, customer_leg))
    assert ended(r, "r1")["outcome"] == Outcome.SERVED.value


@pytest.mark.parametrize("lost", ["customer", "agent"])
def test_dialling_callback_whose_leg_vanished_is_interrupted_and_tried_again_without_counting_it(lost: str) -> None:
    core = callback_core(max_attempts=1)  # one attempt only: the interrupted one must not use it up
    h, agent_leg, customer_leg = dialling_callback(core)
    r = restart(h, core)
    gone, other = (customer_leg, agent_leg) if lost == "customer" else (agent_leg, customer_leg)
    out = lose(r, gone, "asterisk_restarted")
    assert c.Hangup(other, "interrupted") in out
    req = r.engine.requests["r1"]
    assert req.attempts[0].outcome is AttemptOutcome.INTERRUPTED and req.counted_attempts == 0
    assert r.activities("interrupted", "r1")[0].data == {"leg": lost, "reason": "asterisk_restarted"}
    ring = r.one(out, c.OriginateAgent)  # the agent is free again and takes it at once
    assert ring.leg_id not in (agent_leg, customer_leg)
    lose(r, other)  # the other leg was hung up by us: reporting it lost too changes nothing
    r.answer(ring.leg_id)
    dial = r.one(r.prompt_done(ring.leg_id), c.OriginateCustomer)
    # the second dial is attempt record 2 (numbers never repeat), though only the first counts
    assert dial.attempt == 2 and dial.leg_id not in (agent_leg, customer_leg)
    assert r.engine.requests["r1"].counted_attempts == 1
    assert len(r.of(r.log, c.OriginateCustomer)) == 1
    r.answer(dial.leg_id)
    assert r.engine.requests["r1"].state is RequestState.CONNECTED


def test_customer_timeout_fires_after_restore_and_counts_nothing() -> None:
    """The guard re-armed at the restore: Asterisk's own timeout of the adopted dial came first
    had it reported it, so the guard's end is a dial never reported, not counted."""
    core = callback_core(max_attempts=2, customer_ring_timeout=30.0, sec_between_retries=60.0)
    h, _agent_leg, customer_leg = dialling_callback(core)
    r = restart(h, core, after=100.0)
    out = r.run_until(r.now + 30.0 + 10.0)  # the originate timeout plus the engine's own margin
    assert c.Hangup(customer_leg, "ring_timeout") in out
    req = r.engine.requests["r1"]
    assert req.state is RequestState.QUARANTINE and req.counted_attempts == 0
    assert req.attempts[0].outcome is AttemptOutcome.INTERRUPTED


def test_connected_callback_whose_customer_leg_is_lost_ends_as_served() -> None:
    core = callback_core()
    h, agent_leg, customer_leg = dialling_callback(core)
    h.answer(customer_leg)
    r = restart(h, core)
    out = lose(r, customer_leg)
    assert [x.leg_id for x in r.of(out, c.Hangup)] == [agent_leg]
    assert ended(r, "r1")["outcome"] == Outcome.SERVED.value


def test_asterisk_restart_keeps_waiting_callbacks_and_dials_them_when_back() -> None:
    core = callback_core(agents=2)
    h = Harness(core)
    h.arrive("r1")
    web_callback(h.at(1), "r2")
    h.at(1).arrive("r3")
    web_callback(h.at(1), "r4", DK_MOBILE_2)
    ring = h.one(h.ready("a1"), c.OriginateAgent)  # r1 rings a1
    r = restart(h, core)
    lose_all(r)
    assert sorted(r.engine.requests) == ["r2", "r4"]
    for rid in ("r1", "r3"):
        assert ended(r, rid)["outcome"] == Outcome.DROPPED.value
    assert ring.leg_id not in {leg for leg, *_ in r.engine.expected_legs()}
    rung = [x.request_id for x in r.of(r.log, c.OriginateAgent)]
    assert rung == ["r2"]  # a1 was freed and takes the first callback
    r.ready("a2")
    assert [x.request_id for x in r.of(r.log, c.OriginateAgent)] == ["r2", "r4"]


# ------------------------------------------------------------------------- identities and refusals


def test_leg_ids_after_restore_never_collide_even_when_the_clock_goes_back() -> None:
    core = callback_core()
    h, first = ringing_callback(core)
    seen = {first}
    engine_now = h.now
    current = h
    leg = first
    for _ in range(3):  # restart repeatedly at the same instant (or earlier): ids must stay fresh
        current = restart(current, core, after=0.0)
        current.now = engine_now
        ring = current.one(lose(current, leg), c.OriginateAgent)
        assert ring.leg_id not in seen
        seen.add(ring.leg_id)
        leg = ring.leg_id
        snap = take(current.engine)
        fresh = Harness(core, start=engine_now - 10.0)
        fresh.engine.restore(*snap, fresh.now)
        fresh.now = engine_now
        current = fresh
        ring = current.one(lose(current, leg), c.OriginateAgent)
        assert ring.leg_id not in seen
        seen.add(ring.leg_id)
        leg = ring.leg_id


def test_restore_refuses_requests_of_a_queue_no_longer_configured() -> None:
    core = settings(agents=1, callback=CB)
    h = Harness(core)
    web_callback(h, "r1")
    other = settings(agents=1, queue="sales")
    fresh = Engine(other)
    with pytest.raises(UnknownQueue, match="r1"):
        fresh.restore(*take(h.engine), h.now)
    assert fresh.requests == {} and not fresh._started


def test_restore_only_before_the_first_event() -> None:
    core = settings(agents=1)
    h = Harness(core)
    h.tick()
    with pytest.raises(CoreError):
        h.engine.restore([], [], h.now)


def test_agent_states_are_restored_and_calls_relinked() -> None:
    core = settings(agents=3, wrap_up=30.0)
    h = Harness(core)
    h.ready("a2")
    h.send(ev.AgentPaused(h.now, "a2", "lunch"))
    h.ready("a1")
    h.arrive("r1")
    leg = h.engine.requests["r1"].agent_leg
    assert leg is not None
    h.answer(leg)
    h.ready("a3")
    h.arrive("r2")
    leg2 = h.engine.requests["r2"].agent_leg
    assert leg2 is not None
    h.answer(leg2)
    h.leg_hung_up(leg2)  # a3 is in wrap-up
    assert h.engine.agents["a3"].state is AgentState.WRAP_UP
    r = restart(h, core)
    agents = r.engine.agents
    assert (agents["a1"].state, agents["a1"].request_id) == (AgentState.BUSY, "r1")
    assert (agents["a2"].state, agents["a2"].pause_reason) == (AgentState.PAUSED, "lunch")
    assert agents["a3"].state is AgentState.READY  # its wrap-up timer is not stored: it is over


def test_unknown_agents_in_the_stored_state_are_skipped() -> None:
    core = settings(agents=1)
    engine = Engine(core)
    engine.restore([], [("a1", AgentState.READY, None), ("gone", AgentState.PAUSED, "x")], 1_000_000.0)
    assert set(engine.agents) == {"a1"} and engine.agents["a1"].state is AgentState.READY


# ------------------------------------------------------------------------- a move asked for during a call


def moves(engine: Engine) -> list[tuple[str, AgentState, str | None]]:
    """The pauses and log-outs asked for during a call, as the shell stores them with the agents."""
    return [(a.id, a.after_call, a.after_call_reason) for a in engine.agents.values() if a.after_call is not None]


def restart_with_moves(h: Harness, core: CoreSettings) -> Harness:
    asked = moves(h.engine)
    r = restart(h, core)
    r.engine.restore_after_call(asked, r.now)
    return r


def test_a_log_out_asked_for_during_a_call_is_made_when_the_restored_call_ends() -> None:
    core = settings(agents=1, wrap_up=0.0)
    h = Harness(core)
    h.arrive("r1")
    leg = h.one(h.ready("a1"), c.OriginateAgent).leg_id
    h.answer(leg)
    h.send(ev.AgentLoggedOut(h.now, "a1"))  # going home after this call
    r = restart_with_moves(h, core)
    a1 = r.engine.agents["a1"]
    assert (a1.state, a1.request_id, a1.after_call) == (AgentState.BUSY, "r1", AgentState.LOGGED_OFF)
    r.leg_hung_up(leg)
    assert a1.state is AgentState.LOGGED_OFF
    assert not r.of(r.arrive("r2"), c.OriginateAgent)  # the next caller does not ring an empty desk


def test_an_agent_in_wrap_up_at_a_restart_finishes_it_before_the_next_call() -> None:
    """Restored ready, an agent still writing the last call's notes was rung at once."""
    core = settings(agents=1, wrap_up=30.0)
    h = Harness(core)
    h.arrive("r1")
    leg = h.one(h.ready("a1"), c.OriginateAgent).leg_id
    h.answer(leg)
    h.at(20).leg_hung_up(leg)  # a1 wraps up until +30 s
    since = h.engine.agents["a1"].state_since
    h.arrive("r2")
    r = restart(h, core, after=10.0)  # 10 s into the wrap-up
    r.engine.restore_wrap_ups([("a1", since)], r.now)
    a1 = r.engine.agents["a1"]
    assert a1.state is AgentState.WRAP_UP and a1.wrap_up_until == since + 30.0
    assert not r.of(r.tick(), c.OriginateAgent)
    assert r.one(r.run_until(since + 30.5), c.OriginateAgent).request_id == "r2"  # then the waiting caller
    # one whose wrap-up ran out while the service was down is ready at once
    late = restart(h, core, after=40.0)
    late.engine.restore_wrap_ups([("a1", since)], late.now)
    assert late.engine.agents["a1"].state is AgentState.READY


@pytest.mark.parametrize(
    ("move", "state", "reason"),
    [(ev.AgentPaused, AgentState.PAUSED, "lunch"), (ev.AgentLoggedOut, AgentState.LOGGED_OFF, None)],
)
def test_a_move_asked_for_in_wrap_up_is_made_at_restore_when_the_call_is_gone(
    move: type[ev.AgentPaused] | type[ev.AgentLoggedOut], state: AgentState, reason: str | None
) -> None:
    core = settings(agents=1, wrap_up=30.0)
    h = Harness(core)
    h.arrive("r1")
    leg = h.one(h.ready("a1"), c.OriginateAgent).leg_id
    h.answer(leg)
    h.leg_hung_up(leg)  # the call is over: a1 wraps up
    h.send(ev.AgentPaused(h.now, "a1", "lunch") if move is ev.AgentPaused else ev.AgentLoggedOut(h.now, "a1"))
    h.arrive("r2")
    r = restart_with_moves(h, core)  # the wrap-up timer is not stored: it is over
    a1 = r.engine.agents["a1"]
    assert (a1.state, a1.pause_reason, a1.after_call) == (state, reason, None)
    assert not r.of(r.tick(), c.OriginateAgent)  # the caller waiting is not rung to an empty desk


# ------------------------------------------------------------------------- a property


def _no_deadline(req: Request) -> Request:
    return req if req.menu is None else replace(req, menu=replace(req.menu, deadline=0.0))


def _note_coverage(core: CoreSettings, running: list[Request], m: props.Model) -> None:
    """Label what the example reached at the restart (see --hypothesis-show-statistics)."""
    cb = core.queues[0].callback
    event(f"dispatch={cb.dispatch.value}")
    event(f"order={cb.order.value}")
    dials = max((len(r.attempts) for r in running), default=0)
    event(f"dials of one request at restart: {min(dials, 3)}")
    if any(r.state is RequestState.QUARANTINE for r in running):
        event("a callback in quarantine at restart")
    if cb.vip_on_retry and any(a.kind == "requeued" and a.request_id in m.engine.requests for _, a in m.activities):
        event("a VIP-bumped callback at restart")
    if any(r.menu is not None for r in running):
        event("a caller in the menu at restart")
    if any(r.caller_line is not None for r in running):
        event("a caller hearing the confirmation at restart")


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=props.configs(),
    data=st.data(),
    journeys=st.booleans(),
    dispatch=st.sampled_from(list(DispatchPolicy)),
    order=st.sampled_from(list(CallbackOrder)),
    vip=st.sampled_from([0, 1, 5]),
    long_journeys=st.booleans(),
)
def test_restart_at_any_moment_keeps_every_invariant(
    config: tuple[CoreSettings, bool],
    data: st.DataObject,
    journeys: bool,
    dispatch: DispatchPolicy,
    order: CallbackOrder,
    vip: int,
    long_journeys: bool,
) -> None:
    core, _fifo = config  # keep-place order is not checked here: every policy and order is drawn
    enabled = True if journeys else core.queues[0].callback.enabled
    cb = replace(core.queues[0].callback, enabled=enabled, dispatch=dispatch, order=order, vip_on_retry=vip)
    queues = tuple(replace(q, callback=cb) for q in core.queues)
    if journeys and long_journeys:  # room for attempts 2 and 3: always open, short quarantine, no expiry
        cb = replace(cb, max_attempts=3, sec_between_retries=30.0, max_age=72 * 3600.0, give_up_on_busy=False)
        queues = tuple(replace(q, callback=cb, hours=None) for q in core.queues)
    core = replace(core, queues=queues)
    m = props.Model(Engine(core), max_attempts=cb.max_attempts)
    m.send(ev.AgentLoggedIn(m.now, "a1"))
    drive_weight = 40 if long_journeys else 9  # push callbacks through attempts 2 and 3
    for _ in range(data.draw(st.integers(20 if journeys else 0, 80 if journeys else 50), label="before")):
        props.step(data, m, journeys, drive_weight)
        props.check_invariants(m)

    callbacks = {rid for rid, r in m.engine.requests.items() if r.is_callback}
    running = sorted(copy.deepcopy(list(m.engine.requests.values())), key=lambda r: r.id)
    requests, agents = take(m.engine)
    _note_coverage(core, running, m)
    m.now += data.draw(st.sampled_from([0.0, 1.0, 30.0, 900.0]), label="downtime")
    m.engine = Engine(core)
    m.engine.restore(copy.deepcopy(requests), agents, m.now)
    # restored exactly what was running (through the codec: nothing dropped), same places; a
    # caller in the menu is to be prompted again (its deadline is set afresh)
    restored = sorted(m.engine.requests.values(), key=lambda r: r.id)
    assert [_no_deadline(r) for r in restored] == [_no_deadline(as_resumed(r)) for r in running]
    asterisk_restarted = data.draw(st.booleans(), label="asterisk_restarted")
    # every leg the engine expects is adopted again or reported lost; everything else is gone
    for leg, _rid, _role, _answered in m.engine.expected_legs():
        if asterisk_restarted or data.draw(st.booleans(), label="lost"):
            m.kill(leg)
            m.send(ev.LegLost(m.now, leg, "asterisk_restarted" if asterisk_restarted else "channel_vanished"))
            props.check_invariants(m)
    whisper = {r.agent_leg for r in m.engine.requests.values() if r.state is RequestState.WHISPER}
    m.whisper_legs &= whisper  # a whisper that still plays ends with its PromptFinished
    if data.draw(st.booleans(), label="reconciled"):
        m.send(ev.LegsReconciled(m.now))
        props.check_invariants(m)
    for rid in callbacks:
        if rid not in m.engine.requests:
            assert rid in m.ended, f"callback {rid} lost in the restart"
    for req in requests:  # nobody forgotten: still there, or ended with a recorded outcome
        assert req.id in m.engine.requests or req.id in m.ended, f"{req.kind} {req.id} forgotten"
    props.check_invariants(m)

    for _ in range(data.draw(st.integers(0, 40), label="after")):
        props.step(data, m, journeys)
        props.check_invariants(m)
    for rid in callbacks:
        assert rid in m.engine.requests or rid in m.ended, f"callback {rid} vanished without an ended activity"


def test_whisper_that_ended_while_down_goes_on_to_the_customer_once_legs_are_reconciled() -> None:
    core = callback_core()
    h, agent_leg = ringing_callback(core)
    h.answer(agent_leg)
    r = restart(h, core)
    assert not r.of(r.tick(1.0), c.OriginateCustomer)  # nothing before the shell has matched the legs
    out = r.send(ev.LegsReconciled(r.now))
    assert r.one(out, c.OriginateCustomer).attempt == 1
    assert r.engine.requests["r1"].state is RequestState.DIALLING_CUSTOMER
    assert not r.of(r.send(ev.LegsReconciled(r.now)), c.OriginateCustomer)  # dialled once only


def test_a_dial_lost_in_our_restart_is_placed_again_while_the_agent_keeps_the_line() -> None:
    """Stored, then the service was killed before the customer's originate went (or that call
    ended while we were down), while the agent listened to ringback: the agent is not hung up and
    rung again for the same call; the customer is dialled again once the legs are reconciled,
    the lost dial not counted."""
    core = callback_core(max_attempts=1)
    h, agent_leg, customer_leg = dialling_callback(core)
    r = restart(h, core)
    out = lose(r, customer_leg)
    assert not [x for x in out if isinstance(x, c.Hangup)] and not r.of(out, c.OriginateAgent)
    assert c.StopPrompt(agent_leg) in out  # the lost dial's ringback; the new dial brings its own
    assert not r.of(out, c.OriginateCustomer)  # not before the shell has matched every leg
    out = r.send(ev.LegsReconciled(r.now))
    dial = r.one(out, c.OriginateCustomer)
    assert dial.leg_id != customer_leg and dial.attempt == 2
    req = r.engine.requests["r1"]
    # one attempt allowed: the lost one does not count, the new one does
    assert req.attempts[0].outcome is AttemptOutcome.INTERRUPTED and req.counted_attempts == 1
    assert req.agent_leg == agent_leg and r.engine.agents["a1"].state is AgentState.BUSY
    r.answer(dial.leg_id)
    assert r.engine.requests["r1"].state is RequestState.CONNECTED
    assert not r.of(r.log, c.OriginateAgent)


def test_a_dial_lost_in_our_restart_whose_agent_is_gone_too_goes_back_to_its_place() -> None:
    core = callback_core(max_attempts=1)
    h, agent_leg, customer_leg = dialling_callback(core)
    r = restart(h, core)
    r.send(ev.AgentPaused(r.now, "a1"))  # nobody to take it at once: watch the place
    lose(r, customer_leg)
    out = lose(r, agent_leg) + r.send(ev.LegsReconciled(r.now))
    assert not r.of(out, c.OriginateCustomer)
    req = r.engine.requests["r1"]
    assert req.state is RequestState.WAITING and req.counted_attempts == 0
