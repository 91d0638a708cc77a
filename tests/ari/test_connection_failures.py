"""The events websocket when Asterisk misbehaves: a handshake never answered, a websocket closed
as soon as it opens, credentials refused, a password written into the URL."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from app.ari import AriClient, AriConfig, AriEvent, EventsRefused
from tests.ari.fake_ari import FakeAri
from tests.ari.test_connection import Recorder, RecordingBackoff, start, stasis_start, until


async def _noop(event: AriEvent) -> None:
    pass


async def test_a_handshake_never_answered_is_a_failed_connect_and_retried() -> None:
    """Asterisk hung (deadlocked, stopped): the kernel accepts the TCP connection, nothing answers
    the upgrade. The session's connect timeout does not cover the wait for the 101."""
    accepted: list[asyncio.StreamWriter] = []

    async def accept_and_ignore(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(accept_and_ignore, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = AriConfig(
        base_url=f"http://127.0.0.1:{port}/ari", username="holdfast", password="secret", app="holdfast",
        request_timeout=0.2, connect_timeout=0.2, backoff_initial=0.01, backoff_max=0.02,
    )  # fmt: skip
    client = AriClient(config)
    try:
        with capture_logs() as logs:
            conn = client.start_events(_noop)
            await until(lambda: conn.connect_failures >= 2, timeout=3.0)
        assert len(accepted) >= 2 and conn.connects == 0 and conn.running
        failed = [entry for entry in logs if entry.get("event") == "ari_events_connect_failed"]
        assert failed and "not answered within 0.4 s" in failed[0]["error"]
    finally:
        await client.close(drain_timeout=0.5)
        for writer in accepted:
            writer.close()
        server.close()


async def test_a_websocket_closed_as_soon_as_it_opens_backs_off(fake_ari: FakeAri) -> None:
    """A failing app registration, a proxy cutting upgraded connections: each handshake succeeds
    and the socket closes at once. Reset at every handshake, the backoff let the client reconnect
    (and the service resync) at the initial delay for ever."""

    async def cut_every_socket() -> None:
        while True:
            if fake_ari.ws_open:
                await fake_ari.drop_websockets()
            await asyncio.sleep(0.005)

    cutter = asyncio.create_task(cut_every_socket())
    client = AriClient(fake_ari.config(backoff_initial=0.05, backoff_max=1.0))
    conn = client.start_events(_noop)
    try:
        await asyncio.sleep(1.5)
        # the delays grow 0.05, 0.1, 0.2, 0.4, 0.8, 1.0 (each at least half of that)
        assert 2 <= conn.connects <= 8, f"{conn.connects} connects in 1.5 s"
    finally:
        cutter.cancel()
        await client.close(drain_timeout=0.5)


async def test_a_connection_that_lasted_resets_the_backoff(fake_ari: FakeAri, ari_client: AriClient) -> None:
    fake_ari.refuse_websocket(times=3)
    backoff = RecordingBackoff(initial=0.01, maximum=0.04)
    rec = Recorder()
    start(ari_client, rec, backoff)
    conn = ari_client.events
    assert conn is not None
    conn.stable_after = 0.2
    await rec.wait(lambda: rec.connected == 1)
    await asyncio.sleep(0.3)  # no event, but long enough
    await fake_ari.drop_websockets()
    await rec.wait(lambda: rec.connected == 2)
    assert [attempt for attempt, _ in backoff.delays] == [0, 1, 2, 0]


async def test_credentials_refused_again_and_again_end_the_loop(fake_ari: FakeAri, ari_client: AriClient) -> None:
    """Nothing but an operator changes a refused password: the loop ends with EventsRefused (the
    service's watcher stops the service) instead of retrying deaf for ever."""
    fake_ari.refuse_websocket(times=None, status=401)
    rec = Recorder()
    with capture_logs() as logs:
        start(ari_client, rec)
        conn = ari_client.events
        assert conn is not None
        with pytest.raises(EventsRefused) as refused:
            await asyncio.wait_for(conn.wait_stopped(), 3.0)
    assert refused.value.status == 401
    assert not conn.running and fake_ari.ws_attempts == conn.auth_refusals_fatal
    critical = [entry for entry in logs if entry.get("log_level") == "critical"]
    assert [entry["event"] for entry in critical] == ["ari_events_credentials_refused"]


async def test_refusals_broken_by_another_answer_start_counting_again(fake_ari: FakeAri, ari_client: AriClient) -> None:
    """Only refusals in a row count; 503 (Asterisk starting, a proxy) is retried for ever."""
    fake_ari.refuse_websocket(times=None, status=401)
    rec = Recorder()
    start(ari_client, rec)
    conn = ari_client.events
    assert conn is not None
    await fake_ari.wait_ws_attempts(conn.auth_refusals_fatal - 1)
    fake_ari.refuse_websocket(times=None, status=503)
    await fake_ari.wait_ws_attempts(3 * conn.auth_refusals_fatal)
    fake_ari.refuse_websocket(times=conn.auth_refusals_fatal - 1, status=403)
    await rec.wait(lambda: rec.connected == 1)
    assert conn.running


async def test_a_password_in_the_url_is_neither_sent_nor_logged(fake_ari: FakeAri) -> None:
    """`ari_url: http://user:pass@host/ari`: the credentials are ari_user/ari_password's, sent in a
    header (aiohttp refuses a request with both: nothing worked), and the URL is logged."""
    with_userinfo = fake_ari.base_url.replace("http://", "http://holdfast:hunter2@")
    config = fake_ari.config(base_url=with_userinfo)
    assert "hunter2" not in config.rest_url and "hunter2" not in config.events_url
    client = AriClient(config)
    rec = Recorder()
    try:
        await client.asterisk.info()
        with capture_logs() as logs:
            fake_ari.refuse_websocket(times=1)
            start(client, rec)
            await rec.wait(lambda: rec.connected == 1)
            await stasis_start(fake_ari, "one")
            await rec.wait_events(1)
        assert logs and not [entry for entry in logs if "hunter2" in repr(entry)]
    finally:
        await client.close(drain_timeout=0.5)
