"""callback.max_per_number_per_day: a number is promised at most so many callbacks in any 24 h."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core import events as ev
from app.core.errors import DailyLimitReached
from app.core.promise_log import DAY, PromiseLog
from app.core.request import Request
from app.core.settings import AgentSettings, CallbackMode, CoreSettings, EligibilityRules, QueueSettings
from app.core.states import Outcome, RequestKind, RequestState
from tests.core.harness import DK_MOBILE, DK_MOBILE_2, Harness, callback_settings, settings
from tests.core.test_recovery import restart, stored, web_callback


def capped(limit: int = 2, **cb: object) -> CoreSettings:
    fields: dict[str, object] = {"allow_duplicate_numbers": True, "min_wait_before_offer": 0.0, "offer_threshold": 0.0}
    return settings(agents=1, callback=callback_settings(max_per_number_per_day=limit, **{**fields, **cb}))


def test_the_third_callback_in_a_day_is_refused_until_the_first_is_a_day_old() -> None:
    h = Harness(capped(limit=2))
    first = h.now
    web_callback(h, "r1")
    h.at(600)
    web_callback(h, "r2", "20123456")  # the same number, written nationally: counted together
    h.at(3600)
    h.engine.take_touched()
    before = repr(h.engine.requests)
    with pytest.raises(DailyLimitReached) as info:
        web_callback(h, "r3")
    assert info.value.free_again_at == first + DAY
    assert "allows 2 a day" in str(info.value) and "max_per_number_per_day" in str(info.value)
    assert repr(h.engine.requests) == before and h.engine.take_touched() == []
    web_callback(h, "r4", DK_MOBILE_2)  # another number is not held back
    h.now = first + DAY - 1
    with pytest.raises(DailyLimitReached):
        web_callback(h, "r5")
    h.now = first + DAY
    web_callback(h, "r6")
    assert h.engine.requests["r6"].kind is RequestKind.CALLBACK


def test_no_cap_by_default() -> None:
    h = Harness(settings(agents=1, callback=callback_settings(allow_duplicate_numbers=True)))
    for i in range(20):
        web_callback(h, f"r{i}")
    assert len(h.engine.requests) == 20


def test_ended_and_removed_callbacks_still_count() -> None:
    h = Harness(capped(limit=1, allow_duplicate_numbers=False))
    web_callback(h, "r1")
    h.send(ev.CallbackRemoved(h.now, "r1", by="alice"))
    assert "r1" not in h.engine.requests
    with pytest.raises(DailyLimitReached):
        web_callback(h, "r2")


def test_counted_over_all_queues_and_judged_by_the_queue_asked() -> None:
    cb = callback_settings(allow_duplicate_numbers=True)
    core = CoreSettings(
        queues=(
            QueueSettings(name="sales", callback=cb),
            QueueSettings(name="support", callback=replace(cb, max_per_number_per_day=2)),
        ),
        agents=(AgentSettings(id="a1", skills=(("sales", 0), ("support", 0))),),
    )
    h = Harness(core)
    web_callback(h, "r1", queue="sales")
    web_callback(h, "r2", queue="sales")
    with pytest.raises(DailyLimitReached):
        web_callback(h, "r3", queue="support")
    web_callback(h, "r4", queue="sales")  # sales has no cap


def test_allowlisted_numbers_are_exempt() -> None:
    rules = EligibilityRules(allowlist=(DK_MOBILE,))
    core = settings(
        agents=1,
        callback=callback_settings(max_per_number_per_day=1, allow_duplicate_numbers=True),
        eligibility=rules,
    )
    h = Harness(core)
    web_callback(h, "r1")
    web_callback(h, "r2")
    web_callback(h, "r3", DK_MOBILE_2)
    with pytest.raises(DailyLimitReached):
        web_callback(h, "r4", DK_MOBILE_2)


def test_a_capped_caller_is_not_offered_and_the_key_says_unavailable_keeping_the_place() -> None:
    h = Harness(capped(limit=1))
    web_callback(h, "w1")  # the caller's own number had its callback today
    h.arrive("r1", number=DK_MOBILE)
    h.run_until(h.now + 100)
    assert h.activities("offered", "r1") == []
    out = h.dtmf("r1", "1")
    assert h.prompts(out) == ["callback_unavailable"]
    assert h.activities("callback_refused", "r1")[0].data["reason"] == "daily_limit"
    req = h.engine.requests["r1"]
    assert req.kind is RequestKind.INBOUND and req.state is RequestState.WAITING and req.menu is None
    assert h.engine.position("r1") == 2  # behind w1, where it was


def test_a_capped_number_keyed_in_is_refused_at_once_and_another_is_taken() -> None:
    h = Harness(capped(limit=1))
    web_callback(h, "w1", DK_MOBILE_2)
    h.arrive("r1", number=DK_MOBILE)
    h.dtmf("r1", "12")
    out = h.dtmf("r1", "30123456#")  # DK_MOBILE_2, capped: keying it again would not help
    assert h.prompts(out) == ["callback_unavailable"]
    [refused] = h.activities("callback_number_refused", "r1")
    assert refused.data == {"reason": "daily_limit", "digits": 8}
    assert h.engine.requests["r1"].menu is None and h.engine.requests["r1"].kind is RequestKind.INBOUND
    h.dtmf("r1", "11")  # their own number is fine
    assert h.engine.requests["r1"].callback_number == DK_MOBILE


def test_the_cap_reached_while_in_the_menu_refuses_the_choice() -> None:
    h = Harness(capped(limit=1))
    h.arrive("r1", number=DK_MOBILE)
    h.dtmf("r1", "1")  # the menu opens: not capped yet
    web_callback(h, "w1")  # meanwhile a web form asks for the same number
    out = h.dtmf("r1", "1")
    assert h.prompts(out) == ["callback_unavailable"]
    assert h.engine.requests["r1"].kind is RequestKind.INBOUND and h.engine.requests["r1"].menu is None


def test_a_capped_caller_who_hangs_up_is_abandoned_without_a_callback() -> None:
    h = Harness(capped(limit=1, abandon_callback_after=30.0))
    web_callback(h, "w1")
    h.arrive("r1", number=DK_MOBILE)
    h.arrive("r2", number=DK_MOBILE_2)
    h.at(40).hang_up("r1")
    h.hang_up("r2")
    assert h.activities("ended", "r1")[0].data["outcome"] == Outcome.ABANDONED.value
    assert h.engine.requests["r2"].kind is RequestKind.CALLBACK


def test_tickets_count_and_are_stored_with_their_number() -> None:
    h = Harness(capped(limit=1, mode=CallbackMode.TICKET, allow_other_number=False))
    h.arrive("r1", number=DK_MOBILE)
    h.dtmf("r1", "1")
    [ended] = [r for r in h.engine.take_touched() if r.id == "r1"]
    assert (ended.outcome, ended.callback_number, ended.callback_requested_at) == (Outcome.TICKET, DK_MOBILE, h.now)
    h.arrive("r2", number=DK_MOBILE)
    assert h.prompts(h.dtmf("r2", "1")) == ["callback_unavailable"]
    assert "r2" in h.engine.requests


def test_a_restart_keeps_the_count_from_the_stored_promises() -> None:
    core = capped(limit=2)
    h = Harness(core)
    rows: dict[str, Request] = {}  # what the shell stored after each step, ended requests too

    def step(event: ev.Event) -> None:
        h.send(event)
        rows.update({r.id: stored(r) for r in h.engine.take_touched()})

    first = h.now
    step(ev.CallbackRequested(h.now, "r1", "support", DK_MOBILE, 0))
    step(ev.CallbackRemoved(h.now, "r1", by="alice"))  # ended: not restored as a request
    h.at(60)
    step(ev.CallbackRequested(h.now, "r2", "support", DK_MOBILE, 0))
    history = [(r.callback_number or "", r.callback_requested_at or 0.0) for r in rows.values()]
    assert len(history) == 2
    fresh = restart(h, core)
    fresh.engine.restore_promises(history, fresh.now)
    with pytest.raises(DailyLimitReached) as info:
        web_callback(fresh, "r3")
    assert info.value.free_again_at == first + DAY
    blank = restart(h, core)  # what a restart forgot before: the count began again
    web_callback(blank, "r3")


def test_promises_older_than_a_day_are_not_restored() -> None:
    h = Harness(capped(limit=1))
    h.engine.restore_promises([(DK_MOBILE, h.now - DAY), (DK_MOBILE_2, h.now - DAY + 1)], h.now)
    web_callback(h, "r1", DK_MOBILE)
    with pytest.raises(DailyLimitReached):
        web_callback(h, "r2", DK_MOBILE_2)


# ------------------------------------------------------------------------- the log itself


@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 3 * 864_000).map(lambda t: t / 10)), max_size=40),
    st.integers(0, 4 * 864_000).map(lambda t: t / 10),
    st.integers(1, 5),
)
def test_the_log_counts_exactly_the_last_day_and_says_when_a_number_is_free(
    promises: list[tuple[str, float]], now: float, limit: int
) -> None:
    log = PromiseLog()
    noted = sorted(promises, key=lambda p: p[1])
    for number, at in noted:
        log.note(number, at)
    now = max([now, *(at for _, at in noted)])
    for number in "abc":
        within = [at for n, at in noted if n == number and at > now - DAY]
        assert log.count(number, now) == len(within)
        free = log.free_again_at(number, now, limit)
        if len(within) < limit:
            assert free == now
        else:
            assert free > now
            assert log_after(noted, number, free) < limit  # free at that instant
            assert log_after(noted, number, free - 0.001) >= limit  # and not a moment before


def log_after(noted: list[tuple[str, float]], number: str, now: float) -> int:
    return sum(1 for n, at in noted if n == number and at <= now < at + DAY)


def test_restore_merges_in_time_order_with_what_was_noted() -> None:
    log = PromiseLog()
    log.note("a", 100.0)
    log.restore([("a", 50.0), ("b", 150.0)], now=200.0)
    assert log.count("a", 50.0 + DAY) == 1  # the one at 50 has gone, the one at 100 has not
    assert log.count("b", 50.0 + DAY) == 1
    assert len(log) == 2


def test_with_no_queue_capped_the_log_still_holds_only_the_last_day() -> None:
    """Nothing asks the count then: noting forgets the old promises itself (else it grew for ever)."""
    h = Harness(settings(agents=1, callback=callback_settings(allow_duplicate_numbers=True)))
    for i in range(3 * 24):
        web_callback(h.at(3600), f"r{i}", f"+452012{i:04d}")
    assert len(h.engine.promises) == 24
