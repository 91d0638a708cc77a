"""REST wrappers against the fake: method, path, query and body on the wire; error mapping."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from app.ari import (
    AriClient,
    AriConflict,
    AriConnectionError,
    AriError,
    AriNotFound,
    AriTimeout,
)
from app.ari.rest import request_kind
from tests.ari.fake_ari import FakeAri


def is_uuid(value: str | None) -> bool:
    try:
        uuid.UUID(value or "")
    except ValueError:
        return False
    return True


async def test_originate_sends_everything_and_returns_our_uuid(fake_ari: FakeAri, ari_client: AriClient) -> None:
    chan = await ari_client.channels.originate(
        "PJSIP/agent1",
        app="holdfast",
        app_args=["agent", "req-42"],
        caller_id='"Support" <3000>',
        timeout=25,
        variables={"PJSIP_HEADER(add,Call-Info)": ";answer-after=0"},
        originator="1710408411.12",
    )
    call = fake_ari.calls[-1]
    assert (call.method, call.path) == ("POST", "/channels")
    assert call.query == {
        "endpoint": "PJSIP/agent1",
        "app": "holdfast",
        "appArgs": "agent,req-42",
        "callerId": '"Support" <3000>',
        "timeout": "25",
        "channelId": chan.id,
        "originator": "1710408411.12",
    }
    assert call.body == {"variables": {"PJSIP_HEADER(add,Call-Info)": ";answer-after=0"}}
    assert is_uuid(chan.id)
    assert chan.caller_number == "3000" and chan.caller_name == "Support"
    assert fake_ari.channels[chan.id]["state"] == "Down"


async def test_originate_with_given_id_and_dialplan(fake_ari: FakeAri, ari_client: AriClient) -> None:
    chan = await ari_client.channels.originate(
        "PJSIP/0612345678@trunk", channel_id="my-id", context="outbound-amd", extension="s", priority=1
    )
    assert chan.id == "my-id"
    query = fake_ari.calls[-1].query
    assert query["channelId"] == "my-id" and query["context"] == "outbound-amd" and query["priority"] == "1"
    assert "app" not in query and fake_ari.calls[-1].body is None


async def test_channel_operations(fake_ari: FakeAri, ari_client: AriClient) -> None:
    cid = fake_ari.add_channel(state="Ring")["id"]
    ch = ari_client.channels
    await ch.answer(cid)
    await ch.ring(cid)
    await ch.ring_stop(cid)
    await ch.start_moh(cid, "support")
    await ch.stop_moh(cid)
    await ch.send_dtmf(cid, "12#", between=100, duration=120)
    await ch.set_variable(cid, "HOLDFAST_REQUEST", "req-42")
    assert await ch.get_variable(cid, "HOLDFAST_REQUEST") == "req-42"
    await ch.continue_in_dialplan(cid, "outbound-amd", "s", 1)
    stats = await ch.rtp_statistics(cid)
    assert stats.rxploss == 2 and stats.rxjitter == pytest.approx(0.002)
    got = await ch.get(cid)
    assert got.state == "Up"
    assert [c.id for c in await ch.list()] == [cid]
    await ch.hangup(cid, reason="busy")

    wire = [(c.method, c.path.replace(cid, "ID"), c.query) for c in fake_ari.calls]
    assert wire == [
        ("POST", "/channels/ID/answer", {}),
        ("POST", "/channels/ID/ring", {}),
        ("DELETE", "/channels/ID/ring", {}),
        ("POST", "/channels/ID/moh", {"mohClass": "support"}),
        ("DELETE", "/channels/ID/moh", {}),
        ("POST", "/channels/ID/dtmf", {"dtmf": "12#", "between": "100", "duration": "120"}),
        ("POST", "/channels/ID/variable", {"variable": "HOLDFAST_REQUEST", "value": "req-42"}),
        ("GET", "/channels/ID/variable", {"variable": "HOLDFAST_REQUEST"}),
        ("POST", "/channels/ID/continue", {"context": "outbound-amd", "extension": "s", "priority": "1"}),
        ("GET", "/channels/ID/rtp_statistics", {}),
        ("GET", "/channels/ID", {}),
        ("GET", "/channels", {}),
        ("DELETE", "/channels/ID", {"reason": "busy"}),
    ]
    assert cid not in fake_ari.channels


async def test_play_generates_playback_id_and_joins_media(fake_ari: FakeAri, ari_client: AriClient) -> None:
    cid = fake_ari.add_channel()["id"]
    pb = await ari_client.channels.play(cid, ["sound:queue-youarenext", "digits:3"], lang="fr")
    call = fake_ari.calls[-1]
    assert call.path == f"/channels/{cid}/play"
    assert call.query == {"media": "sound:queue-youarenext,digits:3", "playbackId": pb.id, "lang": "fr"}
    assert is_uuid(pb.id) and pb.target_uri == f"channel:{cid}" and pb.state == "queued"
    pb2 = await ari_client.channels.play(cid, "sound:beep", playback_id="pb-1")
    assert pb2.id == "pb-1" and fake_ari.calls[-1].query["media"] == "sound:beep"
    await ari_client.channels.stop_playback("pb-1")
    assert (fake_ari.calls[-1].method, fake_ari.calls[-1].path) == ("DELETE", "/playbacks/pb-1")
    assert (await ari_client.playbacks.get(pb.id)).media_uri == "sound:queue-youarenext"
    await ari_client.playbacks.stop(pb.id)
    with pytest.raises(AriNotFound):
        await ari_client.playbacks.get(pb.id)


async def test_bridge_operations(fake_ari: FakeAri, ari_client: AriClient) -> None:
    caller = fake_ari.add_channel()["id"]
    br = ari_client.bridges
    bridge = await br.create("holding", bridge_id="hold-support", name="support holding")
    assert (bridge.id, bridge.bridge_type, bridge.name) == ("hold-support", "holding", "support holding")
    assert fake_ari.calls[-1].query == {"type": "holding", "bridgeId": "hold-support", "name": "support holding"}
    mixing = await br.create("mixing,dtmf_events")
    assert is_uuid(mixing.id) and fake_ari.calls[-1].query["type"] == "mixing,dtmf_events"

    await br.add_channel("hold-support", caller, role="participant")
    assert fake_ari.calls[-1].query == {"channel": caller, "role": "participant"}
    await br.start_moh("hold-support", "default")
    pb = await br.play("hold-support", "sound:queue-periodic-announce", playback_id="ann-1")
    assert pb.target_uri == "bridge:hold-support"
    await br.stop_moh("hold-support")
    assert (await br.get("hold-support")).channels == (caller,)
    await br.remove_channel("hold-support", caller)
    await br.add_channel(mixing.id, [caller, fake_ari.add_channel()["id"]], absorb_dtmf=False)
    assert fake_ari.calls[-1].query["absorbDTMF"] == "false" and "," in fake_ari.calls[-1].query["channel"]
    assert {b.id for b in await br.list()} == {"hold-support", mixing.id}
    with pytest.raises(AriConflict):
        await br.create("holding", bridge_id="hold-support")
    call_bridge = await br.create_with_id("call-req-42", "mixing,dtmf_events", name="call-req-42")
    assert call_bridge.id == "call-req-42" and fake_ari.calls[-1].path == "/bridges/call-req-42"
    assert fake_ari.calls[-1].query == {"type": "mixing,dtmf_events", "name": "call-req-42"}
    with pytest.raises(AriConflict):
        await br.create_with_id("call-req-42")
    await br.destroy("call-req-42")
    await br.destroy("hold-support")

    paths = [(c.method, c.path) for c in fake_ari.calls]
    assert ("POST", "/bridges/hold-support/moh") in paths
    assert ("DELETE", "/bridges/hold-support/moh") in paths
    assert ("POST", "/bridges/hold-support/play") in paths
    assert ("POST", "/bridges/hold-support/removeChannel") in paths
    assert paths[-1] == ("DELETE", "/bridges/hold-support")
    with pytest.raises(AriNotFound):
        await br.get("hold-support")


async def test_endpoints_applications_asterisk(fake_ari: FakeAri, ari_client: AriClient) -> None:
    fake_ari.add_endpoint("PJSIP", "agent1", "online")
    fake_ari.add_endpoint("PJSIP", "agent2", "offline")
    eps = await ari_client.endpoints.list()
    assert {(e.key, e.online) for e in eps} == {("PJSIP/agent1", True), ("PJSIP/agent2", False)}
    assert len(await ari_client.endpoints.list("PJSIP")) == 2
    assert (await ari_client.endpoints.get("PJSIP", "agent2")).state == "offline"
    with pytest.raises(AriNotFound):
        await ari_client.endpoints.get("PJSIP", "nobody")

    app = await ari_client.applications.subscribe("holdfast", "endpoint:PJSIP")
    call = fake_ari.calls[-1]
    assert (call.method, call.path, call.query) == (
        "POST",
        "/applications/holdfast/subscription",
        {"eventSource": "endpoint:PJSIP"},
    )
    assert app.name == "holdfast" and app.endpoint_ids == ("PJSIP",)
    assert (await ari_client.applications.get("holdfast")).endpoint_ids == ("PJSIP",)
    await ari_client.applications.unsubscribe("holdfast", "endpoint:PJSIP")

    ping = await ari_client.asterisk.ping(timeout=1.0)
    assert ping.ping == "pong" and ping.asterisk_id
    info = await ari_client.asterisk.info()
    assert info.version.startswith("22.") and info.startup_time is not None


async def test_event_filter_is_put_as_asterisk_documents_it(fake_ari: FakeAri, ari_client: AriClient) -> None:
    app = await ari_client.applications.set_event_filter("holdfast", allowed=["StasisStart", "StasisEnd"])
    call = fake_ari.calls[-1]
    assert (call.method, call.path) == ("PUT", "/applications/holdfast/eventFilter")
    assert call.body == {"allowed": [{"type": "StasisStart"}, {"type": "StasisEnd"}], "disallowed": []}
    assert app.events_allowed == ("StasisStart", "StasisEnd") and app.events_disallowed == ()
    assert not fake_ari.event_allowed("ChannelVarset") and fake_ari.event_allowed("StasisEnd")
    assert await fake_ari.push_event("ChannelVarset", variable="X", value="1") == 0  # kept back
    app = await ari_client.applications.set_event_filter("holdfast")  # both lists empty: all again
    assert app.events_allowed == () and fake_ari.event_allowed("ChannelVarset")


async def test_path_segments_are_quoted(fake_ari: FakeAri, ari_client: AriClient) -> None:
    with pytest.raises(AriNotFound):
        await ari_client.endpoints.get("PJSIP", "a/b c")
    assert fake_ari.calls[-1].path == "/endpoints/PJSIP/a%2Fb%20c"


async def test_404_is_ari_not_found_with_details(ari_client: AriClient) -> None:
    with pytest.raises(AriNotFound) as info:
        await ari_client.channels.answer("gone")
    err = info.value
    assert (err.status, err.method, err.path) == (404, "POST", "/channels/gone/answer")
    assert err.message == "Channel not found"
    assert "Channel not found" in str(err)


async def test_other_http_errors(fake_ari: FakeAri, ari_client: AriClient) -> None:
    cid = fake_ari.add_channel()["id"]
    fake_ari.fail("POST", f"/channels/{cid}/answer", status=409, message="Channel not in Stasis application")
    with pytest.raises(AriConflict) as conflict:
        await ari_client.channels.answer(cid)
    assert conflict.value.message == "Channel not in Stasis application"
    fake_ari.fail("*", "/bridges", status=500, message="Internal Server Error")
    with pytest.raises(AriError) as err:
        await ari_client.bridges.list()
    assert err.value.status == 500 and not isinstance(err.value, AriNotFound)
    with pytest.raises(AriError) as bad:
        await ari_client.channels.hangup(cid, reason="because")
    assert bad.value.status == 400
    fake_ari.add_channel("c2")
    fake_ari.fail("POST", "/channels/c2/moh", status=500, body={"error": "Allocation failed"})
    with pytest.raises(AriError) as alloc:
        await ari_client.channels.start_moh("c2")
    assert alloc.value.message == "Allocation failed"
    await ari_client.channels.answer(cid)  # rules are one-shot by default
    assert ari_client.rest.failures == 4


async def test_wrong_credentials(fake_ari: FakeAri) -> None:
    async with AriClient(fake_ari.config(password="wrong")) as client:
        with pytest.raises(AriError) as err:
            await client.asterisk.ping()
    assert err.value.status == 401


async def test_timeout(fake_ari: FakeAri) -> None:
    fake_ari.delay("GET", "/asterisk/ping", 1.0)
    async with AriClient(fake_ari.config(request_timeout=0.1)) as client:
        with pytest.raises(AriTimeout) as err:
            await client.asterisk.ping()
    assert err.value.status is None


async def test_connection_refused() -> None:
    fake = FakeAri()
    await fake.start()
    config = fake.config()
    await fake.stop()  # nothing listens on that port any more
    async with AriClient(config) as client:
        with pytest.raises(AriConnectionError):
            await client.asterisk.ping()


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("POST", "/bridges/b-1/addChannel", "POST /bridges/{id}/addChannel"),
        ("POST", "/channels/c-1/play/p-1", "POST /channels/{id}/play"),
        ("GET", "/channels", "GET /channels"),
        ("GET", "/recordings/stored/holdfast-web-1234", "GET /recordings/{id}/{id}"),
        ("GET", "/recordings/stored/holdfast-web-1234/file", "GET /recordings/{id}/{id}"),
        ("DELETE", "/asterisk/modules/res_foo.so", "DELETE /asterisk/{id}/{id}"),
    ],
)
def test_request_kind_keeps_operations_and_drops_names(method: str, path: str, kind: str) -> None:
    """The per-kind counter becomes /metrics labels: a name in the third segment (a recording,
    a module) would add a label per call and grow without bound."""
    assert request_kind(method, path) == kind


async def test_the_counter_has_one_kind_for_all_recordings(fake_ari: FakeAri, ari_client: AriClient) -> None:
    for name in ("holdfast-web-1", "holdfast-web-2"):
        with pytest.raises(AriNotFound):
            await ari_client.recordings.stored(name)
    assert [k for k in ari_client.rest.by_kind if "recordings" in k] == ["GET /recordings/{id}/{id}"]


async def test_a_recordings_download_is_counted_by_kind(fake_ari: FakeAri, ari_client: AriClient) -> None:
    """A supervisor's download streams (AriRest.stream): it is a REST request like the others."""
    with pytest.raises(AriNotFound):
        async for _ in ari_client.recordings.stored_file("holdfast-web-1"):
            pass
    assert ari_client.rest.by_kind["GET /recordings/{id}/{id}"] == 1


async def test_a_burst_waits_for_connections_without_timing_out(fake_ari: FakeAri) -> None:
    # 150 requests at once against an Asterisk that takes 0.3 s each: they go out 50 at a time,
    # and the last wave waits 0.6 s for a connection. Each answer comes 0.3 s after its request
    # left, within the 0.5 s timeout, so none of them may fail.
    fake_ari.delay("GET", "/asterisk/ping", 0.3, times=None)
    async with AriClient(fake_ari.config(request_timeout=0.5)) as client:
        answers = await asyncio.gather(*(client.asterisk.ping() for _ in range(150)), return_exceptions=True)
    failed = [a for a in answers if isinstance(a, BaseException)]
    assert failed == []
    assert fake_ari.peak_concurrency <= 50  # under Asterisk's 100 HTTP sessions, with room for the websocket
