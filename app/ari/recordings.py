"""Typed wrappers for /recordings/stored: the files Asterisk keeps in its recording spool (and
whether one is being recorded now, /recordings/live).

ARI's StoredRecording has a name and a format only (no size, no time); the file itself is read
from /recordings/stored/{name}/file, streamed so a long call is never held in memory whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from app.ari.errors import AriNotFound
from app.ari.rest import AriRest, seg

CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class StoredRecording:
    name: str
    format: str


class RecordingsApi:
    def __init__(self, rest: AriRest) -> None:
        self._rest = rest

    async def stored(self, name: str) -> StoredRecording:
        """Raises AriNotFound (404) once the recording is gone."""
        data = await self._rest.request("GET", f"/recordings/stored/{seg(name)}")
        return StoredRecording(str(data.get("name", name)), str(data.get("format", "")))

    async def is_live(self, name: str) -> bool:
        """Whether a recording of this name is being made now (GET /recordings/live/{name})."""
        try:
            await self._rest.request("GET", f"/recordings/live/{seg(name)}")
        except AriNotFound:
            return False
        return True

    async def list_stored(self) -> list[StoredRecording]:
        """Every recording in the spool (Asterisk reads its directory: not for every request)."""
        data = await self._rest.request("GET", "/recordings/stored")
        return [StoredRecording(str(r.get("name", "")), str(r.get("format", ""))) for r in data or []]

    async def delete_stored(self, name: str) -> None:
        await self._rest.request("DELETE", f"/recordings/stored/{seg(name)}")

    async def stored_file(self, name: str) -> AsyncIterator[bytes]:
        """The file's bytes, a chunk at a time; AriNotFound before the first chunk if it is gone."""
        async for chunk in self._rest.stream("GET", f"/recordings/stored/{seg(name)}/file", CHUNK):
            yield chunk
