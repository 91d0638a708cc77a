"""An agent whose own phone is on a call into a queue is offered nothing until it ends."""

from __future__ import annotations

import pytest

from app.core import commands as c
from app.core import events as ev
from app.core.errors import UnknownAgent
from app.core.states import AgentState
from tests.core.harness import Harness, settings


def test_an_agent_on_their_own_call_is_not_rung_and_is_rung_once_it_ends() -> None:
    h = Harness(settings(agents=1))
    h.ready("a1")
    h.send(ev.AgentOwnCall(h.now, "a1", True))
    out = h.arrive("r1", number=None)  # their own call, or anyone's: nobody is offered it
    assert not h.of(out, c.OriginateAgent)
    a1 = h.engine.agents["a1"]
    assert a1.state is AgentState.READY and not a1.available
    assert h.engine.ready_agents("support") == 0  # nor counted free by the wait estimate
    out = h.send(ev.AgentOwnCall(h.now, "a1", False))
    assert h.one(out, c.OriginateAgent).request_id == "r1"
    assert [a.data["on_call"] for a in h.activities("agent_own_call")] == [True, False]


def test_only_a_change_is_logged() -> None:
    h = Harness(settings(agents=1))
    h.send(ev.AgentOwnCall(h.now, "a1", True))
    h.send(ev.AgentOwnCall(h.now, "a1", True))
    h.send(ev.AgentOwnCall(h.now, "a1", False))
    h.send(ev.AgentOwnCall(h.now, "a1", False))
    assert [a.data["on_call"] for a in h.activities("agent_own_call")] == [True, False]


def test_an_agent_the_settings_do_not_have_is_refused() -> None:
    h = Harness(settings(agents=1))
    with pytest.raises(UnknownAgent):
        h.engine.handle(ev.AgentOwnCall(h.now, "nobody", True))


def test_a_settings_reload_during_their_own_call_keeps_them_out_of_the_offers() -> None:
    """A reload rebuilds the queues and gives each agent their new settings: the own call stays."""
    h = Harness(settings(agents=1))
    h.ready("a1")
    h.send(ev.AgentOwnCall(h.now, "a1", True))
    out = h.send(ev.SettingsChanged(h.now, settings(agents=1, ring_timeout=20.0)))
    assert h.engine.agents["a1"].own_call and not h.of(out, c.OriginateAgent)
    assert not h.of(h.arrive("r1", number=None), c.OriginateAgent)
    assert h.one(h.send(ev.AgentOwnCall(h.now, "a1", False)), c.OriginateAgent).request_id == "r1"
