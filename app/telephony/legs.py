"""Which Asterisk channel carries which engine leg, and what we still expect from it.

The engine names legs by ids it hands out; Asterisk names channels by ids we choose at
originate (inbound channels bring their own). Events about a channel arrive in any of several
shapes (StasisEnd, ChannelHangupRequest, ChannelDestroyed): `ended` makes sure the engine hears
about each leg's end exactly once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

HOLDFAST_CHANNELS = uuid.UUID("5b0c7e52-2f6b-4a55-9f51-6d0c1f3e9a10")


def channel_id_for_leg(leg_id: str) -> str:
    """The Asterisk channel id of a leg. Inbound legs are named after their channel already; an
    originated leg gets a UUID of our own derived from its leg id, so that events can be matched
    before the originate returns and the channel is found again after a restart of the service."""
    if ":" not in leg_id:
        return leg_id
    return str(uuid.uuid5(HOLDFAST_CHANNELS, leg_id))


@dataclass(slots=True)
class Leg:
    leg_id: str
    channel_id: str
    role: str  # "inbound", "agent", "customer"
    request_id: str
    answered: bool = False
    ended: bool = False
    bridge_id: str | None = None
    amd: bool = False  # run answering-machine detection in dialplan before telling the engine
    in_dialplan: bool = False  # left Stasis on purpose (AMD); its StasisEnd is not a hang-up
    own_call_of: str | None = None  # an inbound call from this agent's own phone (ev.AgentOwnCall)
    playbacks: set[str] = field(default_factory=set)
    # A tone may be playing that this process does not know of (adopted after a restart).
    adopted: bool = False
    # A one-shot call's agent change, made only once the call has ended: (agent id, action).
    after_end: tuple[str, str] | None = None
    server: str = ""  # the Asterisk server its channel lives on (app/telephony/servers.py)
    # Its channel is answered in Asterisk already (a caller the dialplan answered before Stasis,
    # asterisk-conf/extensions.conf): the engine's Answer needs no request.
    channel_up: bool = False
    # Its originate is on its way: Asterisk may not have made the channel yet (until the POST is
    # answered, or the look-up after a lost answer settles). A resync meanwhile cannot judge it.
    originating: bool = False


@dataclass(slots=True)
class PlaybackTask:
    leg_id: str
    hangup_after: bool
    report_finish: bool
    media: tuple[str, ...] = ()  # ARI reports only the last one when the playback ends


class LegRegistry:
    def __init__(self) -> None:
        self._by_leg: dict[str, Leg] = {}
        self._by_channel: dict[str, Leg] = {}
        self.playbacks: dict[str, PlaybackTask] = {}

    def add(self, leg: Leg) -> Leg:
        self._by_leg[leg.leg_id] = leg
        self._by_channel[leg.channel_id] = leg
        return leg

    def by_leg(self, leg_id: str) -> Leg | None:
        return self._by_leg.get(leg_id)

    def by_channel(self, channel_id: str) -> Leg | None:
        return self._by_channel.get(channel_id)

    def mark_ended(self, leg: Leg) -> bool:
        """True the first time only: the caller should tell the engine."""
        if leg.ended:
            return False
        leg.ended = True
        return True

    def forget(self, leg: Leg) -> None:
        self._by_leg.pop(leg.leg_id, None)
        self._by_channel.pop(leg.channel_id, None)
        for playback_id in leg.playbacks:
            self.playbacks.pop(playback_id, None)

    def own_calls(self) -> set[str]:
        """The agents whose own phone is on a live inbound call (Leg.own_call_of)."""
        return {leg.own_call_of for leg in self._by_leg.values() if leg.own_call_of is not None and not leg.ended}

    def all(self) -> list[Leg]:
        return list(self._by_leg.values())

    def live(self) -> list[Leg]:
        return [leg for leg in self._by_leg.values() if not leg.ended]

    def __len__(self) -> int:
        return len(self._by_leg)
