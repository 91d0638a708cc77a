"""Typed wrappers for /channels and /playbacks: what the service does to call legs.

Ids we create (channels, playbacks) are UUIDs generated here unless the caller passes one, so the
caller can know the id *before* the request: StasisStart for an originate can arrive on the
websocket before the HTTP response does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from app.ari.models import Channel, Playback, RtpStats
from app.ari.rest import AriRest, seg


def new_id() -> str:
    return str(uuid.uuid4())


def _args(value: str | Sequence[str] | None) -> str | None:
    # appArgs is one comma separated string; StasisStart hands it back split as `args`.
    if value is None or isinstance(value, str):
        return value
    return ",".join(value)


class ChannelsApi:
    def __init__(self, rest: AriRest) -> None:
        self._rest = rest

    async def list(self) -> list[Channel]:
        data = await self._rest.request("GET", "/channels")
        return [Channel.from_json(item) for item in data or []]

    async def get(self, channel_id: str) -> Channel:
        return Channel.from_json(await self._rest.request("GET", f"/channels/{seg(channel_id)}"))

    async def originate(
        self,
        endpoint: str,
        *,
        app: str | None = None,
        app_args: str | Sequence[str] | None = None,
        caller_id: str | None = None,
        timeout: int | None = None,
        variables: Mapping[str, str] | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        originator: str | None = None,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
        formats: str | Sequence[str] | None = None,
    ) -> Channel:
        """Dial `endpoint` (e.g. "PJSIP/agent1", "PJSIP/0612345678@trunk").

        With `app` the answered channel enters our Stasis app (StasisStart = answered); without
        it, `context`/`extension`/`priority` send it to the dialplan. `timeout` is the ring time
        in seconds. `originator` links the new channel to an existing one (codec, linkedid).
        """
        chan_id = channel_id or new_id()
        body = {"variables": dict(variables)} if variables else None
        data = await self._rest.request(
            "POST",
            "/channels",
            params={
                "endpoint": endpoint,
                "app": app,
                "appArgs": _args(app_args),
                "callerId": caller_id,
                "timeout": timeout,
                "channelId": chan_id,
                "otherChannelId": other_channel_id,
                "originator": originator,
                "context": context,
                "extension": extension,
                "priority": priority,
                "label": label,
                "formats": formats,
            },
            body=body,
        )
        return Channel.from_json(data)

    async def answer(self, channel_id: str) -> None:
        await self._rest.request("POST", f"/channels/{seg(channel_id)}/answer")

    async def hangup(self, channel_id: str, reason: str | None = "normal") -> None:
        """reason: normal, busy, congestion, no_answer, timeout, rejected, unallocated, ..."""
        await self._rest.request("DELETE", f"/channels/{seg(channel_id)}", params={"reason": reason})

    async def ring(self, channel_id: str) -> None:
        await self._rest.request("POST", f"/channels/{seg(channel_id)}/ring")

    async def ring_stop(self, channel_id: str) -> None:
        await self._rest.request("DELETE", f"/channels/{seg(channel_id)}/ring")

    async def play(
        self,
        channel_id: str,
        media: str | Sequence[str],
        *,
        playback_id: str | None = None,
        lang: str | None = None,
        offsetms: int | None = None,
        skipms: int | None = None,
    ) -> Playback:
        """Queue one or more media URIs ("sound:queue-thankyou", "digits:3", "number:12")."""
        data = await self._rest.request(
            "POST",
            f"/channels/{seg(channel_id)}/play",
            params={
                "media": [media] if isinstance(media, str) else list(media),
                "playbackId": playback_id or new_id(),
                "lang": lang,
                "offsetms": offsetms,
                "skipms": skipms,
            },
        )
        return Playback.from_json(data)

    async def stop_playback(self, playback_id: str) -> None:
        await self._rest.request("DELETE", f"/playbacks/{seg(playback_id)}")

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        await self._rest.request("POST", f"/channels/{seg(channel_id)}/moh", params={"mohClass": moh_class})

    async def stop_moh(self, channel_id: str) -> None:
        await self._rest.request("DELETE", f"/channels/{seg(channel_id)}/moh")

    async def send_dtmf(
        self,
        channel_id: str,
        dtmf: str,
        *,
        before: int | None = None,
        between: int | None = None,
        duration: int | None = None,
        after: int | None = None,
    ) -> None:
        await self._rest.request(
            "POST",
            f"/channels/{seg(channel_id)}/dtmf",
            params={"dtmf": dtmf, "before": before, "between": between, "duration": duration, "after": after},
        )

    async def continue_in_dialplan(
        self,
        channel_id: str,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        """Leave Stasis (StasisEnd follows) and go on in the dialplan, e.g. to AMD()."""
        await self._rest.request(
            "POST",
            f"/channels/{seg(channel_id)}/continue",
            params={"context": context, "extension": extension, "priority": priority, "label": label},
        )

    async def get_variable(self, channel_id: str, variable: str) -> str:
        """Raises AriNotFound if the channel or the variable does not exist."""
        data = await self._rest.request("GET", f"/channels/{seg(channel_id)}/variable", params={"variable": variable})
        value = data.get("value", "") if isinstance(data, dict) else ""
        return str(value)

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        await self._rest.request(
            "POST", f"/channels/{seg(channel_id)}/variable", params={"variable": variable, "value": value}
        )

    async def rtp_statistics(self, channel_id: str) -> RtpStats:
        return RtpStats.from_json(await self._rest.request("GET", f"/channels/{seg(channel_id)}/rtp_statistics"))
