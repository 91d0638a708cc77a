"""A power call the contact answered just before the service stopped (kill -9): at the restart the
contact has heard silence since their answer. The 2 s for an agent run from that answer, not from
the restart, so the call is abandoned (the information message, the count the cap is judged on, the
72 h quarantine); it was connected and counted live, which hid abandons in every restart's window."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.settings import CampaignMode
from app.telephony.committer import agent_record, snapshot
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings

DOWNTIME = 30.0


def test_a_contact_answered_before_a_crash_is_abandoned_at_the_restart() -> None:
    settings = dialler_settings(campaign(mode=CampaignMode.POWER))
    h = DiallerHarness(settings, [contact(1), contact(2)])
    (dial,) = h.dials(h.ready("a1"))
    ring = h.one(h.at(5).answer(dial.leg_id), c.OriginateAgent)  # "hello?": the agent is rung
    stored = [snapshot(r) for r in h.engine.requests.values()]  # what the step's commit stored
    agents = [(a.agent_id, a.state, a.pause_reason) for a in map(agent_record, h.engine.agents.values())]

    later = DiallerHarness(settings, [contact(1), contact(2)], start=h.now + DOWNTIME)
    later.engine.restore(stored, agents, later.now)
    later.send(ev.LegsReconciled(later.now))  # both channels found again
    later.at(0.3).answer(ring.leg_id)  # the agent's phone answers by itself

    assert later.activities("connected") == []
    (abandoned,) = later.activities("dialler_abandoned")
    assert abandoned.request_id == ring.request_id
