"""The service's clock after the wall clock steps: unit tests on SteadyClock, and the service's
timers on it (the fake ARI, real time)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from app.core.states import AgentState
from app.store.sqlite import SQLiteStore
from app.telephony.steady_clock import STEP, TELL_FALL, SteadyClock, lead_to_tell
from tests.ari.fake_ari import FakeAri
from tests.steppable_wall import SteppableWall
from tests.telephony.conftest import CALLER, Shell, config_text, make_shell

T0 = 1_767_261_600.0


class Sources:
    """A wall clock and an elapsed-time counter a test moves by hand."""

    def __init__(self) -> None:
        self.wall_now = T0
        self.elapsed_now = 100.0

    def wall(self) -> float:
        return self.wall_now

    def elapsed(self) -> float:
        return self.elapsed_now

    def run(self, seconds: float) -> None:
        """Time passes: both move on together."""
        self.wall_now += seconds
        self.elapsed_now += seconds


def clock_on(sources: Sources) -> SteadyClock:
    return SteadyClock(sources.wall, sources.elapsed)


def test_it_is_the_wall_clock_while_nothing_steps() -> None:
    s = Sources()
    clock = clock_on(s)
    for _ in range(50):
        s.run(0.37)
        assert clock() == s.wall_now
    assert clock.ahead == 0.0


def test_after_a_step_back_it_keeps_counting_and_catches_up_at_ninety_percent() -> None:
    s = Sources()
    clock = clock_on(s)
    s.run(10)
    before = clock()
    with structlog.testing.capture_logs() as logs:
        s.wall_now -= 3600  # NTP corrects a clock that ran an hour ahead
        s.run(10)
        after = clock()
    assert after == pytest.approx(before + 9.0)  # 90 % of the 10 s that passed, not an hour back
    assert clock.ahead == pytest.approx(3600 - 1.0)
    [warning] = [entry for entry in logs if entry["event"] == "wall_clock_stepped_back"]
    assert warning["log_level"] == "warning" and warning["seconds"] == pytest.approx(3600, abs=0.01)

    with structlog.testing.capture_logs() as logs:
        s.run(35_000)  # 10 % of 35,000 s gives back 3,500 s of the 3,599 s
        assert clock() - s.wall_now == pytest.approx(99.0) and clock.ahead == pytest.approx(99.0)
        s.run(1_000)
        assert clock() == s.wall_now  # caught up: the wall clock again, not overshooting it
    assert [entry["event"] for entry in logs] == ["wall_clock_caught_up"]
    assert clock.ahead == 0.0


def test_a_second_step_back_while_catching_up_is_logged_again() -> None:
    s = Sources()
    clock = clock_on(s)
    with structlog.testing.capture_logs() as logs:
        s.wall_now -= 60
        clock()
        s.run(5)
        clock()  # still catching up: no new warning
        s.wall_now -= 30
        clock()
    steps = [entry["seconds"] for entry in logs if entry["event"] == "wall_clock_stepped_back"]
    assert steps == [pytest.approx(60), pytest.approx(30, abs=0.6)]


def test_a_step_forward_is_followed_at_once() -> None:
    s = Sources()
    clock = clock_on(s)
    with structlog.testing.capture_logs() as logs:
        s.wall_now += 600  # a suspended machine resumed: the monotonic clock did not count it
        assert clock() == s.wall_now
    assert [entry["event"] for entry in logs] == ["wall_clock_stepped_forward"]
    assert clock.ahead == 0.0


@given(
    st.lists(
        st.tuples(st.floats(0, 120), st.floats(-7200, 7200) | st.just(0.0)),
        max_size=60,
    )
)
def test_it_never_goes_back_never_lags_the_wall_and_never_slows_below_ninety_percent(
    moves: list[tuple[float, float]],
) -> None:
    s = Sources()
    clock = clock_on(s)
    last = clock()
    for passed, step in moves:
        s.run(passed)
        s.wall_now += step
        now = clock()
        assert now >= last + 0.9 * passed - 1e-6  # elapsed time is never lost, at worst paced at 90 %
        assert now >= s.wall_now  # never behind the wall clock
        assert clock.ahead == pytest.approx(now - s.wall_now)
        last = now


def test_the_engine_hears_a_rise_of_the_lead_at_once_and_a_fall_by_the_minute() -> None:
    """Told in tenths, a lead of an hour left queue hours up to six minutes late (callbacks dialled
    at 17:04, the queue closing at 17:00); a lead of ten hours, an hour late."""
    assert lead_to_tell(0.4, 0.0) is None  # under a second: none
    assert lead_to_tell(3599.2, 0.0) == 3600.0  # a step back: told at once, rounded up
    assert lead_to_tell(3590.0, 3600.0) is None  # ten seconds caught up: not worth an event
    assert lead_to_tell(3540.0, 3600.0) == 3540.0  # a minute caught up
    assert lead_to_tell(35950.0, 36000.0) is None and lead_to_tell(35940.0, 36000.0) == 35940.0
    assert lead_to_tell(100.0, 150.0) is None and lead_to_tell(90.0, 150.0) == 90.0  # at least TELL_FALL
    assert lead_to_tell(0.5, 90.0) == 0.0  # caught up


@given(st.lists(st.floats(0, 7200), min_size=1, max_size=80))
def test_what_the_engine_holds_is_never_below_the_true_lead(aheads: list[float]) -> None:
    told, events = 0.0, 0
    for ahead in aheads:
        lead = lead_to_tell(ahead, told)
        if lead is not None:
            told, events = lead, events + 1
        assert told >= ahead or ahead <= STEP
    assert told == 0.0 or told - aheads[-1] < TELL_FALL + 1


QUEUES_WITH_SHORT_WRAP_UP = """
  support:
    display_name: Support
    ring_timeout: 15s
    wrap_up: 2s
    callback:
      enabled: false
  sales:
    display_name: Sales
    ring_timeout: 15s
    wrap_up: 2s
    callback:
      enabled: false
"""


@pytest.fixture
async def stepped(fake_ari: FakeAri) -> AsyncIterator[tuple[Shell, SteppableWall]]:
    wall = SteppableWall()
    text = config_text(fake_ari, queues=QUEUES_WITH_SHORT_WRAP_UP)
    s = await make_shell(fake_ari, text, clock=SteadyClock(wall))  # type: ignore[arg-type]
    try:
        yield s, wall
    finally:
        await s.stop()


async def test_a_wrap_up_ends_on_time_when_the_wall_clock_steps_back_an_hour(
    stepped: tuple[Shell, SteppableWall],
) -> None:
    """Read straight from the wall clock, the wrap-up's deadline would lie an hour ahead after the
    step: the agent would sit in wrap-up for an hour, no error anywhere."""
    shell, wall = stepped
    await shell.start()
    _, ring = await shell.connected_call()
    await shell.hangup_event(dict(shell.fake.channels[ring.channel_id]), "StasisEnd")
    await shell.eventually(lambda: shell.agent_state("1001") is AgentState.WRAP_UP, "the wrap-up")
    started = asyncio.get_running_loop().time()

    with structlog.testing.capture_logs() as logs:
        wall.step = -3600.0
        await shell.eventually(lambda: shell.agent_state("1001") is AgentState.READY, "the wrap-up's end", 6.0)
    took = asyncio.get_running_loop().time() - started
    assert took >= 1.9, f"the wrap-up was cut short: {took:.2f} s of 2 s"
    assert any(entry["event"] == "wall_clock_stepped_back" for entry in logs)
    ahead = shell.service.metrics.registry.get_sample_value("holdfast_clock_ahead_seconds")
    assert ahead is not None and 3590 < ahead < 3600


async def test_a_start_after_a_step_back_begins_from_the_stored_time(fake_ari: FakeAri, tmp_path: Path) -> None:
    """The service stopped, the wall clock went back an hour, the service starts: what is stored
    (a caller's arrival, an agent's state) was stamped on the old time. Starting from the wall
    clock, the caller would have waited minus an hour and every stored deadline would lie an hour
    further off; the clock starts from the latest stamp instead and catches up."""
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    ahead = SteppableWall()
    ahead.step = 3600.0  # the wall clock the first run saw ran an hour ahead
    try:
        first = await make_shell(fake_ari, store=store, clock=SteadyClock(ahead))  # type: ignore[arg-type]
        try:
            await first.start()
            first.ready("1002")
            caller = await first.caller(CALLER)
        finally:
            await first.stop()

        with structlog.testing.capture_logs() as logs:
            second = await make_shell(fake_ari, store=store, clock=SteadyClock())  # type: ignore[arg-type]
            try:
                await second.start()
                now = second.service.clock()
                waited = second.engine.requests[caller.request_id].gross_wait(now)
                assert 0 <= waited < 60, f"the caller has waited {waited:.0f} s"
                late = second.service.metrics.registry.get_sample_value("holdfast_clock_ahead_seconds")
                assert late is not None and 3500 < late <= 3600
                assert second.engine.clock_ahead >= late  # told before the first contact is looked at
                await second.service.committer.wait_committed(second.service.committer.put_seq)  # type: ignore[union-attr]
                stored = [e for e in await store.events() if e.kind == "clock_ahead"]
                assert [e.data["seconds"] for e in stored] == [second.engine.clock_ahead]
            finally:
                await second.stop()
        [warning] = [entry for entry in logs if entry["event"] == "wall_clock_behind_the_store"]
        assert 3500 < warning["seconds"] <= 3600
    finally:
        await store.close()


async def test_the_engine_hears_the_clocks_lead_after_a_step_back_and_none_once_caught_up(
    stepped: tuple[Shell, SteppableWall],
) -> None:
    """So calling hours hold by the true clock while the service's runs ahead of it."""
    shell, wall = stepped
    await shell.start()
    assert shell.engine.clock_ahead == 0.0
    wall.step = -600.0
    told = await shell.activities.wait("clock_ahead", timeout=5.0)
    assert told.data["seconds"] == pytest.approx(600, abs=2) and shell.engine.clock_ahead >= 598
    wall.step = 0.0  # the wall clock is put forward again: followed at once, nothing left ahead
    await shell.activities.wait("clock_ahead", timeout=5.0, seconds=0.0)
    assert shell.engine.clock_ahead == 0.0
