"""The kinds of validation error every settings section raises, so the loader words them alike:
`bad` prints '<path> is <value>; <reason>', `bad_plain` '<path> <reason>' (the value is not shown,
e.g. a secret), `bad_key` '<path>.<key> <reason>' (a mapping's check that names one of its keys)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import ValidationInfo
from pydantic_core import PydanticCustomError

# Validation context of a campaign definition read back from the store (an API campaign): a rule
# added since it was stored does not refuse it, as an upgrade must not stop the service on it.
STORED_DEFINITION = "stored_definition"


def bad(reason: str) -> PydanticCustomError:
    """An error printed as '<path> is <value>; <reason>'."""
    return PydanticCustomError("holdfast", "{reason}", {"reason": reason})


def bad_plain(reason: str) -> PydanticCustomError:
    """An error printed as '<path> <reason>' (the value is not shown)."""
    return PydanticCustomError("holdfast_plain", "{reason}", {"reason": reason})


def bad_key(key: str, reason: str) -> PydanticCustomError:
    """An error about one key of the mapping being validated, printed as '<path>.<key> <reason>'
    (for checks across several keys, raised by the mapping's model)."""
    return PydanticCustomError("holdfast_key", "{reason}", {"key": key, "reason": reason})


def one_of(allowed: Sequence[str], noun: str) -> Callable[[object], str]:
    """A value that must be one of `allowed`; the error lists them as 'allowed <noun>: a, b'."""

    def check(value: object) -> str:
        if value not in allowed:
            raise bad(f"allowed {noun}: {', '.join(allowed)}")
        return str(value)

    return check


def stored_definition(info: ValidationInfo) -> bool:
    """Whether the value is validated as part of a definition the store kept (STORED_DEFINITION)."""
    return bool((info.context or {}).get(STORED_DEFINITION))
