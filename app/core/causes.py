"""Map how an originated call failed (Q.850 hang-up cause, Dial status) to an attempt outcome.

Busy (17) is the customer's line being busy; no answer (18, 19, NOANSWER, a timeout) means
nobody picked up; everything else (rejected 21, unallocated 1, congestion 34/42, unavailable…)
is a failure. Answered calls never come through here.

For agents' legs, a cause saying the agent's phone cannot be reached at all (no route 3,
subscriber absent 20 — an unregistered endpoint —, destination out of order 27) is not the
agent refusing: they are marked unreachable until their phone registers again.
"""

from __future__ import annotations

from app.core.states import AttemptOutcome

BUSY_CAUSES = frozenset({17})
NO_ANSWER_CAUSES = frozenset({18, 19})
UNREACHABLE_CAUSES = frozenset({3, 20, 27})

_DIAL_STATUS = {
    "BUSY": AttemptOutcome.BUSY,
    "NOANSWER": AttemptOutcome.NO_ANSWER,
    "CANCEL": AttemptOutcome.NO_ANSWER,
    "CONGESTION": AttemptOutcome.FAILED,
    "CHANUNAVAIL": AttemptOutcome.FAILED,
}


def outcome_for(cause: int | None = None, dial_status: str | None = None) -> AttemptOutcome:
    if dial_status:
        mapped = _DIAL_STATUS.get(dial_status.upper())
        if mapped is not None:
            return mapped
    if cause in BUSY_CAUSES:
        return AttemptOutcome.BUSY
    if cause in NO_ANSWER_CAUSES:
        return AttemptOutcome.NO_ANSWER
    return AttemptOutcome.FAILED


def endpoint_unreachable(cause: int | None) -> bool:
    """Whether a failed leg's cause says the phone itself cannot be reached (not a refusal)."""
    return cause in UNREACHABLE_CAUSES


def silence_after_greeting(amd_cause: str | None) -> float | None:
    """Seconds of silence Asterisk's AMD() heard after a person's greeting before it said HUMAN:
    its AMDCAUSE is "HUMAN-<silence ms>-<after_greeting_silence ms>". None for any other verdict
    (a machine, NOTSURE's "TOOLONG-<ms>": no greeting end heard) or a cause it cannot read."""
    parts = (amd_cause or "").split("-")
    if len(parts) != 3 or parts[0] != "HUMAN" or not parts[1].isdigit():
        return None
    return int(parts[1]) / 1000
