"""Turn the engine's prompt items into ARI media URIs.

Prompt names are the engine's keys (`callback_offer`, `closed`…). Each maps to a recording, first
found wins:

1. the admin's override for the name (config `prompts.overrides`; `-` and `_` are the same);
2. a file named after the prompt in the admin's folder (config `prompts.dir`, checked in
   `dir/<language>/` first, then `dir/`);
3. Holdfast's shipped recording, `prompts/<language>/<name>.ulaw` (made by
   scripts/make-prompts.sh from prompts/<language>/prompts.txt); `en` and `da` are shipped, and a
   regional code without its own folder uses its base language's (`da_DK` -> `da`);
4. a stock Asterisk sound (`STOCK`), so a fresh install never plays silence, whatever the
   language; a name Holdfast does not know is played as the Asterisk sound of that name.

Every shipped prompt has a stock fallback, and a stock fallback asks only for what the engine
takes at that step (the offer says "press" + its key, the choose step "press 1 … press 2 …").

Values become Asterisk's own say-URIs (`digits:`, `number:`). An indication tone is the item
`PromptItem("tone", "ring")`, played as ARI's `tone:ring` (any indication of the channel's tone
zone: ring, busy, congestion…, or a tone string; `"ring;tonezone=dk"` picks the zone). A tone
never ends by itself: stop it with StopPrompt (BridgeLegs stops one still playing on its legs).
`ringback` is such a tone by name (`TONES`): `tone:ring`, played until stopped; an override or a
file of that name replaces it.

A prompt that frames a value is recorded in two parts so any language can put words on both
sides of it: `position` + digits + `position_tail`, `estimated_wait` + minutes +
`estimated_wait_tail` (`…_tail_one` for 1 minute), `callback_offer` + its key (the item's own
value) + `callback_offer_tail`, and `dialler_information` + the campaign's number to call back
(the item's own value) + `dialler_information_tail`. Each part is replaceable on its own. The
engine may name another tail of the same family right after the value
(`callback_offer_tail_no_place`): it is played instead of the usual one. A named item not in
`TAILS` plays alone, its value unsaid: a campaign's own `information_prompt` recording says its
own number; so does an admin's `dialler_information` without a `dialler_information_tail` of
their own (`WHOLE_WHEN_ALONE`).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.commands import PromptItem

if TYPE_CHECKING:
    from app.config.schema import PromptsConfig

# The repository's shipped recordings (prompts/<language>/<name>.ulaw).
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "prompts"

AUDIO_SUFFIXES = (".ulaw", ".ul", ".mu", ".alaw", ".al", ".sln", ".wav", ".gsm", ".g722", ".sln16")

# Stock Asterisk sounds (Asterisk's core sounds; their text in the comments) used when no Holdfast
# recording exists for a prompt, e.g. in a language Holdfast ships no recordings for. One for
# every name in prompts/en/prompts.txt (tests/telephony/test_prompts_languages.py). A menu prompt must
# not ask for keys the engine reads otherwise: the choose step takes its first key as the choice.
STOCK: dict[str, tuple[str, ...]] = {
    "closed": ("sound:vm-goodbye",),
    # "press" + the queue's key ("vm-tocallback" would say "press 2 to call the person who sent
    # this message" whatever the key is).
    "callback_offer": ("sound:vm-press",),
    "callback_offer_tail": (),
    "callback_offer_tail_no_place": (),
    # "press 1 to call this number", "press 2 to enter a different number": the menu's own keys.
    "callback_choose_number": ("sound:vm-tocallnum", "sound:vm-calldiffnum"),
    # "please enter the number you wish to call", "then press pound": heard after 2 was pressed.
    "callback_enter_number": ("sound:vm-enter-num-to-call", "sound:vm-then-pound"),
    "callback_number_invalid": ("sound:invalid",),
    "callback_unavailable": ("sound:sorry",),
    "callback_confirmed": ("sound:auth-thankyou", "sound:vm-goodbye"),
    "callback_confirmed_no_place": ("sound:auth-thankyou", "sound:vm-goodbye"),
    "callback_whisper": ("sound:beep",),
    "callback_customer_unreachable": ("sound:im-sorry",),
    "callback_customer_unreachable_final": ("sound:im-sorry", "sound:vm-goodbye"),
    "ringback": ("tone:ring",),
    "position": ("sound:queue-thereare",),  # "You are currently caller number"
    "position_tail": ("sound:queue-callswaiting",),  # "waiting to speak to a representative"
    "estimated_wait": ("sound:queue-holdtime",),
    "estimated_wait_tail": ("sound:queue-minutes",),
    "estimated_wait_tail_one": ("sound:queue-minute",),
    "agent_ready": ("sound:agent-loginok",),
    "agent_paused": ("sound:beep",),
    "agent_logged_out": ("sound:agent-loggedoff",),
    "wrap_up_extended": ("sound:beep",),  # the extension code's confirmation, as a pause's
    "not_in_service": ("sound:ss-noservice",),
    "voicemail_message": ("sound:vm-goodbye",),
    "recording_notice": ("sound:conf-now-recording",),  # "…is now being recorded"
    # An abandoned dialler contact: "Hello." "We're sorry." "Nobody is available to take your call
    # at the moment." "Please try your call again later." "Telephone number." + the campaign's
    # information_number + "Goodbye". It gives a number to call back but not who called, which
    # the regulators' information message also needs: record the head where one is required
    # (campaign information_prompt or prompts.overrides, docs/prompts.md).
    "dialler_information": (
        "sound:hello",
        "sound:sorry",
        "sound:vm-nobodyavail",
        "sound:please-try-call-later",
        "sound:telephone-number",
    ),
    "dialler_information_tail": ("sound:vm-goodbye",),
    # The agent, when the contact did not answer (or a machine, busy, failed): "I'm sorry."
    # "The number is not answering."
    "dialler_contact_unreachable": ("sound:im-sorry", "sound:number-not-answering"),
}

# Items that carry a value to be spoken rather than a recording's name.
VALUE_ITEMS = ("digits", "number", "minutes", "count", "tone")
# Named items played as Asterisk tones (until stopped) rather than recordings.
TONES = frozenset({"ringback"})
# Prompts recorded as head + value + tail.
TAILS = {
    "position": "position_tail",
    "estimated_wait": "estimated_wait_tail",
    "callback_offer": "callback_offer_tail",
    # a campaign's information message + the number to call back (its own value)
    "dialler_information": "dialler_information_tail",
}
# Heads once recorded as whole messages: an admin's head (override or own folder) without an
# equally close tail of its own is taken as the whole message, said alone (recorded before the
# message framed a number, it already says one).
WHOLE_WHEN_ALONE = frozenset({"dialler_information"})


def _key(name: str) -> str:
    return name.replace("-", "_")


def _recordings(folder: Path, inner: str) -> dict[str, str]:
    """Prompt name -> sound URI for the audio files directly in `folder` (seen as `inner`)."""
    if not folder.is_dir():
        return {}
    return {
        _key(f.stem): f"sound:{inner.rstrip('/')}/{f.stem}"
        for f in sorted(folder.iterdir())
        if f.suffix in AUDIO_SUFFIXES and f.is_file()
    }


def shipped_language(language: str, shipped_dir: Path = SHIPPED_DIR) -> str | None:
    """The folder of `shipped_dir` holding the recordings for `language` (`service.language`):
    its own (`da`, `en`), else its base language's (`da_DK` -> `da`); None when none is shipped,
    and then every prompt is a stock Asterisk sound."""
    for folder in dict.fromkeys((language, language.split("_")[0])):
        if folder and (shipped_dir / folder).is_dir():
            return folder
    return None


class PromptBook:
    def __init__(
        self,
        shipped_dir: Path | None = None,
        language: str = "en",
        overrides: Mapping[str, str] | None = None,
        asterisk_path: str | None = None,
        prompts_dir: str | None = None,
    ) -> None:
        """`shipped_dir` is where Holdfast's recordings are on this host; `asterisk_path` is the
        same folder as Asterisk sees it (they differ when Asterisk runs in a chroot).
        `overrides` map prompt names to files without extension (relative ones are inside
        `prompts_dir` when given, else in Asterisk's sounds folder); `prompts_dir` is the admin's
        folder, read on this host and handed to Asterisk under the same path."""
        self.shipped_dir = shipped_dir
        self.asterisk_path = asterisk_path
        self._overrides: dict[str, str] = {}
        for name, path in (overrides or {}).items():
            if prompts_dir and not path.startswith("/"):
                path = f"{prompts_dir.rstrip('/')}/{path}"
            self._overrides[_key(name)] = f"sound:{path}"
        self._admin: dict[str, str] = {}
        if prompts_dir:
            # Language subfolder first so it wins over the folder's own files.
            for sub in (language, ""):
                base = Path(prompts_dir) / sub if sub else Path(prompts_dir)
                for name, uri in _recordings(base, str(base)).items():
                    self._admin.setdefault(name, uri)
        self._shipped: dict[str, str] = {}
        folder = shipped_language(language, shipped_dir) if shipped_dir is not None else None
        if shipped_dir is not None and folder is not None:
            inner = f"{(asterisk_path or str(shipped_dir)).rstrip('/')}/{folder}"
            self._shipped = _recordings(shipped_dir / folder, inner)

    @classmethod
    def from_config(
        cls,
        prompts: PromptsConfig,
        language: str = "en",
        shipped_dir: Path | None = SHIPPED_DIR,
        asterisk_path: str | None = None,
    ) -> PromptBook:
        """The book for config `prompts:` and `service.language`, over the shipped recordings."""
        return cls(shipped_dir, language, prompts.overrides, asterisk_path, prompts.dir)

    def media(self, items: tuple[PromptItem, ...]) -> list[str]:
        uris: list[str] = []
        i = 0
        while i < len(items):
            item = items[i]
            i += 1
            if item.name in VALUE_ITEMS:
                uris.extend(self._value(item))
                continue
            uris.extend(self.named(item.name))
            tail = TAILS.get(_key(item.name))
            if tail is None:
                continue
            if _key(item.name) in WHOLE_WHEN_ALONE and self._rank(_key(item.name)) < self._rank(tail):
                continue
            # The framed value is the item's own (offer key) or the item right after it.
            value: PromptItem | None = None
            if item.value is not None:
                value = PromptItem("digits", item.value)
            elif i < len(items) and items[i].name in VALUE_ITEMS:
                value = items[i]
                i += 1
            if value is not None:
                uris.extend(self._value(value))
                # Another tail of the same family named right after the value replaces the usual one.
                if i < len(items) and _key(items[i].name).startswith(f"{tail}_"):
                    tail = _key(items[i].name)
                    i += 1
                    uris.extend(self.named(tail))
                    continue
                # "1 minute": only from a source at least as close to the admin as the tail's.
                one = f"{tail}_one"
                if value.name == "minutes" and str(value.value) == "1" and self._rank(one) <= self._rank(tail):
                    tail = one
            uris.extend(self.named(tail))
        return uris

    def named(self, name: str) -> list[str]:
        key = _key(name)
        for table in self._tables():
            if key in table:
                return [table[key]]
        if key in STOCK:
            return list(STOCK[key])
        # Not a Holdfast prompt: the admin named a file (voicemail_message: custom/msg) or a stock
        # Asterisk sound (vm-goodbye); Asterisk resolves both.
        return [f"sound:{name}"]

    def _tables(self) -> tuple[dict[str, str], ...]:
        return (self._overrides, self._admin, self._shipped)

    def _rank(self, name: str) -> int:
        """Where `name` comes from: 0 override, 1 admin's folder, 2 shipped, 3 stock, 4 nowhere."""
        tables = self._tables()
        found = [i for i, table in enumerate(tables) if name in table]
        return found[0] if found else len(tables) + (name not in STOCK)

    @staticmethod
    def _value(item: PromptItem) -> list[str]:
        if item.value is None or str(item.value) == "":
            return []
        value = str(item.value)
        if item.name == "number":
            return [f"digits:{value.lstrip('+')}"]
        if item.name in ("minutes", "count"):  # spoken as a number: "twelve", not "one two"
            return [f"number:{value}"]
        if item.name == "tone":  # an indication, e.g. ringing while a call is being placed
            return [f"tone:{value}"]
        return [f"digits:{value}"]


def install_prompts(target_dir: Path, source: Path = SHIPPED_DIR) -> None:
    """Copy the shipped recordings (`<lang>/<name>.ulaw`) into `target_dir`, e.g. a chrooted
    Asterisk's `sounds_dir`; then use `PromptBook(target_dir, asterisk_path=<same dir inside>)`."""
    for folder in source.iterdir():
        if folder.is_dir():
            shutil.copytree(folder, target_dir / folder.name, dirs_exist_ok=True)
