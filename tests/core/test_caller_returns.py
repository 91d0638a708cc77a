"""A caller's own line and prompts around an agent's ring: a callback is dialled only once its
caller's own call has ended, and a caller whose agent did not answer hears their offers and
announcements again."""

from __future__ import annotations

from app.core import commands as c
from app.core.settings import AnnounceSettings
from tests.core.harness import Harness, callback_settings, settings

CALLBACK_AT_ONCE = callback_settings(allow_other_number=False, offer_threshold=0.0)


def test_a_callback_is_not_dialled_while_its_caller_hears_the_confirmation() -> None:
    # Their line is busy with us until the confirmation ends: dialling them then rings a busy
    # phone and, with one attempt allowed, loses the callback seconds after it was promised.
    h = Harness(settings(agents=1, callback=CALLBACK_AT_ONCE), hear_confirmations=False)
    h.arrive("r1")
    h.at(30).dtmf("r1", "1")
    assert h.engine.requests["r1"].caller_line == "r1"
    assert not Harness.of(h.at(1).ready("a1"), c.OriginateAgent)
    ring = Harness.one(h.at(4).hang_up("r1"), c.OriginateAgent)  # the shell ends the line after the prompt
    assert ring.request_id == "r1"
    assert h.activities("caller_line_ended", "r1")


def test_a_later_caller_is_served_while_a_callback_hears_its_confirmation() -> None:
    h = Harness(settings(agents=2, callback=CALLBACK_AT_ONCE), hear_confirmations=False)
    h.arrive("r1")
    h.at(1).arrive("r2", "+4530123456")
    h.at(29).dtmf("r1", "1")
    ring = Harness.one(h.ready("a1"), c.OriginateAgent)
    assert ring.request_id == "r2"
    assert h.engine.position("r1") == 1  # the callback keeps its place meanwhile
    h.at(5).hang_up("r1")
    assert Harness.one(h.ready("a2"), c.OriginateAgent).request_id == "r1"


def test_offers_come_again_after_an_agent_let_the_call_ring_out() -> None:
    # first offer after 20 s, then every 30 s; the agent rings 15 s: the offer due meanwhile
    # found the caller out of the queue
    h = Harness(settings(agents=1, callback=callback_settings(offer_threshold=0.0), max_agent_refusals=5))
    h.arrive("r1")
    h.run_until(h.now + 25)
    assert len(h.activities("offered", "r1")) == 1
    h.ready("a1")
    h.run_until(h.now + 330)
    assert h.engine.requests["r1"].state.value in ("waiting", "ringing_agent")
    assert len(h.activities("offered", "r1")) > 3


def test_offers_come_again_after_the_agent_was_paused_not_responding() -> None:
    h = Harness(settings(agents=1, callback=callback_settings(offer_threshold=0.0, reoffer_interval=10.0)))
    h.arrive("r1")
    h.run_until(h.now + 21)
    h.ready("a1")  # rung; rings out at +36, the agent is paused, the caller goes back
    h.run_until(h.now + 600)
    assert h.engine.requests["r1"].state.value == "waiting"
    assert len(h.activities("offered", "r1")) > 10


def test_announcements_come_again_after_an_agents_ring() -> None:
    h = Harness(settings(agents=1, announce=AnnounceSettings(position=True, interval=10.0)))
    h.arrive("r1")
    h.run_until(h.now + 5)
    h.ready("a1")  # the announcement due at +10 comes while the agent rings
    h.run_until(h.now + 600)
    assert h.engine.requests["r1"].state.value == "waiting"
    assert len(h.activities("announced", "r1")) > 10


def test_an_agents_refusal_names_the_call_and_its_queue() -> None:
    # the events export shows a supervisor only their queues' lines: one without a queue would
    # hand another queue's call id to whoever may see the agent
    h = Harness(settings(agents=1, max_agent_refusals=5))
    h.arrive("r1")
    h.ready("a1")
    h.run_until(h.now + 20)  # rings out after 15 s
    refused = h.activities("agent_refused")
    assert [(a.request_id, a.queue, a.agent_id) for a in refused] == [("r1", "support", "a1")]


def test_a_caller_who_gives_up_while_an_agent_rings_gets_the_automatic_callback() -> None:
    # waited five minutes (the threshold is one), then hung up a second into the agent's ring: as
    # a caller hanging up a second earlier, they are called back (before: abandoned)
    h = Harness(settings(agents=1, callback=callback_settings(abandon_callback_after=60.0)))
    h.arrive("r1")
    h.run_until(h.now + 300)
    ring = Harness.one(h.ready("a1"), c.OriginateAgent)
    out = h.at(1).hang_up("r1")
    assert Harness.one(out, c.Hangup).leg_id == ring.leg_id
    assert [n.kind for n in Harness.of(out, c.Notify)] == ["callback_requested"]
    assert h.activities("abandoned", "r1")[0].data["callback"] is True
    again = Harness.one(out, c.OriginateAgent)  # the agent, free again, is rung for the callback
    assert again.request_id == "r1" and again.caller_id_name == "Callback"


def test_a_caller_who_gives_up_while_an_agent_rings_too_soon_is_abandoned() -> None:
    h = Harness(settings(agents=1, callback=callback_settings(abandon_callback_after=60.0)))
    h.arrive("r1")
    h.run_until(h.now + 20)
    h.ready("a1")
    out = h.at(1).hang_up("r1")
    assert [n.kind for n in Harness.of(out, c.Notify)] == ["abandoned"]
    assert h.activities("ended", "r1")[0].data["outcome"] == "abandoned"
    assert h.engine.agents["a1"].state.value == "ready"
