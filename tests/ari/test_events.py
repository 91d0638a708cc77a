"""Translation of recorded ARI event payloads into typed events."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from app.ari import (
    DOCUMENTED_EVENT_TYPES,
    KNOWN_EVENT_TYPES,
    ApplicationReplaced,
    BridgeDestroyed,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelLeftBridge,
    ChannelStateChange,
    ChannelVarset,
    ContactStatusChange,
    DeviceStateChanged,
    Dial,
    EndpointStateChange,
    EventTranslator,
    ParseError,
    PeerStatusChange,
    PlaybackFinished,
    PlaybackStarted,
    StasisEnd,
    StasisStart,
    UnknownEvent,
    parse_event,
)

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return data


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_sample_translates_to_its_class(path: Path) -> None:
    data = json.loads(path.read_text())
    event = parse_event(data)
    expected = UnknownEvent.__name__ if data["type"] not in KNOWN_EVENT_TYPES else data["type"]
    assert type(event).__name__ == expected
    assert event.type == data["type"]
    assert event.application == "holdfast"
    assert event.asterisk_id == "02:42:ac:11:00:02"
    assert event.raw is data
    assert isinstance(event.timestamp, datetime)
    assert event.ordering_key


def test_stasis_start_inbound() -> None:
    event = parse_event(sample("stasis_start_inbound"))
    assert isinstance(event, StasisStart)
    assert event.args == ("inbound",)
    assert event.replace_channel is None
    ch = event.channel
    assert ch.id == event.channel_id == "1710408411.12"
    assert ch.name == "PJSIP/trunk-0000000c"
    assert ch.technology == "PJSIP"
    assert ch.state == "Up"
    assert (ch.caller_number, ch.caller_name) == ("0612345678", "JANSEN")
    assert ch.dialplan.context == "from-trunk" and ch.dialplan.exten == "3000" and ch.dialplan.priority == 3
    assert ch.creationtime == datetime(2025, 3, 14, 9, 26, 51, 204000, tzinfo=UTC)
    assert ch.language == "en"
    assert ch.channelvars == {"HOLDFAST_QUEUE": "support"}
    assert event.timestamp == datetime(2025, 3, 14, 9, 26, 51, 210000, tzinfo=UTC)
    assert event.ordering_key == "channel:1710408411.12"


def test_stasis_start_originate_and_replace() -> None:
    event = parse_event(sample("stasis_start_originate"))
    assert isinstance(event, StasisStart)
    assert event.args == ("agent", "req-42")
    replaced = parse_event(sample("stasis_start_replace"))
    assert isinstance(replaced, StasisStart)
    assert replaced.replace_channel is not None and replaced.replace_channel.id == "1710408411.12"


def test_channel_events_fields() -> None:
    dtmf = parse_event(sample("channel_dtmf_received"))
    assert isinstance(dtmf, ChannelDtmfReceived)
    assert (dtmf.digit, dtmf.duration_ms) == ("1", 120)

    hangup = parse_event(sample("channel_hangup_request"))
    assert isinstance(hangup, ChannelHangupRequest)
    assert (hangup.cause, hangup.soft) == (16, False)
    soft = parse_event(sample("channel_hangup_request_soft"))
    assert isinstance(soft, ChannelHangupRequest)
    assert (soft.cause, soft.soft) == (None, True)

    busy = parse_event(sample("channel_destroyed_busy"))
    assert isinstance(busy, ChannelDestroyed)
    assert (busy.cause, busy.cause_txt, busy.tech_cause) == (17, "User busy", 486)
    noanswer = parse_event(sample("channel_destroyed_noanswer"))
    assert isinstance(noanswer, ChannelDestroyed)
    assert noanswer.cause == 19 and noanswer.tech_cause is None

    state = parse_event(sample("channel_state_change"))
    assert isinstance(state, ChannelStateChange) and state.channel.state == "Ringing"
    end = parse_event(sample("stasis_end"))
    assert isinstance(end, StasisEnd) and end.channel_id == "1710408411.12"


def test_varset_with_and_without_channel() -> None:
    varset = parse_event(sample("channel_varset"))
    assert isinstance(varset, ChannelVarset)
    assert (varset.variable, varset.value) == ("HOLDFAST_REQUEST", "req-42")
    assert varset.channel is not None and varset.ordering_key == "channel:1710408411.12"
    glob = parse_event(sample("channel_varset_global"))
    assert isinstance(glob, ChannelVarset) and glob.channel is None and glob.ordering_key == "app"


def test_bridge_events_are_ordered_with_the_channel() -> None:
    entered = parse_event(sample("channel_entered_bridge"))
    assert isinstance(entered, ChannelEnteredBridge)
    assert entered.bridge.id == "hold-support" and entered.bridge.bridge_type == "holding"
    assert entered.bridge.channels == ("1710408411.12",)
    assert entered.ordering_key == "channel:1710408411.12"
    left = parse_event(sample("channel_left_bridge"))
    assert isinstance(left, ChannelLeftBridge) and left.channel_id == "1710408411.12"
    destroyed = parse_event(sample("bridge_destroyed"))
    assert isinstance(destroyed, BridgeDestroyed)
    assert destroyed.ordering_key == "bridge:c1a2b3c4-d5e6-4f70-8a9b-0c1d2e3f4a5b"


def test_playback_events() -> None:
    started = parse_event(sample("playback_started"))
    assert isinstance(started, PlaybackStarted)
    assert started.playback_id == "5b7a9c1e-0f2d-4e3b-8a6c-1d9e0f2a3b4c"
    assert started.target_uri == "channel:1710408411.12" and started.state == "playing"
    assert started.playback.next_media_uri == "digits:3"
    assert started.ordering_key == "channel:1710408411.12"  # same lane as the channel's events
    failed = parse_event(sample("playback_finished_failed"))
    assert isinstance(failed, PlaybackFinished)
    assert failed.state == "failed" and failed.playback.target_kind == "bridge"
    assert failed.playback.target_id == "hold-support"


def test_dial_endpoint_device_replaced() -> None:
    ringing = parse_event(sample("dial_ringing"))
    assert isinstance(ringing, Dial)
    assert ringing.dialstatus == "" and ringing.caller is None and ringing.dialstring == "agent1"
    assert ringing.ordering_key == f"channel:{ringing.peer.id}"
    with_caller = parse_event(sample("dial_with_caller"))
    assert isinstance(with_caller, Dial) and with_caller.caller is not None
    assert with_caller.dialstatus == "BUSY"

    ep = parse_event(sample("endpoint_state_change_offline"))
    assert isinstance(ep, EndpointStateChange)
    assert (ep.technology, ep.resource, ep.state) == ("PJSIP", "agent1", "offline")
    assert not ep.endpoint.online and ep.ordering_key == "endpoint:PJSIP/agent1"

    dev = parse_event(sample("device_state_changed"))
    assert isinstance(dev, DeviceStateChanged)
    assert (dev.device_name, dev.state) == ("PJSIP/agent1", "RINGING")

    assert isinstance(parse_event(sample("application_replaced")), ApplicationReplaced)


def test_events_are_frozen() -> None:
    event = parse_event(sample("stasis_end"))
    with pytest.raises(AttributeError):
        event.type = "other"  # type: ignore[misc]


def test_unknown_event_kept_raw() -> None:
    data = sample("unknown_channel_hold")
    event = parse_event(data)
    assert isinstance(event, UnknownEvent)
    assert event.type == "ChannelHold" and event.raw["musicclass"] == "default"


@pytest.mark.parametrize(
    "data",
    [
        [],
        "StasisStart",
        {"application": "holdfast"},
        {"type": 12},
        {"type": "StasisStart", "application": "holdfast"},  # no channel
        {"type": "StasisStart", "channel": {"name": "PJSIP/x"}},  # channel without id
        {"type": "ChannelDtmfReceived", "channel": {"id": "c1"}},  # no digit
        {"type": "PlaybackFinished", "playback": "not an object"},
        {"type": "Dial", "dialstatus": "ANSWER"},  # no peer
    ],
)
def test_malformed_events_raise_parse_error(data: Any) -> None:
    with pytest.raises(ParseError):
        parse_event(data)


def test_lenient_about_optional_and_odd_fields() -> None:
    event = parse_event(
        {"type": "ChannelHangupRequest", "timestamp": "yesterday", "channel": {"id": "c1", "caller": None},
         "cause": "16", "soft": "yes", "extra": [1, 2]}
    )  # fmt: skip
    assert isinstance(event, ChannelHangupRequest)
    assert event.cause == 16 and event.soft is False and event.timestamp is None
    assert event.channel.caller_number == "" and event.channel.state == "Unknown"


def test_translator_never_raises_and_logs_unknown_once() -> None:
    translator = EventTranslator()
    with structlog.testing.capture_logs() as logs:
        assert translator.translate("{not json") is None
        assert translator.translate(b"\xff\xfe") is None
        assert translator.translate(json.dumps({"type": "StasisStart"})) is None
        for _ in range(3):
            event = translator.translate(json.dumps({"type": "ChannelFutureThing", "channel": {"id": "c"}}))
            assert isinstance(event, UnknownEvent)
        ok = translator.translate(json.dumps(sample("stasis_end")))
        assert isinstance(ok, StasisEnd)
    assert translator.dropped == 3 and translator.unknown == 3
    unknown_logs = [e for e in logs if e["event"] == "ari_event_unknown_type"]
    assert len(unknown_logs) == 1 and unknown_logs[0]["log_level"] == "info"
    assert sum(e["event"] in ("ari_event_bad_json", "ari_event_malformed") for e in logs) == 3


def test_documented_events_we_do_not_model_are_not_reported_as_unknown() -> None:
    translator = EventTranslator()
    with structlog.testing.capture_logs() as logs:
        for kind in ("ChannelTalkingStarted", "ChannelHold", "BridgeMerged", "RecordingFinished"):
            event = translator.translate(json.dumps({"type": kind, "channel": {"id": "c"}}))
            assert isinstance(event, UnknownEvent) and event.type == kind  # kept raw, delivered
        contact = translator.translate(json.dumps(sample("contact_status_change")))
        peer = translator.translate(json.dumps(sample("peer_status_change")))
    assert not logs
    assert translator.unknown == 0 and translator.ignored == 4
    assert isinstance(contact, ContactStatusChange) and contact.contact_status == "Reachable"
    assert contact.endpoint.key == "PJSIP/1001" and contact.ordering_key == "endpoint:PJSIP/1001"
    assert isinstance(peer, PeerStatusChange) and peer.peer_status == "Reachable"
    assert peer.ordering_key == "endpoint:PJSIP/1001"


API_DIR = Path(
    os.environ.get(
        "HOLDFAST_ARI_API_DIR",
        Path.home() / ".cache/holdfast/asterisk-root/usr/share/asterisk/rest-api",
    )
)


@pytest.mark.skipif(not (API_DIR / "events.json").exists(), reason="Asterisk's rest-api/events.json not available")
def test_samples_match_asterisk_api_description() -> None:
    """Each sample uses only fields Asterisk's own events.json declares, and all required ones."""
    models = json.loads((API_DIR / "events.json").read_text())["models"]
    common = set(models["Message"]["properties"]) | set(models["Event"]["properties"])
    channel_model = json.loads((API_DIR / "channels.json").read_text())["models"]["Channel"]["properties"]
    for path in sorted(SAMPLES.glob("*.json")):
        data = json.loads(path.read_text())
        model = models.get(data["type"])
        if model is None:
            continue
        props = model["properties"]
        assert set(data) <= common | set(props), path.name
        required = {k for k, v in props.items() if v.get("required")}
        assert required <= set(data), f"{path.name} lacks {required - set(data)}"
        for key in ("channel", "peer", "caller", "replace_channel"):
            if isinstance(data.get(key), dict) and props.get(key, {}).get("type") == "Channel":
                assert set(data[key]) <= set(channel_model), f"{path.name}:{key}"


@pytest.mark.skipif(not (API_DIR / "events.json").exists(), reason="Asterisk's rest-api/events.json not available")
def test_documented_event_types_are_asterisks_own_list() -> None:
    models = json.loads((API_DIR / "events.json").read_text())["models"]
    assert set(models["Event"]["subTypes"]) == DOCUMENTED_EVENT_TYPES
    assert KNOWN_EVENT_TYPES <= DOCUMENTED_EVENT_TYPES
