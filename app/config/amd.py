"""Answering-machine detection tuning: a campaign's `amd_tuning:` section.

Theory of operation: Asterisk's AMD() decides HUMAN / MACHINE / NOTSURE from the first seconds of
audio after the answer (silence before the greeting, the greeting's length and number of words,
silence after it). Its nine parameters are written here as the rest of the config writes times
(durations like "2.5s" or "0.05s"), and travel to the call as one channel variable,
HOLDFAST_AMD_ARGS, which the [holdfast-amd] dialplan passes on as `AMD(${HOLDFAST_AMD_ARGS})`.
A parameter left out is an empty argument there, so Asterisk's amd.conf value applies; a campaign
that tunes nothing sends no variable at all. The bench (bench/amd, docs/bench-amd.md) measures
the default and some alternatives on synthetic greetings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, model_validator
from pydantic_core import PydanticCustomError

from app.config.durations import DurationError, format_duration, parse_duration

__all__ = ["AFTER_GREETING_SILENCE_MAX_MS", "AMD_ARGS_VARIABLE", "AMD_PARAMETERS", "AmdTuning", "amd_variables"]

DEFAULT_TOTAL_ANALYSIS_MS = 5000  # Asterisk's amd.conf default for total_analysis_time
DEFAULT_AFTER_GREETING_SILENCE_MS = 800  # and for after_greeting_silence (asterisk-conf/amd.conf keeps it)
# A contact hears an agent within 2 s of the end of their greeting, and AMD() says HUMAN only this
# long after it: at most 1.5 s leaves an auto-answered agent 0.5 s (amd.conf's default is 0.8 s).
AFTER_GREETING_SILENCE_MAX_MS = 1500
AMD_ARGS_VARIABLE = "HOLDFAST_AMD_ARGS"  # read by [holdfast-amd] in asterisk-conf/extensions.conf

# AMD()'s positional arguments, in its order (Asterisk's app_amd), with the YAML key of each.
AMD_PARAMETERS: tuple[str, ...] = (
    "initial_silence",  # longest silence before the greeting; longer: MACHINE
    "greeting",  # longest greeting; longer: MACHINE
    "after_greeting_silence",  # silence after the greeting that means HUMAN
    "total_analysis_time",  # no decision by then: NOTSURE
    "min_word_length",  # shortest sound that counts as a word
    "between_words_silence",  # shortest silence that separates two words
    "maximum_number_of_words",  # more words than this: MACHINE
    "silence_threshold",  # average sample level (0-32767) below which a frame is silence
    "maximum_word_length",  # a longer word: MACHINE
)


def _bad(reason: str) -> PydanticCustomError:
    return PydanticCustomError("holdfast", "{reason}", {"reason": reason})


def _milliseconds(lo: float, hi: float) -> Callable[[object], int | None]:
    """A duration in seconds (or "0.8s"), kept as whole milliseconds as AMD() takes them."""

    def check(value: object) -> int | None:
        if value is None:
            return None
        try:
            seconds = parse_duration(value)
        except DurationError as e:
            raise _bad(str(e)) from None
        if not lo <= seconds <= hi:
            raise _bad(f"allowed {format_duration(lo)} to {format_duration(hi)}")
        return round(seconds * 1000)

    return check


def _count(lo: int, hi: int) -> Callable[[object], int | None]:
    def check(value: object) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad("expected a whole number")
        if not lo <= value <= hi:
            raise _bad(f"allowed {lo}-{hi}")
        return value

    return check


Ms = Annotated[int | None, PlainValidator(_milliseconds(0.01, 60.0))]


class AmdTuning(BaseModel):
    """AMD() parameters of one campaign, in milliseconds (None: amd.conf's value)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_silence: Ms = None
    greeting: Ms = None
    after_greeting_silence: Ms = None
    total_analysis_time: Annotated[int | None, PlainValidator(_milliseconds(0.5, 60.0))] = None
    min_word_length: Ms = None
    between_words_silence: Ms = None
    maximum_number_of_words: Annotated[int | None, PlainValidator(_count(1, 50))] = None
    silence_threshold: Annotated[int | None, PlainValidator(_count(1, 32767))] = None
    maximum_word_length: Ms = None

    @model_validator(mode="before")
    @classmethod
    def _empty_is_defaults(cls, data: Any) -> Any:
        return {} if data is None else data  # "amd_tuning:" with nothing under it

    def analysis_time(self) -> float:
        """The longest AMD() listens after the answer, in seconds: the tuned total_analysis_time,
        else Asterisk's default (amd.conf's own, which the sandbox keeps)."""
        ms = self.total_analysis_time
        return (ms if ms is not None else DEFAULT_TOTAL_ANALYSIS_MS) / 1000

    def silence_before_human(self) -> float:
        """How long after a person's greeting AMD() says HUMAN, in seconds: the tuned
        after_greeting_silence, else amd.conf's default."""
        ms = self.after_greeting_silence
        return (ms if ms is not None else DEFAULT_AFTER_GREETING_SILENCE_MS) / 1000

    def dial_arguments(self) -> str:
        """AMD()'s argument list ("2500,1500,,5000" …); "" when nothing is tuned."""
        values = [getattr(self, name) for name in AMD_PARAMETERS]
        if all(v is None for v in values):
            return ""
        return ",".join("" if v is None else str(v) for v in values).rstrip(",")


def amd_variables(amd: bool, dial_arguments: str) -> dict[str, str]:
    """Channel variables of a customer call: the tuning, for calls that run detection and tune it."""
    return {AMD_ARGS_VARIABLE: dial_arguments} if amd and dial_arguments else {}
