"""The API's bodies and answers as pydantic models: the validation and the OpenAPI schemas.

Theory of operation: request bodies are strict (no "5" for 5, no 1.0 for 1, no null for text),
bounded (a priority of 2**63 or a reason of a megabyte is refused, not stored) and closed (an
unknown key is an error, so a typo such as "priorty" is not silently ignored). Free text is one
line of printable text (`Line`): a control character (NUL, a tab, a line break, ...) is refused
with 422 naming the field. PostgreSQL cannot store NUL at all, and a reason or a name is shown
on one line in the admin log, the live page and the CSV exports. Answers are built
through their models too, so the published document cannot drift from what is sent.

In answers, instants are ISO 8601 text in UTC (`Timestamp`, see `app/web/times.py`) with the epoch
seconds beside them in a `*_epoch` field; waits and estimates are seconds; an estimate that
cannot be made is null.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from app.core.agents import WRAP_UP_EXTENSION_STEP

# Limits: generous for people and CRMs, small enough that nothing can flood the store or the logs.
PRIORITY_MIN, PRIORITY_MAX = -1000, 1000
MAX_NAME = 64  # queue names, who did it
MAX_NUMBER = 32  # E.164 has at most 15 digits; room for spaces and a leading +
MAX_REASON = 500


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def control_problem(text: str) -> str | None:
    """Why `text` cannot be one line of free text (None: it can): the first control character."""
    found = _CONTROL.search(text)
    if found is None:
        return None
    return (
        f"must not contain control characters (NUL, tab, line break, ...); "
        f"found U+{ord(found.group()):04X} at character {found.start() + 1}"
    )


def _one_line(text: str) -> str:
    problem = control_problem(text)
    if problem is not None:
        raise PydanticCustomError("control_character", problem)
    return text


def controls_in(value: Any, path: str) -> list[tuple[str, str]]:
    """(dotted path, problem) for every text in a JSON value (keys too) with a control character."""
    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        problem = control_problem(value)
        if problem is not None:
            found.append((path, problem))
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            problem = control_problem(str(key))
            if problem is not None:
                found.append((where, "the key " + problem))
            found.extend(controls_in(item, where))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(controls_in(item, f"{path}.{i}"))
    return found


# One line of printable text: every free-text field of a body is one.
Line = AfterValidator(_one_line)


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


QueueName = Annotated[str, Field(min_length=1, max_length=MAX_NAME, description="a queue name from the settings"), Line]
By = Annotated[
    str, Field(min_length=1, max_length=MAX_NAME, description="who made the change (for the admin log)"), Line
]
Reason = Annotated[str, Field(max_length=MAX_REASON, description="why (for the admin log); one line"), Line]


class CallbackRequestBody(Body):
    """Ask for a callback (web form, CRM); it joins the end of the queue."""

    queue: QueueName
    number: Annotated[
        str, Field(min_length=1, max_length=MAX_NUMBER, description='"+4520123456" or a local number'), Line
    ]
    priority: Annotated[int, Field(ge=PRIORITY_MIN, le=PRIORITY_MAX, description="higher is served first")] = 0


class RemoveCallbackBody(Body):
    """Remove a waiting callback (recorded with who and why)."""

    by: By = "admin"
    reason: Reason = ""


class MoveCallbackBody(Body):
    """Move a waiting callback to another queue; its place is not kept."""

    queue: QueueName
    by: By = "admin"
    reason: Reason = ""


class PositionCallbackBody(Body):
    """Put a waiting callback at a position of its queue (1: first, served next); the others keep
    their order. Only in a keep_place queue (where place order is serving order)."""

    position: Annotated[int, Field(ge=1, le=100_000, description="1 is first; at most the number waiting")]
    by: By = "admin"
    reason: Reason = ""


class AgentActionBody(Body):
    """Optional body of an agent action; `reason` is used by pause."""

    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON, description="pause reason; one line"), Line] = (
        "break"
    )


class ExtendWrapUpBody(Body):
    """Optional body of POST /api/agents/{id}/extend."""

    seconds: Annotated[
        float,
        Field(
            gt=0,
            allow_inf_nan=False,
            description="how much longer the wrap-up lasts; more than the cap leaves is cut to what it leaves",
        ),
    ] = WRAP_UP_EXTENSION_STEP  # the extension code's step


# --- answers --------------------------------------------------------------------------------------

Timestamp = Annotated[
    str,
    Field(
        description="an instant, ISO 8601 in UTC with milliseconds",
        json_schema_extra={"format": "date-time", "examples": ["2026-12-04T14:03:05.123Z"]},
    ),
]
Epoch = Annotated[float, Field(description="the same instant in seconds since 1970-01-01 UTC")]
Seconds = Annotated[float, Field(description="a duration in seconds")]
Estimate = Annotated[
    float | None,
    Field(description="estimated wait until an agent takes it, in seconds; null when unknown (no agent serves it)"),
]


class Problem(BaseModel):
    field: str = Field(description='dotted path in the body, or "body" for the body as a whole')
    problem: str


class ErrorAnswer(BaseModel):
    error: str = Field(description="what went wrong and what to do, in one sentence")
    problems: list[Problem] | None = Field(default=None, description="one entry per invalid field (400/422)")
    reason: str | None = Field(default=None, description="why a number was refused (422 from POST /api/callbacks)")
    existing_request_id: str | None = Field(
        default=None, description="the request that already holds this number in the queue (409 duplicate)"
    )


class CallbackView(BaseModel):
    request_id: str
    queue: str
    state: str = Field(description='"waiting" (holding its place) or "quarantine" (between attempts)')
    position: int | None = Field(description="1-based place in the queue while waiting; null in quarantine")
    number: str | None
    requested_at: Timestamp | None = Field(description="when the callback was promised")
    requested_at_epoch: Epoch | None
    attempts: int
    not_before: Timestamp | None = Field(
        description="when the next attempt may start (callback_delay or quarantine), if still ahead; else null"
    )
    not_before_epoch: Epoch | None
    gross_wait: Seconds


class CallbackList(BaseModel):
    callbacks: list[CallbackView]


class AdminResult(BaseModel):
    request_id: str
    removed: bool
    callback: CallbackView | None = Field(default=None, description="the callback after a move")


class AgentView(BaseModel):
    id: str
    name: str
    state: str
    pause_reason: str | None
    reachable: bool
    request_id: str | None
    queues: list[str]


class WrapUpExtension(BaseModel):
    agent: AgentView
    granted: Seconds = Field(description="seconds added now: those asked for, or what the cap left if less")
    wrap_up_until: Timestamp = Field(description="the new end of the wrap-up")
    wrap_up_until_epoch: Epoch
    extension_left: Seconds = Field(
        description="how much more this wrap-up may still be extended (service.max_wrap_up_extension less "
        "the extensions granted); 0 when the cap is reached"
    )


class AgentList(BaseModel):
    agents: list[AgentView]


class WaitingView(BaseModel):
    request_id: str
    position: int
    kind: str = Field(description='"inbound" (on the line) or "callback"')
    number: str | None
    gross_wait: Seconds
    net_wait: Seconds
    estimated_wait: Estimate


REQUEST_STATES = (
    "waiting",
    "scheduled",
    "ringing_agent",
    "whisper",
    "dialling_customer",
    "connected",
    "quarantine",
)


class RequestView(BaseModel):
    """One active request of a queue, whatever it is doing."""

    request_id: str
    kind: str = Field(description='"inbound" (on the line) or "callback"')
    state: str = Field(
        description="waiting: holds its place; scheduled: a callback holding its place whose first "
        "attempt may not start before `not_before` (callback_delay); ringing_agent, whisper (the "
        "agent hears whom they call back), dialling_customer, connected: in service with `agent_id`; "
        "quarantine: a callback between attempts, back in the queue at `until`",
        json_schema_extra={"enum": list(REQUEST_STATES)},
    )
    position: int | None = Field(description="1-based place in the queue while waiting or scheduled; else null")
    number: str | None = Field(description="the number to call back, or the caller's number")
    priority: int
    agent_id: str | None = Field(description="the agent in service with it (ringing, whisper, dialling, connected)")
    attempts: int = Field(description="callback attempts counted so far (an agent not answering does not count)")
    arrived_at: Timestamp = Field(description="first arrival: the gross wait counts from here")
    arrived_at_epoch: Epoch
    gross_wait: Seconds = Field(description="seconds since the first arrival")
    net_wait: Seconds = Field(description="seconds since the last return to the queue (used for the SLA)")
    estimated_wait: Estimate = Field(description="while waiting or scheduled; null when unknown or not waiting")
    not_before: Timestamp | None = Field(description="scheduled: when its first attempt may start; else null")
    not_before_epoch: Epoch | None
    until: Timestamp | None = Field(description="quarantine: when it is back in the queue; else null")
    until_epoch: Epoch | None


class QueueView(BaseModel):
    name: str
    display_name: str
    open: bool
    waiting: list[WaitingView] = Field(description="requests holding a place, in place order (as before `requests`)")
    requests: list[RequestView] = Field(
        description="every active request: those holding a place in place order, then those in service, "
        "then those in quarantine"
    )


class QueueList(BaseModel):
    queues: list[QueueView]


class Health(BaseModel):
    ari: str = Field(description='"connected" or "disconnected"')
    problems: list[str] = Field(default_factory=list, description="why the service cannot work now (503)")
    error: str | None = Field(default=None, description="the problems in one sentence (503)")
    servers: dict[str, str] | None = Field(
        default=None,
        description='several Asterisk servers: each one "up" or "down"; a server down costs its own calls, '
        "the others serve on (200 while one is up)",
    )


class ReloadResult(BaseModel):
    applied: bool
    restart_needed: list[str] = Field(
        default_factory=list, description="changed settings that only take effect after a restart"
    )
    error: str | None = Field(default=None, description="why the file was refused (400)")
