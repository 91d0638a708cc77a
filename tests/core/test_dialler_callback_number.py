"""One number is rung by one call at a time, callbacks of inbound queues included: a campaign
leaves a contact in its window while a callback to the number is being served, and a callback to
a number a campaign's dial holds keeps its place until that dial ends."""

from __future__ import annotations

from app.core import commands as c
from app.core import events as ev
from app.core.settings import CampaignMode
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings

NUMBER = "+4520123456"


def test_a_campaign_does_not_dial_the_number_a_callback_is_ringing() -> None:
    core = dialler_settings(campaign("pw", mode=CampaignMode.POWER), agents=2)
    h = DiallerHarness(core, [contact(1, campaign_id="pw", number=NUMBER)])
    h.send(ev.CampaignControl(h.now, "pw", "pause"))  # the callback is served first
    h.send(ev.CallbackRequested(h.now, "cb1", "sales", NUMBER))
    ring = h.one(h.ready("a1"), c.OriginateAgent)
    assert ring.request_id == "cb1"
    out = h.answer(ring.leg_id)
    for p in h.of(out, c.PlayPrompt):
        out += h.prompt_done(p.leg_id)
    out += h.run_until(h.now + 5)
    (cb_dial,) = h.dials(out)
    assert cb_dial.request_id == "cb1"
    h.send(ev.CampaignControl(h.now, "pw", "start"))
    assert h.dials(h.at(1).ready("a2")) == []
    assert h.engine.window_size("pw") == 1  # dialled after the callback's call


def test_a_callback_waits_while_a_campaign_holds_its_number() -> None:
    h = DiallerHarness(dialler_settings(campaign("pv"), agents=2), [contact(1, campaign_id="pv", number=NUMBER)])
    preview = h.one(h.ready("a1"), c.OriginateAgent)  # a1 previews the contact
    assert preview.request_id.startswith("dial-pv")
    h.send(ev.CallbackRequested(h.now, "cb1", "sales", NUMBER))
    assert h.of(h.at(1).ready("a2"), c.OriginateAgent) == []  # not rung while the number is held
    out = h.at(2).send(ev.ContactSkipped(h.now, "a1"))
    assert [r.request_id for r in h.of(out, c.OriginateAgent)] == ["cb1"]
