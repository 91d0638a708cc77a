"""The API's bodies and answers as pydantic models: the validation and the OpenAPI schemas.

Theory of operation: request bodies are strict (no "5" for 5, no 1.0 for 1, no null for text),
bounded (a priority of 2**63 or a reason of a megabyte is refused, not stored) and closed (an
unknown key is an error, so a typo such as "priorty" is not silently ignored). Answers are built
through their models too, so the published document cannot drift from what is sent.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# Limits: generous for people and CRMs, small enough that nothing can flood the store or the logs.
PRIORITY_MIN, PRIORITY_MAX = -1000, 1000
MAX_NAME = 64  # queue names, who did it
MAX_NUMBER = 32  # E.164 has at most 15 digits; room for spaces and a leading +
MAX_REASON = 500


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


QueueName = Annotated[str, Field(min_length=1, max_length=MAX_NAME, description="a queue name from the settings")]
By = Annotated[str, Field(min_length=1, max_length=MAX_NAME, description="who made the change (for the admin log)")]
Reason = Annotated[str, Field(max_length=MAX_REASON, description="why (for the admin log)")]


class CallbackRequestBody(Body):
    """Ask for a callback (web form, CRM); it joins the end of the queue."""

    queue: QueueName
    number: Annotated[str, Field(min_length=1, max_length=MAX_NUMBER, description='"+4520123456" or a local number')]
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


class AgentActionBody(Body):
    """Optional body of an agent action; `reason` is used by pause."""

    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON, description="pause reason")] = "break"


# --- answers --------------------------------------------------------------------------------------


class Problem(BaseModel):
    field: str = Field(description='dotted path in the body, or "body" for the body as a whole')
    problem: str


class ErrorAnswer(BaseModel):
    error: str = Field(description="what went wrong and what to do, in one sentence")
    problems: list[Problem] | None = Field(default=None, description="one entry per invalid field (400/422)")
    reason: str | None = Field(default=None, description="why a number was refused (422 from POST /api/callbacks)")


class CallbackView(BaseModel):
    request_id: str
    queue: str
    state: str
    position: int | None
    number: str | None
    requested_at: float | None
    attempts: int
    not_before: float | None = Field(description="end of the quarantine between attempts, if still ahead")
    gross_wait: float


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


class AgentList(BaseModel):
    agents: list[AgentView]


class WaitingView(BaseModel):
    request_id: str
    position: int
    kind: str
    number: str | None
    gross_wait: float
    net_wait: float
    estimated_wait: float


class QueueView(BaseModel):
    name: str
    display_name: str
    open: bool
    waiting: list[WaitingView]


class QueueList(BaseModel):
    queues: list[QueueView]


class Health(BaseModel):
    ari: str = Field(description='"connected" or "disconnected"')
    problems: list[str] = Field(default_factory=list, description="why the service cannot work now (503)")
    error: str | None = Field(default=None, description="the problems in one sentence (503)")


class ReloadResult(BaseModel):
    applied: bool
    restart_needed: list[str] = Field(
        default_factory=list, description="changed settings that only take effect after a restart"
    )
    error: str | None = Field(default=None, description="why the file was refused (400)")
