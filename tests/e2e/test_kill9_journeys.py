"""kill -9 of the service at the worst moments of a callback's journey, on real Asterisk.

The service runs as `holdfast run` (conftest.ServiceProcess); progress is read from its store. Every
wait also watches the process: one that exits by itself (above all with code 0) fails the test at
once with its exit code, the service log's tail and the last stored events.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from conftest import ServiceProcess
from phonesim import PhoneSim, SimCall

pytestmark = pytest.mark.e2e

CB = "4002"  # queue cb: 3 attempts, 3 s quarantine, customer rings 5 s
ANNA = "+4520123456"
KEYED = "+4530112233"  # the other number Anna keys in: 30 11 22 33


async def guarded(service: ServiceProcess, aw: Any, what: str, timeout: float) -> Any:
    """Await `aw` (e.g. a phonesim wait) while watching that the service stays up."""
    task = asyncio.ensure_future(aw)
    deadline = time.monotonic() + timeout
    try:
        while not task.done():
            service.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"not {what} within {timeout}s\n{await service.diagnose()}")
            await asyncio.wait({task}, timeout=0.1)
        try:
            return task.result()
        except (TimeoutError, AssertionError) as error:
            raise AssertionError(f"{what}: {error}\n{await service.diagnose()}") from error
    finally:
        task.cancel()


def of(events, kind: str, request_id: str, **data: Any) -> list:
    return [
        e
        for e in events
        if e.kind == kind and e.request_id == request_id and all(e.data.get(k) == v for k, v in data.items())
    ]


async def ready(service: ServiceProcess, agent_id: str) -> None:
    status, body = await service.api("POST", f"/api/agents/{agent_id}/ready")
    assert status == 200, body


async def serve_once(service: ServiceProcess, phonesim: PhoneSim, request_id: str, number: str) -> SimCall:
    """The callback's customer at `number` is rung, answers, talks with the agent and hangs up."""
    call = await guarded(
        service, phonesim.wait_incoming(f"customer:{number}", timeout=60), f"{number} rung for {request_id}", 62
    )
    await guarded(service, call.wait_answered(), f"{number} answered", 10)
    await service.wait_events(lambda ev: of(ev, "connected", request_id), f"{request_id} connected", 15)
    await guarded(service, call.wait_audio_flowing(), f"audio with {number}", 10)
    await call.hangup()
    await service.wait_events(lambda ev: of(ev, "ended", request_id), f"{request_id} ended", 15)
    return call


async def arrive_and_open_menu(service: ServiceProcess, phonesim: PhoneSim, caller: str) -> tuple[SimCall, str]:
    """A caller dials queue cb, is offered a callback, presses 1: the "this number or another" menu."""
    call = await phonesim.call(CB, caller)
    events = await service.wait_events(
        lambda ev: any(e.kind == "arrived" and e.data.get("caller") == caller for e in ev), "caller arrived"
    )
    request_id = next(e.request_id for e in events if e.kind == "arrived" and e.data.get("caller") == caller)
    await guarded(service, call.wait_answered(), "caller answered", 10)
    await service.wait_events(lambda ev: of(ev, "offered", request_id), "callback offered", 15)
    await call.send_dtmf("1")
    await service.wait_events(lambda ev: of(ev, "callback_key", request_id), "callback menu opened", 10)
    return call, request_id


async def test_kill9_while_the_customer_rings_then_redial_is_served_with_a_new_attempt_number(
    service_process, phonesim
):
    service = service_process
    phonesim.set_behaviour(f"customer:{ANNA}", "manual")  # rings, never answered
    status, body = await service.api("POST", "/api/callbacks", json={"queue": "cb", "number": ANNA})
    assert status == 201, body
    anna = body["request_id"]
    await ready(service, "1001")
    ringing = await guarded(service, phonesim.wait_incoming(f"customer:{ANNA}", timeout=20), "first dial", 22)
    await service.wait_events(lambda ev: of(ev, "attempt_started", anna), "attempt stored")
    phonesim.set_behaviour(f"customer:{ANNA}", "answer")  # she picks up the next call

    service.kill9()
    assert not ringing.answered and not ringing.hung_up, "the phone should still ring when the service dies"
    await ringing.wait_hangup(15)  # the dial times out unanswered while nobody is there
    assert not ringing.answered
    await service.start()

    redial = await serve_once(service, phonesim, anna, ANNA)
    assert redial is not ringing
    events = await service.store_events.refresh()
    attempts = [e.data["attempt"] for e in of(events, "attempt_started", anna)]
    assert len(attempts) == 2 and len(set(attempts)) == 2, f"attempt numbers {attempts}\n{service.diagnose_sync()}"
    [ended] = of(events, "ended", anna)
    assert ended.data["outcome"] == "served", service.diagnose_sync()
    assert len(of(events, "connected", anna)) == 1
    dialled = [c for c in phonesim.calls.values() if c.kind == "customer" and c.dest == ANNA]
    assert len(dialled) == 2  # the interrupted ring and the redial, nothing more

    # The restarted service stays up and healthy (a crash loop with exit code 0 is what this catches).
    status, health = await service.api("GET", "/healthz")
    assert status == 200, health
    assert service.running and service.unexpected_exits == [], service.diagnose_sync()


class RxWatch:
    """Samples a call's RTP counters in the background: what reached the phone and when."""

    def __init__(self, call: SimCall) -> None:
        self.call = call
        self.samples: list[tuple[float, int]] = []  # (monotonic time, packets received)
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while not self.call.hung_up:
            try:
                stats = await self.call.rtp_stats()
                self.samples.append((time.monotonic(), int(stats["rxcount"])))
            except Exception:
                if self.call.hung_up:
                    return
            await asyncio.sleep(0.2)

    def received_since(self, t: float) -> int:
        """Packets received after t. The phone's counter starts again from 0 when its RTP stream is
        set up anew (e.g. a re-INVITE after the restart), so a drop counts as a reset, not as a loss."""
        total = 0
        previous: int | None = None
        for at, rx in self.samples:
            if at >= t and previous is not None:
                total += rx - previous if rx >= previous else rx
            previous = rx
        return total

    def stop(self) -> None:
        self._task.cancel()


async def test_kill9_during_the_confirmation_prompt_ends_the_call_and_serves_the_callback_once(
    service_process, phonesim
):
    service = service_process
    call, anna = await arrive_and_open_menu(service, phonesim, ANNA)
    watch = RxWatch(call)
    try:
        await call.send_dtmf("1")  # "this number"
        events = await service.wait_events(lambda ev: of(ev, "callback_accepted", anna), "callback promised", 10)
        assert of(events, "callback_accepted", anna)[0].data["number"] == ANNA
        service.kill9()  # the confirmation (5.5 s) has just started
        assert not call.hung_up, "the caller should still be hearing the confirmation when the service dies"
        await service.start()
        restarted = time.monotonic()

        await ready(service, "1002")
        await serve_once(service, phonesim, anna, ANNA)

        # The caller is not left on hold forever: the restarted service plays to them and ends the call.
        await guarded(service, call.wait_hangup(30), "the caller's line ended after the restart", 32)
        assert watch.received_since(restarted) >= 10, (
            f"no audio reached the caller after the restart: samples {watch.samples[-10:]}"
        )
    finally:
        watch.stop()
    events = await service.store_events.refresh()
    assert len(of(events, "callback_accepted", anna)) == 1
    assert [e.data["number"] for e in of(events, "attempt_started", anna)] == [ANNA], service.diagnose_sync()
    assert [e.data["outcome"] for e in of(events, "ended", anna)] == ["served"]
    rang = [c for c in phonesim.calls.values() if c.direction == "incoming" and c.kind == "customer"]
    assert [c.dest for c in rang] == [ANNA]  # called back exactly once, at the confirmed number
    assert service.running and service.unexpected_exits == [], service.diagnose_sync()


async def test_kill9_while_keying_another_number_never_books_the_caller_id(service_process, phonesim):
    service = service_process
    call, anna = await arrive_and_open_menu(service, phonesim, ANNA)
    await call.send_dtmf("2")  # "another number"
    await call.send_dtmf("30")  # the first digits of 30 11 22 33 ...
    # ARI queues DTMF and answers at once: give the digits their time on the wire (2 x 240 ms).
    await asyncio.sleep(1.0)
    service.kill9()
    assert not call.hung_up
    await service.start()

    # ... and she goes on keying: "11" would be "callback, this number" to a service that forgot the menu.
    started = len(await service.store_events.refresh())
    await call.send_dtmf("112233#")

    # The service re-prompts her for the number ("please key the number, then hash") and trusts no
    # key pressed before that prompt was heard to its end: once it says so, she keys it all again.
    def answered(ev) -> bool:
        later = ev[started:]
        return bool(of(later, "callback_accepted", anna) or of(later, "callback_menu_resumed", anna))

    events = await service.wait_events(answered, "the caller re-prompted for the number (or booked)", 40)
    if not of(events[started:], "callback_accepted", anna):
        await call.send_dtmf(KEYED.removeprefix("+45") + "#")
        events = await service.wait_events(lambda ev: of(ev, "callback_accepted", anna), "keyed number booked", 20)
    accepted = of(events, "callback_accepted", anna)
    assert [a.data["number"] for a in accepted] == [KEYED], (
        f"booked {[a.data['number'] for a in accepted]}, the caller keyed {KEYED}"
        f" (caller id {ANNA} must never be booked)\n{service.diagnose_sync()}"
    )
    assert accepted[0].data["entered_number"] is True
    await guarded(service, call.wait_hangup(15), "the caller's line ended after the confirmation", 16)

    await ready(service, "1003")
    await serve_once(service, phonesim, anna, KEYED)
    events = await service.store_events.refresh()
    assert not [e for e in events if e.kind == "callback_accepted" and e.data.get("number") == ANNA]
    assert not [c for c in phonesim.calls.values() if c.direction == "incoming" and c.dest == ANNA]
    assert service.running and service.unexpected_exits == [], service.diagnose_sync()
