"""Hypothesis: whatever agents, contacts, the network and supervisors do, the dialler never dials
a contact (or a number in both campaigns' lists) twice at once, outside its calling hours, after
its last attempt (unless a call back was promised), while its campaign is not running, or on a
do-not-call entry."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core import campaigns as rules
from app.core import commands as c
from app.core import events as ev
from app.core.errors import CoreError
from app.core.settings import CampaignMode, CampaignState, OpeningHours, RetryIntervals, TimeRange
from app.core.states import AttemptOutcome, RequestKind
from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings

NUMBERS = ["+12125550100", "+13105550100", "+4520123456", "+4530123456", "+441632960961", "+12125550199"]
DAY = (TimeRange(9 * 3600, 20 * 3600),)
HOURS = OpeningHours(weekly=(DAY,) * 5 + ((), DAY))  # closed Saturdays

step = st.one_of(
    st.tuples(st.just("ready"), st.integers(0, 2)),
    st.tuples(st.just("pause"), st.integers(0, 2)),
    st.tuples(st.just("answer"), st.integers(0, 9)),
    st.tuples(st.just("fail"), st.integers(0, 9), st.sampled_from(list(AttemptOutcome)[:6])),
    st.tuples(st.just("hangup"), st.integers(0, 9)),
    st.tuples(st.just("wait"), st.sampled_from([0.5, 1.0, 2.5, 30.0, 700.0, 4000.0, 20000.0])),
    st.tuples(st.just("dnc"), st.sampled_from([*NUMBERS, "+1212", "+45"])),
    st.tuples(st.just("control"), st.sampled_from(["start", "pause", "stop"]), st.sampled_from(["p", "w"])),
    st.tuples(st.just("skip"), st.integers(0, 2)),
    st.tuples(st.just("dial_now"), st.integers(0, 2)),
    st.tuples(st.just("lost"), st.integers(0, 9)),
)


def _make() -> DiallerHarness:
    camps = (
        campaign("p", max_attempts=2, calling_hours=HOURS, review_time=3.0, retry=RetryIntervals(600, 600, 600, 600)),
        campaign("w", mode=CampaignMode.POWER, lines_per_agent=2.0, max_attempts=3, calling_hours=HOURS),
    )
    contacts = [contact(i, number=n, campaign_id=cid) for cid in ("p", "w") for i, n in enumerate(NUMBERS, 1)]
    contacts.append(contact(99, number="+12125550123", campaign_id="w", timezone="Asia/Tokyo"))
    return DiallerHarness(dialler_settings(*camps, agents=3, wrap_up=1.0), contacts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=60))
def test_the_dialler_never_breaks_its_promises(steps: list[tuple]) -> None:  # type: ignore[type-arg]
    h = _make()
    dnc: set[tuple[str, bool]] = set()
    handle = h.engine.handle

    def checked(event: ev.Event) -> list[c.Command]:  # every step is checked as it happens
        out = handle(event)
        _check(h, event.now, out, dnc)
        return out

    h.engine.handle = checked  # type: ignore[method-assign]
    for s in steps:
        legs = [leg for r in h.engine.requests.values() for leg in (r.agent_leg, r.customer_leg) if leg]
        try:
            kind = s[0]
            if kind == "ready":
                h.ready(f"a{s[1] + 1}")
            elif kind == "pause":
                h.send(ev.AgentPaused(h.now, f"a{s[1] + 1}"))
            elif kind in ("answer", "fail", "hangup", "lost") and legs:
                leg = legs[s[1] % len(legs)]
                if kind == "answer":
                    h.answer(leg)
                elif kind == "fail":
                    h.fail(leg, s[2])
                elif kind == "hangup":
                    h.leg_hung_up(leg)
                else:
                    h.send(ev.LegLost(h.now, leg, "channel_vanished"))
            elif kind == "wait":
                h.run_until(h.now + s[1])
            elif kind == "dnc":
                entry = (s[1], len(s[1]) < 10)
                dnc.add(entry)
                h.send(ev.DncUpdated(h.now, None, added=(entry,)))
            elif kind == "control":
                h.send(ev.CampaignControl(h.now, s[2], s[1]))
            elif kind == "skip":
                h.send(ev.ContactSkipped(h.now, f"a{s[1] + 1}"))
            elif kind == "dial_now":
                h.send(ev.ContactDialNow(h.now, f"a{s[1] + 1}"))
        except CoreError:
            pass  # refused: nothing changed


def test_the_property_runs_make_dials() -> None:
    h = _make()
    h.ready("a1")
    h.ready("a2")
    assert len(h.dials()) >= 2  # both campaigns dial at the start time (a Thursday 16:26 in New York)


def _check(h: DiallerHarness, now: float, out: list[c.Command], dnc: set[tuple[str, bool]]) -> None:
    engine = h.engine
    active = Counter((r.campaign, r.contact_id) for r in engine.requests.values() if r.kind is RequestKind.CONTACT)
    assert all(n == 1 for n in active.values()), active  # never twice at once
    # NUMBERS are in both campaigns' lists: a number is in one dial at a time, whichever campaign's
    numbers = Counter(r.callback_number for r in engine.requests.values() if r.kind is RequestKind.CONTACT)
    assert all(n == 1 for n in numbers.values()), numbers
    assert engine._numbers_in_use == dict(numbers)
    for cid, window in engine._window.items():
        assert not any((cid, k) in active for k in window)  # in the window or dialled, not both
    for dial in [x for x in out if isinstance(x, c.OriginateCustomer)]:
        req = engine.requests.get(dial.request_id)
        assert req is not None
        camp = engine.campaigns[req.campaign or ""]
        assert engine.campaign_state[camp.id] is CampaignState.RUNNING
        assert not any(dial.number == e or (p and dial.number.startswith(e)) for e, p in dnc)
        before = int((req.contact or {})["attempts"]) + req.counted_attempts - 1
        assert before < camp.max_attempts or (req.contact or {}).get("last_outcome") == "call_back"
        zones = rules.contact_zones(dial.number, (req.contact or {}).get("timezone"), camp.timezone)
        for z in zones:
            local = datetime.fromtimestamp(now, ZoneInfo(z))
            second = local.hour * 3600 + local.minute * 60 + local.second
            assert local.weekday() != 5 and 9 * 3600 <= second < 20 * 3600, (dial.number, z, local)
