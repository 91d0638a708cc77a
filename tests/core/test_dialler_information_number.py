"""The information message of an abandoned power call carries the campaign's number to call back
(its `information_number`) as the prompt's own value: the regulators (UK Ofcom) want the message
to say a number, and the message was generic ("please call our customer service number")."""

from __future__ import annotations

import pytest

from app.core import commands as c
from app.core.commands import PromptItem
from app.core.settings import CampaignMode
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings


def information_heard(**fields: str) -> c.PlayPrompt:
    """The PlayPrompt a second answer hears while the only agent talks to the first contact."""
    settings = dialler_settings(campaign(mode=CampaignMode.POWER, lines_per_agent=2.0, **fields))
    h = DiallerHarness(settings, [contact(1), contact(2)])
    first, second = h.dials(h.ready("a1"))
    ring = h.one(h.at(5).answer(first.leg_id), c.OriginateAgent)
    h.at(0.3).answer(ring.leg_id)
    h.at(1).answer(second.leg_id)
    play = h.one(h.run_until(h.now + 2.0), c.PlayPrompt)  # no agent within 2 s
    assert (play.leg_id, play.hangup_after) == (second.leg_id, True)
    return play


@pytest.mark.parametrize(
    ("fields", "items"),
    [
        ({"information_number": "33445566"}, (PromptItem("dialler_information", "33445566"),)),
        # an admin's own recording: the number goes along, the prompt book leaves it unsaid
        (
            {"information_prompt": "ofcom-message", "information_number": "02071234567"},
            (PromptItem("ofcom-message", "02071234567"),),
        ),
        ({}, (PromptItem("dialler_information"),)),  # no number: no value, not an empty one
    ],
)
def test_the_information_message_carries_the_campaigns_number(fields: dict[str, str], items: tuple[PromptItem]) -> None:
    assert information_heard(**fields).items == items
