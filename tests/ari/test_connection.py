"""The events websocket against the fake: delivery, reconnect, backoff, replacement, close."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import structlog

from app.ari import (
    ApplicationReplaced,
    AriClient,
    AriEvent,
    Backoff,
    ChannelDtmfReceived,
    StasisStart,
    UnknownEvent,
)
from tests.ari.fake_ari import FakeAri


class Recorder:
    """Collects delivered events and callback calls; lets tests wait for counts."""

    def __init__(self) -> None:
        self.events: list[AriEvent] = []
        self.log: list[str] = []
        self.connected = 0
        self.disconnected = 0
        self.replaced: list[ApplicationReplaced] = []
        self._changed = asyncio.Condition()

    async def _bump(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def handler(self, event: AriEvent) -> None:
        self.events.append(event)
        self.log.append(event.type)
        await self._bump()

    async def on_connected(self) -> None:
        self.connected += 1
        self.log.append("connected")
        await self._bump()

    async def on_disconnected(self) -> None:
        self.disconnected += 1
        self.log.append("disconnected")
        await self._bump()

    async def on_replaced(self, event: ApplicationReplaced) -> None:
        self.replaced.append(event)
        await self._bump()

    async def wait(self, predicate: Callable[[], bool], timeout: float = 2.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def wait_events(self, count: int) -> None:
        await self.wait(lambda: len(self.events) >= count)

    def types(self) -> list[str]:
        return [e.type for e in self.events]


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait (polling the loop) until `predicate()` holds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


class RecordingBackoff(Backoff):
    def __init__(self, initial: float, maximum: float) -> None:
        super().__init__(initial, maximum)
        self.delays: list[tuple[int, float]] = []  # (attempt before the call, delay)

    def next_delay(self) -> float:
        attempt = self.attempt
        delay = super().next_delay()
        self.delays.append((attempt, delay))
        return delay


def start(client: AriClient, rec: Recorder, backoff: Backoff | None = None) -> None:
    client.start_events(
        rec.handler,
        on_connected=rec.on_connected,
        on_disconnected=rec.on_disconnected,
        on_application_replaced=rec.on_replaced,
        backoff=backoff,
    )


async def stasis_start(fake: FakeAri, channel_id: str, *args: str) -> int:
    return await fake.push_event("StasisStart", channel=fake.add_channel(channel_id), args=list(args))


async def test_connects_and_delivers_events(fake_ari: FakeAri, ari_client: AriClient) -> None:
    rec = Recorder()
    start(ari_client, rec)
    await rec.wait(lambda: rec.connected == 1)
    assert ari_client.events is not None and ari_client.events.connected
    assert await stasis_start(fake_ari, "c1", "inbound") == 1
    await fake_ari.push_event("ChannelDtmfReceived", digit="5", duration_ms=90, channel=fake_ari.channels["c1"])
    await rec.wait_events(2)
    first, second = rec.events
    assert isinstance(first, StasisStart) and first.args == ("inbound",)
    assert isinstance(second, ChannelDtmfReceived) and second.digit == "5"
    assert ari_client.metrics()["events_received"] == 2


async def test_websocket_query_and_auth(fake_ari: FakeAri) -> None:
    seen: list[dict[str, str]] = []
    fake = fake_ari

    async with AriClient(fake.config(password="wrong", backoff_max=0.02)) as bad:
        events = bad.start_events(Recorder().handler)
        # The client counts a refusal once the answer reaches it, after the fake counted the
        # attempt: wait for the client's count, the thing asserted.
        await until(lambda: events.connect_failures >= 2)
        assert fake.ws_connects == 0 and fake.auth_failures >= 2

    async with AriClient(fake.config(subscribe_all=True)) as good:
        rec = Recorder()
        start(good, rec)
        await fake.wait_ws_connected()
        seen = [dict(s.request.query) for s in fake._sockets]
    assert seen == [{"app": "holdfast", "subscribeAll": "true"}]


async def test_on_connected_runs_before_the_connections_events(fake_ari: FakeAri, ari_client: AriClient) -> None:
    rec = Recorder()

    async def resync() -> None:
        # An event sent while we resync must wait until the resync is done.
        await stasis_start(fake_ari, "c1")
        await asyncio.sleep(0.05)  # give a wrong implementation the chance to deliver early
        await rec.on_connected()

    ari_client.start_events(rec.handler, on_connected=resync)
    await rec.wait_events(1)
    assert rec.log == ["connected", "StasisStart"]


@pytest.mark.parametrize("abrupt", [False, True], ids=["close-frame", "tcp-reset"])
async def test_reconnects_after_drop(fake_ari: FakeAri, ari_client: AriClient, abrupt: bool) -> None:
    rec = Recorder()
    start(ari_client, rec)
    await rec.wait(lambda: rec.connected == 1)
    await stasis_start(fake_ari, "before")
    await rec.wait_events(1)

    assert await fake_ari.drop_websockets(abrupt=abrupt) == 1
    await rec.wait(lambda: rec.connected == 2)
    assert rec.disconnected == 1
    assert rec.log[:3] == ["connected", "StasisStart", "disconnected"] and rec.log[3] == "connected"
    assert await stasis_start(fake_ari, "after") == 1
    await rec.wait_events(2)
    assert [e.raw["channel"]["id"] for e in rec.events] == ["before", "after"]
    metrics = ari_client.metrics()
    assert metrics["reconnects"] == 1 and metrics["connects"] == 2 and metrics["connected"] == 1


async def test_backoff_while_refused_then_reset(fake_ari: FakeAri, ari_client: AriClient) -> None:
    fake_ari.refuse_websocket(times=4)
    backoff = RecordingBackoff(initial=0.01, maximum=0.04)
    rec = Recorder()
    start(ari_client, rec, backoff)
    await rec.wait(lambda: rec.connected == 1)
    assert fake_ari.ws_refused == 4 and fake_ari.ws_attempts == 5
    assert ari_client.metrics()["connect_failures"] == 4
    # One delay per refusal, growing 0.01, 0.02, 0.04 then capped, each jittered within [c/2, c].
    assert [a for a, _ in backoff.delays] == [0, 1, 2, 2]
    for attempt, delay in backoff.delays:
        ceiling = min(0.04, 0.01 * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling
    # A handshake alone proves nothing (a websocket closed as soon as it opens would reconnect
    # at the initial delay for ever): the backoff is reset once the connection delivers an event.
    assert backoff.attempt == 2  # capped, not reset by the handshake
    await stasis_start(fake_ari, "proof")
    await rec.wait_events(1)

    # The next outage starts again from the initial delay.
    fake_ari.refuse_websocket(times=1)
    await fake_ari.drop_websockets()
    await rec.wait(lambda: rec.connected == 2)
    assert [a for a, _ in backoff.delays[4:]] == [0, 1]


async def test_keeps_retrying_until_the_server_accepts(fake_ari: FakeAri, ari_client: AriClient) -> None:
    fake_ari.refuse_websocket(times=None)  # until told otherwise
    rec = Recorder()
    start(ari_client, rec)
    await fake_ari.wait_ws_attempts(6)
    assert rec.connected == 0 and not ari_client.events.connected  # type: ignore[union-attr]
    fake_ari.accept_websocket()
    await rec.wait(lambda: rec.connected == 1)


async def test_garbage_and_unknown_events_do_not_stop_the_reader(fake_ari: FakeAri, ari_client: AriClient) -> None:
    rec = Recorder()
    start(ari_client, rec)
    await rec.wait(lambda: rec.connected == 1)
    with structlog.testing.capture_logs() as logs:
        await fake_ari.push("this is not json")
        await fake_ari.push('{"type": "StasisStart"}')
        await fake_ari.push_event("ChannelFutureThing", channel=fake_ari.add_channel("t"))
        await fake_ari.push_event("ChannelFutureThing", channel=fake_ari.channels["t"])
        await stasis_start(fake_ari, "ok")
        await rec.wait_events(3)
    assert rec.types() == ["ChannelFutureThing", "ChannelFutureThing", "StasisStart"]
    assert isinstance(rec.events[0], UnknownEvent)
    assert ari_client.metrics()["events_dropped"] == 2
    assert sum(e["event"] == "ari_event_unknown_type" for e in logs) == 1
    assert rec.connected == 1  # no reconnect was needed


async def test_failing_handler_and_callbacks_do_not_stop_the_client(fake_ari: FakeAri, ari_client: AriClient) -> None:
    delivered: list[str] = []
    done = asyncio.Event()

    async def handler(event: AriEvent) -> None:
        channel_id = event.raw["channel"]["id"]
        if channel_id == "bad":
            raise ValueError("handler bug")
        delivered.append(channel_id)
        done.set()

    async def broken_on_connected() -> None:
        raise RuntimeError("resync failed")

    with structlog.testing.capture_logs() as logs:
        ari_client.start_events(handler, on_connected=broken_on_connected)
        await fake_ari.wait_ws_connected()
        await asyncio.wait_for(ari_client.events.wait_connected(), 2)  # type: ignore[union-attr]
        await stasis_start(fake_ari, "bad")
        await stasis_start(fake_ari, "good")
        await asyncio.wait_for(done.wait(), 2)
    assert delivered == ["good"]
    assert ari_client.metrics()["handler_errors"] == 1
    events = [e["event"] for e in logs]
    assert "ari_callback_failed" in events and "ari_event_handler_failed" in events


async def test_application_replaced_stops_without_a_tug_of_war(fake_ari: FakeAri, ari_client: AriClient) -> None:
    rec = Recorder()
    start(ari_client, rec)
    await rec.wait(lambda: rec.connected == 1)
    await fake_ari.push_event("ApplicationReplaced")
    await rec.wait(lambda: len(rec.replaced) == 1 and len(rec.events) == 1)
    assert isinstance(rec.events[0], ApplicationReplaced)
    conn = ari_client.events
    assert conn is not None
    await asyncio.wait_for(conn.wait_stopped(), 2)
    assert conn.replaced and not conn.running and rec.disconnected == 1
    await fake_ari.wait_ws_closed()
    assert fake_ari.ws_attempts == 1


async def test_application_replaced_can_reconnect_if_configured(fake_ari: FakeAri) -> None:
    async with AriClient(fake_ari.config(reconnect_after_replaced=True)) as client:
        rec = Recorder()
        start(client, rec)
        await rec.wait(lambda: rec.connected == 1)
        await fake_ari.push_event("ApplicationReplaced")
        await rec.wait(lambda: len(rec.replaced) == 1)
        await fake_ari.drop_websockets()  # Asterisk would keep the old socket; drop it ourselves
        await rec.wait(lambda: rec.connected == 2)


async def test_close_is_clean_and_final(fake_ari: FakeAri) -> None:
    client = AriClient(fake_ari.config())
    rec = Recorder()
    started, handled = asyncio.Event(), asyncio.Event()

    async def slow_handler(event: AriEvent) -> None:
        started.set()
        await asyncio.sleep(0.05)  # still busy when close() is called
        await rec.handler(event)
        handled.set()

    client.start_events(slow_handler, on_connected=rec.on_connected, on_disconnected=rec.on_disconnected)
    await rec.wait(lambda: rec.connected == 1)
    await stasis_start(fake_ari, "c1")
    await asyncio.wait_for(started.wait(), 2)
    await client.close()
    assert handled.is_set()  # drained, not cancelled
    assert rec.disconnected == 1
    await fake_ari.wait_ws_closed()
    assert fake_ari.ws_attempts == 1
    assert client.events is not None and not client.events.running


async def test_close_while_backing_off(fake_ari: FakeAri) -> None:
    fake_ari.refuse_websocket(times=None)
    client = AriClient(fake_ari.config(backoff_initial=5.0, backoff_max=10.0))
    client.start_events(Recorder().handler)
    await fake_ari.wait_ws_attempts(1)
    await asyncio.wait_for(client.close(), 1.0)  # does not sit out the 5 s backoff
