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
