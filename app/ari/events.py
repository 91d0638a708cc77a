"""ARI events as typed frozen dataclasses, and the translation from websocket JSON.

`parse_event` is pure: JSON dict in, event out, `ParseError` when a known event lacks what it
needs. `EventTranslator` wraps it for the websocket reader: it never raises, logs each unknown
event type once (Asterisk adds event types between versions; they must not flood the log) and
logs-and-drops broken payloads, because one bad message must never stop the reader.

Every event carries `type`, `application`, `timestamp`, `asterisk_id` and the original `raw` dict.
`ordering_key` names the object whose events must be handled in order ("channel:<id>",
"bridge:<id>", "endpoint:<tech>/<resource>", ...); see dispatch.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import structlog

from app.ari.models import (
    Bridge,
    Channel,
    Endpoint,
    JsonDict,
    LiveRecording,
    ParseError,
    Playback,
    opt_int,
    opt_str,
    parse_time,
    require_dict,
    require_str,
    str_tuple,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True)
class AriEvent:
    type: str
    application: str = ""
    timestamp: datetime | None = None
    asterisk_id: str = ""
    raw: JsonDict = field(default_factory=dict, repr=False, compare=False)

    @property
    def ordering_key(self) -> str:
        """Events with the same key are delivered one at a time, in arrival order."""
        return "app"

    def log_ids(self) -> dict[str, str]:
        """Identifiers worth putting in a log line about this event."""
        return {"event_type": self.type, "ordering_key": self.ordering_key}

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        """Build the event from its JSON; subclasses read their own fields."""
        return cls(**base)


E = TypeVar("E", bound=AriEvent)
_PARSERS: dict[str, Callable[[JsonDict, dict[str, Any]], AriEvent]] = {}


def _register(name: str) -> Callable[[type[E]], type[E]]:
    def wrap(cls: type[E]) -> type[E]:
        _PARSERS[name] = cls.parse
        return cls

    return wrap


@dataclass(frozen=True, kw_only=True)
class ChannelEvent(AriEvent):
    """An event about one channel; ordered with the other events of that channel."""

    channel: Channel

    @property
    def channel_id(self) -> str:
        return self.channel.id

    @property
    def ordering_key(self) -> str:
        return f"channel:{self.channel.id}"

    def log_ids(self) -> dict[str, str]:
        return {**super().log_ids(), "channel_id": self.channel.id}

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        return cls(**base, channel=Channel.from_json(require_dict(data, "channel")))


@_register("StasisStart")
@dataclass(frozen=True, kw_only=True)
class StasisStart(ChannelEvent):
    """The channel entered our app. For our originates (with `app`) this means answered."""

    args: tuple[str, ...] = ()
    replace_channel: Channel | None = None

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        replace = data.get("replace_channel")
        return cls(
            **base,
            channel=Channel.from_json(require_dict(data, "channel")),
            args=str_tuple(data.get("args")),
            replace_channel=Channel.from_json(replace) if isinstance(replace, dict) else None,
        )


@_register("StasisEnd")
@dataclass(frozen=True, kw_only=True)
class StasisEnd(ChannelEvent):
    """The channel left our app (hung up, continued in dialplan, moved)."""


@_register("ChannelCreated")
@dataclass(frozen=True, kw_only=True)
class ChannelCreated(ChannelEvent):
    pass


@_register("ChannelStateChange")
@dataclass(frozen=True, kw_only=True)
class ChannelStateChange(ChannelEvent):
    pass


@_register("ChannelConnectedLine")
@dataclass(frozen=True, kw_only=True)
class ChannelConnectedLine(ChannelEvent):
    pass


@_register("ChannelDtmfReceived")
@dataclass(frozen=True, kw_only=True)
class ChannelDtmfReceived(ChannelEvent):
    digit: str
    duration_ms: int = 0

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        return cls(
            **base,
            channel=Channel.from_json(require_dict(data, "channel")),
            digit=require_str(data, "digit"),
            duration_ms=opt_int(data, "duration_ms") or 0,
        )


@_register("ChannelHangupRequest")
@dataclass(frozen=True, kw_only=True)
class ChannelHangupRequest(ChannelEvent):
    cause: int | None = None
    soft: bool = False
    tech_cause: int | None = None

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        return cls(
            **base,
            channel=Channel.from_json(require_dict(data, "channel")),
            cause=opt_int(data, "cause"),
            soft=data.get("soft") is True,
            tech_cause=opt_int(data, "tech_cause"),
        )


@_register("ChannelDestroyed")
@dataclass(frozen=True, kw_only=True)
class ChannelDestroyed(ChannelEvent):
    """Q.850 cause: 16 normal, 17 busy, 19 no answer, 21 rejected, 34 congestion..."""

    cause: int = 0
    cause_txt: str = ""
    tech_cause: int | None = None

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        return cls(
            **base,
            channel=Channel.from_json(require_dict(data, "channel")),
            cause=opt_int(data, "cause") or 0,
            cause_txt=opt_str(data, "cause_txt"),
            tech_cause=opt_int(data, "tech_cause"),
        )


@_register("ChannelVarset")
@dataclass(frozen=True, kw_only=True)
class ChannelVarset(AriEvent):
    """A variable was set; `channel` is None for global variables."""

    variable: str
    value: str = ""
    channel: Channel | None = None

    @property
    def ordering_key(self) -> str:
        return f"channel:{self.channel.id}" if self.channel else "app"

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        chan = data.get("channel")
        return cls(
            **base,
            variable=require_str(data, "variable"),
            value=opt_str(data, "value"),
            channel=Channel.from_json(chan) if isinstance(chan, dict) else None,
        )


@dataclass(frozen=True, kw_only=True)
class BridgeEvent(AriEvent):
    bridge: Bridge

    @property
    def bridge_id(self) -> str:
        return self.bridge.id

    @property
    def ordering_key(self) -> str:
        return f"bridge:{self.bridge.id}"

    def log_ids(self) -> dict[str, str]:
        return {**super().log_ids(), "bridge_id": self.bridge.id}

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        return cls(**base, bridge=Bridge.from_json(require_dict(data, "bridge")))


@_register("BridgeCreated")
@dataclass(frozen=True, kw_only=True)
class BridgeCreated(BridgeEvent):
    pass


@_register("BridgeDestroyed")
@dataclass(frozen=True, kw_only=True)
class BridgeDestroyed(BridgeEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class _ChannelBridgeEvent(BridgeEvent):
    """Ordered with the channel, not the bridge: what matters is where *this* leg is."""

    channel: Channel | None = None

    @property
    def channel_id(self) -> str:
        return self.channel.id if self.channel else ""

    @property
    def ordering_key(self) -> str:
        return f"channel:{self.channel.id}" if self.channel else f"bridge:{self.bridge.id}"

    def log_ids(self) -> dict[str, str]:
        return {**super().log_ids(), "channel_id": self.channel_id}

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        chan = data.get("channel")
        return cls(
            **base,
            bridge=Bridge.from_json(require_dict(data, "bridge")),
            channel=Channel.from_json(chan) if isinstance(chan, dict) else None,
        )


@_register("ChannelEnteredBridge")
@dataclass(frozen=True, kw_only=True)
class ChannelEnteredBridge(_ChannelBridgeEvent):
    pass


@_register("ChannelLeftBridge")
@dataclass(frozen=True, kw_only=True)
class ChannelLeftBridge(_ChannelBridgeEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class PlaybackEvent(AriEvent):
    playback: Playback

    @property
    def playback_id(self) -> str:
        return self.playback.id

    @property
    def target_uri(self) -> str:
        return self.playback.target_uri

    @property
    def state(self) -> str:
        return self.playback.state

    @property
    def ordering_key(self) -> str:
        # "channel:<id>" / "bridge:<id>": ordered with the events of what it plays to.
        return self.playback.target_uri or f"playback:{self.playback.id}"

    def log_ids(self) -> dict[str, str]:
        return {**super().log_ids(), "playback_id": self.playback.id}

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        return cls(**base, playback=Playback.from_json(require_dict(data, "playback")))


@_register("PlaybackStarted")
@dataclass(frozen=True, kw_only=True)
class PlaybackStarted(PlaybackEvent):
    pass


@_register("PlaybackContinuing")
@dataclass(frozen=True, kw_only=True)
class PlaybackContinuing(PlaybackEvent):
    pass


@_register("PlaybackFinished")
@dataclass(frozen=True, kw_only=True)
class PlaybackFinished(PlaybackEvent):
    """state is "done" normally, "failed" when e.g. the sound file does not exist."""


@_register("RecordingFailed")
@dataclass(frozen=True, kw_only=True)
class RecordingFailed(AriEvent):
    """A recording Asterisk had started could not go on (e.g. the disk is full)."""

    recording: LiveRecording

    @property
    def ordering_key(self) -> str:
        return self.recording.target_uri or f"recording:{self.recording.name}"

    def log_ids(self) -> dict[str, str]:
        return {**super().log_ids(), "recording": self.recording.name}

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        return cls(**base, recording=LiveRecording.from_json(require_dict(data, "recording")))


@_register("Dial")
@dataclass(frozen=True, kw_only=True)
class Dial(AriEvent):
    """Progress of a dial; dialstatus "" while ringing, then ANSWER, BUSY, NOANSWER, CANCEL..."""

    peer: Channel
    dialstatus: str = ""
    caller: Channel | None = None
    dialstring: str = ""
    forward: str = ""

    @property
    def ordering_key(self) -> str:
        # The peer is the leg being dialled: for our originates, the channel we created.
        return f"channel:{self.peer.id}"

    def log_ids(self) -> dict[str, str]:
        return {**super().log_ids(), "channel_id": self.peer.id, "dialstatus": self.dialstatus}

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        caller = data.get("caller")
        return cls(
            **base,
            peer=Channel.from_json(require_dict(data, "peer")),
            dialstatus=opt_str(data, "dialstatus"),
            caller=Channel.from_json(caller) if isinstance(caller, dict) else None,
            dialstring=opt_str(data, "dialstring"),
            forward=opt_str(data, "forward"),
        )


@_register("EndpointStateChange")
@dataclass(frozen=True, kw_only=True)
class EndpointStateChange(AriEvent):
    """An endpoint (e.g. an agent's PJSIP phone) registered ("online") or went "offline"."""

    endpoint: Endpoint

    @property
    def technology(self) -> str:
        return self.endpoint.technology

    @property
    def resource(self) -> str:
        return self.endpoint.resource

    @property
    def state(self) -> str:
        return self.endpoint.state

    @property
    def ordering_key(self) -> str:
        return f"endpoint:{self.endpoint.key}"

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        return cls(**base, endpoint=Endpoint.from_json(require_dict(data, "endpoint")))


@dataclass(frozen=True, kw_only=True)
class _EndpointDetailEvent(AriEvent):
    endpoint: Endpoint

    @property
    def ordering_key(self) -> str:  # the same lane as EndpointStateChange: they stay in order
        return f"endpoint:{self.endpoint.key}"


@_register("ContactStatusChange")
@dataclass(frozen=True, kw_only=True)
class ContactStatusChange(_EndpointDetailEvent):
    """A contact (a registered phone's address) of an endpoint changed: Reachable, Unreachable,
    Unknown, NonQualified, Removed. Reachability of agents is taken from EndpointStateChange;
    this one is kept for logs and debugging."""

    uri: str
    contact_status: str
    aor: str

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        info = require_dict(data, "contact_info")
        return cls(
            **base,
            endpoint=Endpoint.from_json(require_dict(data, "endpoint")),
            uri=opt_str(info, "uri"),
            contact_status=opt_str(info, "contact_status"),
            aor=opt_str(info, "aor"),
        )


@_register("PeerStatusChange")
@dataclass(frozen=True, kw_only=True)
class PeerStatusChange(_EndpointDetailEvent):
    """A peer of an endpoint changed state (values depend on the channel technology)."""

    peer_status: str
    cause: str

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        peer = require_dict(data, "peer")
        return cls(
            **base,
            endpoint=Endpoint.from_json(require_dict(data, "endpoint")),
            peer_status=opt_str(peer, "peer_status"),
            cause=opt_str(peer, "cause"),
        )


@_register("DeviceStateChanged")
@dataclass(frozen=True, kw_only=True)
class DeviceStateChanged(AriEvent):
    """state: UNKNOWN, NOT_INUSE, INUSE, BUSY, INVALID, UNAVAILABLE, RINGING, RINGINUSE, ONHOLD."""

    device_name: str
    state: str

    @property
    def ordering_key(self) -> str:
        return f"device:{self.device_name}"

    @classmethod
    def parse(cls, data: JsonDict, base: dict[str, Any]) -> AriEvent:
        device = require_dict(data, "device_state")
        return cls(**base, device_name=require_str(device, "name"), state=opt_str(device, "state"))


@_register("ApplicationReplaced")
@dataclass(frozen=True, kw_only=True)
class ApplicationReplaced(AriEvent):
    """Another websocket registered our app name: we no longer receive its events."""


@dataclass(frozen=True, kw_only=True)
class UnknownEvent(AriEvent):
    """An event type we do not model; kept whole in `raw`."""


def parse_event(data: object) -> AriEvent:
    """Translate one decoded websocket message. Raises ParseError if it cannot be used."""
    if not isinstance(data, dict):
        raise ParseError("event is not a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str) or not kind:
        raise ParseError("event has no 'type'")
    base: dict[str, Any] = {
        "type": kind,
        "application": opt_str(data, "application"),
        "timestamp": parse_time(data.get("timestamp")),
        "asterisk_id": opt_str(data, "asterisk_id"),
        "raw": data,
    }
    parser = _PARSERS.get(kind)
    if parser is None:
        return UnknownEvent(**base)
    try:
        return parser(data, base)
    except ParseError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ParseError(f"{kind}: {exc}") from exc


KNOWN_EVENT_TYPES: frozenset[str] = frozenset(_PARSERS)

# Every event type Asterisk 22 documents (rest-api/events.json, the subtypes of Event). Those we
# do not model arrive as UnknownEvent like any other, but are not reported as unknown: they are
# expected (a transfer, a hold, talk detection...), and Holdfast simply has no use for them.
DOCUMENTED_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "ApplicationMoveFailed", "ApplicationRegistered", "ApplicationReplaced",
        "ApplicationUnregistered", "BridgeAttendedTransfer", "BridgeBlindTransfer", "BridgeCreated",
        "BridgeDestroyed", "BridgeMerged", "BridgeVideoSourceChanged", "CallBroadcast", "CallClaimed",
        "ChannelCallerId", "ChannelConnectedLine", "ChannelCreated", "ChannelDestroyed",
        "ChannelDialplan", "ChannelDtmfReceived", "ChannelEnteredBridge", "ChannelHangupRequest",
        "ChannelHold", "ChannelLeftBridge", "ChannelStateChange", "ChannelTalkingFinished",
        "ChannelTalkingStarted", "ChannelToneDetected", "ChannelTransfer", "ChannelUnhold",
        "ChannelUserevent", "ChannelVarset", "ContactStatusChange", "DeviceStateChanged", "Dial",
        "EndpointStateChange", "PeerStatusChange", "PlaybackContinuing", "PlaybackFinished",
        "PlaybackStarted", "RESTResponse", "RecordingFailed", "RecordingFinished", "RecordingStarted",
        "StasisEnd", "StasisStart", "TextMessageReceived",
    }
)  # fmt: skip


class EventTranslator:
    """Text frames in, events out; never raises. Counts what it drops for metrics."""

    def __init__(self) -> None:
        self._unknown_seen: set[str] = set()
        self.dropped = 0
        self.unknown = 0  # types Asterisk does not document (a newer version?): logged once each
        self.ignored = 0  # documented types we do not model: expected, not logged

    def translate(self, message: str | bytes | JsonDict) -> AriEvent | None:
        data: object = message
        if isinstance(message, str | bytes):
            try:
                data = json.loads(message)
            except (ValueError, UnicodeDecodeError) as exc:
                self.dropped += 1
                log.warning("ari_event_bad_json", error=str(exc), message=_preview(message))
                return None
        try:
            event = parse_event(data)
        except ParseError as exc:
            self.dropped += 1
            log.warning("ari_event_malformed", error=str(exc), message=_preview(data))
            return None
        if isinstance(event, UnknownEvent):
            if event.type in DOCUMENTED_EVENT_TYPES:
                self.ignored += 1
                return event
            self.unknown += 1
            if event.type not in self._unknown_seen:
                self._unknown_seen.add(event.type)
                log.info("ari_event_unknown_type", event_type=event.type)
        return event


def _preview(data: object, limit: int = 300) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    return text if len(text) <= limit else text[:limit] + "…"
