"""A dialled contact whose phone answered and who hung up while answering-machine detection was
still listening (the channel in the dialplan's AMD) is reported to the engine as answered; a
contact who never answered is reported as before."""

from __future__ import annotations

import pytest

from app.core import events as ev
from app.telephony.legs import Leg
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import config_text, make_shell


@pytest.mark.parametrize(("in_detection", "answered"), [(True, True), (False, False)])
async def test_a_hang_up_during_detection_is_told_as_an_answered_phone(
    fake_ari: FakeAri, in_detection: bool, answered: bool
) -> None:
    shell = await make_shell(fake_ari, config_text(fake_ari))
    await shell.start()
    try:
        leg = Leg("dial-spring-1-1:c", "chan-1", "customer", "dial-spring-1-1", amd=True, in_dialplan=in_detection)
        shell.service.legs.add(leg)
        await shell.service._leg_ended(leg, 16)  # normal clearing: the contact put the phone down
        (failed,) = shell.fed_of(ev.LegFailed)
        assert isinstance(failed, ev.LegFailed) and (failed.leg_id, failed.answered) == (leg.leg_id, answered)
    finally:
        await shell.stop()


async def test_a_person_s_verdict_carries_when_their_greeting_ended(fake_ari: FakeAri) -> None:
    """AMD() says HUMAN after a silence that follows the greeting (its cause "HUMAN-<ms>-<ms>"):
    the engine is told when the greeting ended, which the 2 s to an agent count from."""
    shell = await make_shell(fake_ari, config_text(fake_ari))
    await shell.start()
    try:
        leg = Leg("dial-spring-1-1:c", "chan-1", "customer", "dial-spring-1-1", amd=True, in_dialplan=True)
        shell.service.legs.add(leg)
        await shell.service._originated_leg_answered(leg, ("amd", "HUMAN", "HUMAN-800-800"))
        await shell.service._originated_leg_answered(leg, ("amd", "NOTSURE", "TOOLONG-5000"))
        person, unsure = shell.fed_of(ev.LegAnswered)
        assert isinstance(person, ev.LegAnswered) and person.greeting_ended is not None
        assert person.now - person.greeting_ended == pytest.approx(0.8)
        assert isinstance(unsure, ev.LegAnswered) and unsure.greeting_ended is None
    finally:
        await shell.stop()
