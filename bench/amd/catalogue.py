"""The shipped synthetic greetings (bench/amd/greetings/, made by make-greetings.sh from
greetings.txt) and how the phone simulator plays one: answer, then the greeting followed by 10 s of
line (silence, or the hiss of a noisy greeting) so RTP flows while AMD() listens, as a real line's
does. Used by the bench (bench/amd) and tests/e2e/test_amd.py."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

GREETINGS_DIR = Path(__file__).resolve().parent / "greetings"
SOUNDS_SUBDIR = "amd"  # under the simulator Asterisk's sounds directory
BYTES_PER_SECOND = 8000  # 8 kHz mu-law


@dataclass(frozen=True)
class Greeting:
    name: str
    truth: Literal["person", "machine"]
    noisy: bool
    seconds: float  # length of the file (lead silence, speech, tone), without the tail

    @property
    def tail(self) -> str:
        return "tail_noise" if self.noisy else "tail_silence"


def greetings() -> list[Greeting]:
    out: list[Greeting] = []
    for path in sorted(GREETINGS_DIR.glob("*.ulaw")):
        name = path.stem
        if name.startswith("tail_"):
            continue
        truth: Literal["person", "machine"] = "person" if name.startswith("person_") else "machine"
        out.append(Greeting(name, truth, name.endswith("_noise"), path.stat().st_size / BYTES_PER_SECOND))
    if not out:
        raise FileNotFoundError(f"no greetings in {GREETINGS_DIR}; run bench/amd/make-greetings.sh")
    return out


def by_name(name: str) -> Greeting:
    (found,) = [g for g in greetings() if g.name == name]
    return found


class _Instance(Protocol):  # app.sandbox.AsteriskInstance, without importing it here
    @property
    def sounds_dir(self) -> Path: ...

    def sound_uri(self, name: str) -> str: ...


def install(phonesim: _Instance) -> None:
    """Copy the greetings where the simulator Asterisk can play them."""
    dest = phonesim.sounds_dir / SOUNDS_SUBDIR
    dest.mkdir(parents=True, exist_ok=True)
    for path in GREETINGS_DIR.glob("*.ulaw"):
        shutil.copyfile(path, dest / path.name)


def media(phonesim: _Instance, greeting: Greeting) -> list[str]:
    return [
        phonesim.sound_uri(f"{SOUNDS_SUBDIR}/{greeting.name}"),
        phonesim.sound_uri(f"{SOUNDS_SUBDIR}/{greeting.tail}"),
    ]


async def answer_with(call: object, phonesim: _Instance, greeting: Greeting) -> None:
    """Answer a simulator call (tests/e2e/phonesim.SimCall) without music and play the greeting."""
    await call.answer(moh=False)  # type: ignore[attr-defined]
    await call.sim.ari.post(f"/channels/{call.id}/play", media=media(phonesim, greeting))  # type: ignore[attr-defined]
