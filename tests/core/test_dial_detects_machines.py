"""The engine tells the shell whether a customer dial goes through answering-machine detection,
for a leg the shell takes in again without its originate (adopted after a restart, found again
after a reconnect): the same answer as the originate's own `amd`."""

from __future__ import annotations

from app.core.commands import OriginateCustomer
from app.core.settings import CampaignMode
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings


def _dialled(amd: bool) -> tuple[DiallerHarness, OriginateCustomer]:
    c = campaign(mode=CampaignMode.POWER, amd=amd)
    h = DiallerHarness(dialler_settings(c), [contact(1)])
    (dial,) = h.dials(h.ready("a1"))
    return h, dial


def test_a_campaign_dial_with_detection_says_so() -> None:
    h, dial = _dialled(amd=True)
    assert dial.amd
    assert h.engine.dial_detects_machines(dial.leg_id)


def test_a_campaign_dial_without_detection_says_so() -> None:
    h, dial = _dialled(amd=False)
    assert not h.engine.dial_detects_machines(dial.leg_id)


def test_an_unknown_or_agent_leg_never_does() -> None:
    h, dial = _dialled(amd=True)
    assert not h.engine.dial_detects_machines("nobody:c1")
    req = h.engine.requests[dial.request_id]
    assert req.agent_leg is None or not h.engine.dial_detects_machines(req.agent_leg)
