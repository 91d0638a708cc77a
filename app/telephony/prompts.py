"""Turn the engine's prompt items into ARI media URIs.

Prompt names are the engine's keys (`callback_offer`, `closed`…). Each maps to a recording:
the admin's override from the config first, then Holdfast's shipped recording for the
language, then a stock Asterisk sound so a fresh install never plays silence. Values become
Asterisk's own say-URIs (`digits:`, `number:`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from app.core.commands import PromptItem

# Stock Asterisk sounds used when no Holdfast recording exists for a prompt.
STOCK: dict[str, tuple[str, ...]] = {
    "closed": ("sound:vm-goodbye",),
    "callback_offer": ("sound:queue-callswaiting",),
    "callback_choose_number": ("sound:vm-enter-num-to-call",),
    "callback_enter_number": ("sound:vm-enter-num-to-call",),
    "callback_number_invalid": ("sound:invalid",),
    "callback_unavailable": ("sound:sorry",),
    "callback_confirmed": ("sound:auth-thankyou", "sound:vm-goodbye"),
    "callback_whisper": ("sound:beep",),
    "position": ("sound:queue-youarenext",),
    "estimated_wait": ("sound:queue-holdtime",),
    "agent_ready": ("sound:agent-loginok",),
    "agent_paused": ("sound:beep",),
    "agent_logged_out": ("sound:agent-loggedoff",),
    "not_in_service": ("sound:ss-noservice",),
}


class PromptBook:
    def __init__(
        self,
        shipped_dir: Path | None = None,
        language: str = "en",
        overrides: Mapping[str, str] | None = None,
        asterisk_path: str | None = None,
    ) -> None:
        """`shipped_dir` is where Holdfast's recordings are on this host; `asterisk_path` is the
        same folder as Asterisk sees it (they differ when Asterisk runs in a chroot)."""
        self._overrides = {k.replace("-", "_"): v for k, v in (overrides or {}).items()}
        self._shipped: dict[str, str] = {}
        if shipped_dir is not None:
            folder = shipped_dir / language
            inner = f"{asterisk_path or shipped_dir}/{language}"
            if folder.is_dir():
                for file in folder.iterdir():
                    if file.suffix in (".ulaw", ".wav", ".gsm", ".sln"):
                        self._shipped[file.stem] = f"sound:{inner}/{file.stem}"

    def media(self, items: tuple[PromptItem, ...]) -> list[str]:
        uris: list[str] = []
        for item in items:
            if item.name == "digits":
                uris.append(f"digits:{item.value}")
            elif item.name in ("number", "minutes"):
                value = str(item.value or "")
                uris.append(f"digits:{value.lstrip('+')}" if item.name == "number" else f"number:{value}")
            else:
                uris.extend(self.named(item.name))
        return uris

    def named(self, name: str) -> list[str]:
        if name in self._overrides:
            return [f"sound:{self._overrides[name]}"]
        if name in self._shipped:
            return [self._shipped[name]]
        return list(STOCK.get(name, ("sound:beep",)))
