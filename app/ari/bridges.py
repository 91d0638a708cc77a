"""Typed wrappers for /bridges: holding bridges for waiting callers, mixing bridges for calls."""

from __future__ import annotations

from collections.abc import Sequence

from app.ari.channels import new_id
from app.ari.models import Bridge, Playback
from app.ari.rest import AriRest, seg


class BridgesApi:
    def __init__(self, rest: AriRest) -> None:
        self._rest = rest

    async def list(self) -> list[Bridge]:
        data = await self._rest.request("GET", "/bridges")
        return [Bridge.from_json(item) for item in data or []]

    async def get(self, bridge_id: str) -> Bridge:
        return Bridge.from_json(await self._rest.request("GET", f"/bridges/{seg(bridge_id)}"))

    async def create(self, type: str = "mixing", *, bridge_id: str | None = None, name: str | None = None) -> Bridge:
        """type is a comma list: "holding", "mixing", "mixing,dtmf_events" (DTMF is only
        reported from a two-party mixing bridge with dtmf_events, see DESIGN.md)."""
        data = await self._rest.request(
            "POST", "/bridges", params={"type": type, "bridgeId": bridge_id or new_id(), "name": name}
        )
        return Bridge.from_json(data)

    async def create_with_id(self, bridge_id: str, type: str = "mixing", *, name: str | None = None) -> Bridge:
        """POST /bridges/{id}: the same as create() with a bridge_id of our choosing.
        Both raise AriConflict (409) if a bridge with that id already exists."""
        data = await self._rest.request("POST", f"/bridges/{seg(bridge_id)}", params={"type": type, "name": name})
        return Bridge.from_json(data)

    async def destroy(self, bridge_id: str) -> None:
        await self._rest.request("DELETE", f"/bridges/{seg(bridge_id)}")

    async def add_channel(
        self,
        bridge_id: str,
        channel: str | Sequence[str],
        *,
        role: str | None = None,
        absorb_dtmf: bool | None = None,
        mute: bool | None = None,
        inhibit_connected_line_updates: bool | None = None,
    ) -> None:
        """role in a holding bridge: "participant" (hears MOH) or "announcer"."""
        await self._rest.request(
            "POST",
            f"/bridges/{seg(bridge_id)}/addChannel",
            params={
                "channel": channel,
                "role": role,
                "absorbDTMF": absorb_dtmf,
                "mute": mute,
                "inhibitConnectedLineUpdates": inhibit_connected_line_updates,
            },
        )

    async def remove_channel(self, bridge_id: str, channel: str | Sequence[str]) -> None:
        await self._rest.request("POST", f"/bridges/{seg(bridge_id)}/removeChannel", params={"channel": channel})

    async def record(self, bridge_id: str, name: str, format: str = "wav", *, if_exists: str = "fail") -> None:
        """POST /bridges/{id}/record: a live recording of the bridge's mix, stored by Asterisk as
        <spool>/recording/<name>.<format>; it ends when the bridge is destroyed."""
        await self._rest.request(
            "POST",
            f"/bridges/{seg(bridge_id)}/record",
            params={"name": name, "format": format, "ifExists": if_exists, "beep": "false", "terminateOn": "none"},
        )

    async def start_moh(self, bridge_id: str, moh_class: str | None = None) -> None:
        await self._rest.request("POST", f"/bridges/{seg(bridge_id)}/moh", params={"mohClass": moh_class})

    async def stop_moh(self, bridge_id: str) -> None:
        await self._rest.request("DELETE", f"/bridges/{seg(bridge_id)}/moh")

    async def play(
        self,
        bridge_id: str,
        media: str | Sequence[str],
        *,
        playback_id: str | None = None,
        lang: str | None = None,
    ) -> Playback:
        data = await self._rest.request(
            "POST",
            f"/bridges/{seg(bridge_id)}/play",
            params={
                "media": [media] if isinstance(media, str) else list(media),
                "playbackId": playback_id or new_id(),
                "lang": lang,
            },
        )
        return Playback.from_json(data)
