"""Typed, immutable views of the ARI objects the service uses (Channel, Bridge, Playback...).

Field names follow Asterisk's own API description (rest-api/api-docs/*.json). Parsing is strict
only about identity (an object without an id is useless and means the payload is broken) and
lenient about everything else, so a field Asterisk adds or omits in some version never breaks us.
Every model keeps the JSON it came from in `raw` for logging and for fields we do not model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JsonDict = dict[str, Any]


class ParseError(ValueError):
    """An ARI payload lacks something we cannot do without (an id, a nested object...)."""


def parse_time(value: object) -> datetime | None:
    """ARI dates look like 2024-05-02T10:20:30.123+0000; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def require_dict(data: Mapping[str, Any], key: str) -> JsonDict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ParseError(f"missing or invalid object {key!r}")
    return value


def require_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ParseError(f"missing or invalid string {key!r}")
    return value


def opt_dict(data: Mapping[str, Any], key: str) -> JsonDict:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def opt_str(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    return value if isinstance(value, str) else default


def opt_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    # bool is an int in Python; a JSON true is never a valid cause code.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def str_tuple(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value)


def str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


@dataclass(frozen=True, slots=True)
class CallerId:
    name: str = ""
    number: str = ""

    @classmethod
    def from_json(cls, data: object) -> CallerId:
        if not isinstance(data, dict):
            return cls()
        return cls(name=opt_str(data, "name"), number=opt_str(data, "number"))


@dataclass(frozen=True, slots=True)
class DialplanLocation:
    """Where the channel is (or was) in the dialplan: ARI's DialplanCEP."""

    context: str = ""
    exten: str = ""
    priority: int = 0
    app_name: str = ""
    app_data: str = ""

    @classmethod
    def from_json(cls, data: object) -> DialplanLocation:
        if not isinstance(data, dict):
            return cls()
        return cls(
            context=opt_str(data, "context"),
            exten=opt_str(data, "exten"),
            priority=opt_int(data, "priority") or 0,
            app_name=opt_str(data, "app_name"),
            app_data=opt_str(data, "app_data"),
        )


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str
    state: str  # Down, Rsrved, OffHook, Dialing, Ring, Ringing, Up, Busy, Dialing Offhook, Pre-ring, Unknown
    caller: CallerId
    connected: CallerId
    dialplan: DialplanLocation
    creationtime: datetime | None
    language: str
    accountcode: str = ""
    protocol_id: str = ""
    channelvars: Mapping[str, str] = field(default_factory=dict)
    raw: JsonDict = field(default_factory=dict, repr=False, compare=False)

    @property
    def caller_number(self) -> str:
        return self.caller.number

    @property
    def caller_name(self) -> str:
        return self.caller.name

    @property
    def technology(self) -> str:
        """ "PJSIP" for "PJSIP/agent1-00000001"; handy to tell agents' legs from trunk legs."""
        return self.name.split("/", 1)[0] if "/" in self.name else ""

    @classmethod
    def from_json(cls, data: object) -> Channel:
        if not isinstance(data, dict):
            raise ParseError("channel is not an object")
        return cls(
            id=require_str(data, "id"),
            name=opt_str(data, "name"),
            state=opt_str(data, "state", "Unknown"),
            caller=CallerId.from_json(data.get("caller")),
            connected=CallerId.from_json(data.get("connected")),
            dialplan=DialplanLocation.from_json(data.get("dialplan")),
            creationtime=parse_time(data.get("creationtime")),
            language=opt_str(data, "language"),
            accountcode=opt_str(data, "accountcode"),
            protocol_id=opt_str(data, "protocol_id"),
            channelvars=str_map(data.get("channelvars")),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Bridge:
    id: str
    technology: str
    bridge_type: str  # mixing, holding
    bridge_class: str
    creator: str
    name: str
    channels: tuple[str, ...]
    creationtime: datetime | None
    raw: JsonDict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: object) -> Bridge:
        if not isinstance(data, dict):
            raise ParseError("bridge is not an object")
        return cls(
            id=require_str(data, "id"),
            technology=opt_str(data, "technology"),
            bridge_type=opt_str(data, "bridge_type"),
            bridge_class=opt_str(data, "bridge_class"),
            creator=opt_str(data, "creator"),
            name=opt_str(data, "name"),
            channels=str_tuple(data.get("channels")),
            creationtime=parse_time(data.get("creationtime")),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Playback:
    id: str
    media_uri: str
    target_uri: str  # "channel:<id>" or "bridge:<id>"
    state: str  # queued, playing, continuing, done, failed
    language: str = ""
    next_media_uri: str = ""
    raw: JsonDict = field(default_factory=dict, repr=False, compare=False)

    @property
    def target_kind(self) -> str:
        return self.target_uri.split(":", 1)[0] if ":" in self.target_uri else ""

    @property
    def target_id(self) -> str:
        return self.target_uri.split(":", 1)[1] if ":" in self.target_uri else ""

    @classmethod
    def from_json(cls, data: object) -> Playback:
        if not isinstance(data, dict):
            raise ParseError("playback is not an object")
        return cls(
            id=require_str(data, "id"),
            media_uri=opt_str(data, "media_uri"),
            target_uri=opt_str(data, "target_uri"),
            state=opt_str(data, "state"),
            language=opt_str(data, "language"),
            next_media_uri=opt_str(data, "next_media_uri"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class LiveRecording:
    name: str
    format: str = ""
    state: str = ""  # queued, recording, paused, done, failed, canceled
    target_uri: str = ""  # "channel:<id>" or "bridge:<id>"
    cause: str = ""  # why it failed
    raw: JsonDict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: object) -> LiveRecording:
        if not isinstance(data, dict):
            raise ParseError("recording is not an object")
        return cls(
            name=require_str(data, "name"),
            format=opt_str(data, "format"),
            state=opt_str(data, "state"),
            target_uri=opt_str(data, "target_uri"),
            cause=opt_str(data, "cause"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Endpoint:
    technology: str
    resource: str
    state: str  # unknown, offline, online
    channel_ids: tuple[str, ...] = ()
    raw: JsonDict = field(default_factory=dict, repr=False, compare=False)

    @property
    def online(self) -> bool:
        return self.state == "online"

    @property
    def key(self) -> str:
        return f"{self.technology}/{self.resource}"

    @classmethod
    def from_json(cls, data: object) -> Endpoint:
        if not isinstance(data, dict):
            raise ParseError("endpoint is not an object")
        return cls(
            technology=require_str(data, "technology"),
            resource=require_str(data, "resource"),
            state=opt_str(data, "state", "unknown"),
            channel_ids=str_tuple(data.get("channel_ids")),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Application:
    name: str
    channel_ids: tuple[str, ...] = ()
    bridge_ids: tuple[str, ...] = ()
    endpoint_ids: tuple[str, ...] = ()
    device_names: tuple[str, ...] = ()
    events_allowed: tuple[str, ...] = ()  # event types of the app's filter (empty: all)
    events_disallowed: tuple[str, ...] = ()
    raw: JsonDict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: object) -> Application:
        if not isinstance(data, dict):
            raise ParseError("application is not an object")
        return cls(
            name=require_str(data, "name"),
            channel_ids=str_tuple(data.get("channel_ids")),
            bridge_ids=str_tuple(data.get("bridge_ids")),
            endpoint_ids=str_tuple(data.get("endpoint_ids")),
            device_names=str_tuple(data.get("device_names")),
            events_allowed=_event_types(data.get("events_allowed")),
            events_disallowed=_event_types(data.get("events_disallowed")),
            raw=data,
        )


def _event_types(value: object) -> tuple[str, ...]:
    """[{"type": "StasisStart"}, ...] -> ("StasisStart", ...); anything else is skipped."""
    if not isinstance(value, list):
        return ()
    return tuple(str(item["type"]) for item in value if isinstance(item, dict) and isinstance(item.get("type"), str))


@dataclass(frozen=True, slots=True)
class AsteriskPing:
    asterisk_id: str
    ping: str
    timestamp: datetime | None
    raw: JsonDict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: object) -> AsteriskPing:
        if not isinstance(data, dict):
            raise ParseError("ping reply is not an object")
        return cls(
            asterisk_id=opt_str(data, "asterisk_id"),
            ping=opt_str(data, "ping"),
            timestamp=parse_time(data.get("timestamp")),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class AsteriskInfo:
    version: str
    entity_id: str
    startup_time: datetime | None
    last_reload_time: datetime | None
    raw: JsonDict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: object) -> AsteriskInfo:
        if not isinstance(data, dict):
            raise ParseError("asterisk info is not an object")
        system = opt_dict(data, "system")
        status = opt_dict(data, "status")
        return cls(
            version=opt_str(system, "version"),
            entity_id=opt_str(system, "entity_id"),
            startup_time=parse_time(status.get("startup_time")),
            last_reload_time=parse_time(status.get("last_reload_time")),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class RtpStats:
    """The counters we chart for call quality; the rest (min/max/stdev) stays in `raw`."""

    channel_uniqueid: str
    txcount: int
    rxcount: int
    txploss: int
    rxploss: int
    txjitter: float | None
    rxjitter: float | None
    rtt: float | None
    raw: JsonDict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: object) -> RtpStats:
        if not isinstance(data, dict):
            raise ParseError("rtp statistics is not an object")

        def num(key: str) -> float | None:
            value = data.get(key)
            return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

        return cls(
            channel_uniqueid=opt_str(data, "channel_uniqueid"),
            txcount=opt_int(data, "txcount") or 0,
            rxcount=opt_int(data, "rxcount") or 0,
            txploss=opt_int(data, "txploss") or 0,
            rxploss=opt_int(data, "rxploss") or 0,
            txjitter=num("txjitter"),
            rxjitter=num("rxjitter"),
            rtt=num("rtt"),
            raw=data,
        )
