"""Typed wrappers for the smaller ARI resources: endpoints, applications, asterisk, playbacks."""

from __future__ import annotations

from collections.abc import Sequence

from app.ari.models import Application, AsteriskInfo, AsteriskPing, Endpoint, Playback
from app.ari.rest import AriRest, seg


class EndpointsApi:
    def __init__(self, rest: AriRest) -> None:
        self._rest = rest

    async def list(self, technology: str | None = None) -> list[Endpoint]:
        path = f"/endpoints/{seg(technology)}" if technology else "/endpoints"
        data = await self._rest.request("GET", path)
        return [Endpoint.from_json(item) for item in data or []]

    async def get(self, technology: str, resource: str) -> Endpoint:
        """state "online" means the agent's phone is registered."""
        return Endpoint.from_json(await self._rest.request("GET", f"/endpoints/{seg(technology)}/{seg(resource)}"))


class ApplicationsApi:
    def __init__(self, rest: AriRest) -> None:
        self._rest = rest

    async def get(self, name: str) -> Application:
        return Application.from_json(await self._rest.request("GET", f"/applications/{seg(name)}"))

    async def subscribe(self, name: str, event_source: str | Sequence[str]) -> Application:
        """event_source like "endpoint:PJSIP" (all PJSIP endpoints: registration changes),
        "endpoint:PJSIP/agent1", "channel:<id>", "bridge:<id>", "deviceState:<name>"."""
        data = await self._rest.request(
            "POST", f"/applications/{seg(name)}/subscription", params={"eventSource": event_source}
        )
        return Application.from_json(data)

    async def set_event_filter(
        self, name: str, allowed: Sequence[str] = (), disallowed: Sequence[str] = ()
    ) -> Application:
        """Only `allowed` event types reach the app (all when empty), never `disallowed` ones
        (`PUT /applications/{name}/eventFilter`, Asterisk 13.26+/16.3+). Both lists are set: an
        empty one clears that side."""
        body = {"allowed": [{"type": t} for t in allowed], "disallowed": [{"type": t} for t in disallowed]}
        data = await self._rest.request("PUT", f"/applications/{seg(name)}/eventFilter", body=body)
        return Application.from_json(data)

    async def unsubscribe(self, name: str, event_source: str | Sequence[str]) -> Application:
        data = await self._rest.request(
            "DELETE", f"/applications/{seg(name)}/subscription", params={"eventSource": event_source}
        )
        return Application.from_json(data)


class AsteriskApi:
    def __init__(self, rest: AriRest) -> None:
        self._rest = rest

    async def ping(self, timeout: float | None = None) -> AsteriskPing:
        """Cheap liveness check for /health; pass a short timeout there."""
        return AsteriskPing.from_json(await self._rest.request("GET", "/asterisk/ping", timeout=timeout))

    async def info(self, only: str | Sequence[str] | None = None) -> AsteriskInfo:
        """only: any of build, system, config, status."""
        return AsteriskInfo.from_json(await self._rest.request("GET", "/asterisk/info", params={"only": only}))


class PlaybacksApi:
    def __init__(self, rest: AriRest) -> None:
        self._rest = rest

    async def get(self, playback_id: str) -> Playback:
        return Playback.from_json(await self._rest.request("GET", f"/playbacks/{seg(playback_id)}"))

    async def stop(self, playback_id: str) -> None:
        await self._rest.request("DELETE", f"/playbacks/{seg(playback_id)}")
