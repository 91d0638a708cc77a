"""The vocabulary of states and outcomes shared by the engine, the store and the web page."""

from enum import StrEnum


class AgentState(StrEnum):
    LOGGED_OFF = "logged_off"
    READY = "ready"
    RINGING = "ringing"
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class RequestKind(StrEnum):
    INBOUND = "inbound"  # a caller on the line
    CALLBACK = "callback"  # we call the customer back
    CONTACT = "contact"  # one dial of a campaign's contact (dialler)


class RequestState(StrEnum):
    WAITING = "waiting"  # in the queue, holding a place (caller on hold, or callback due)
    QUARANTINE = "quarantine"  # callback between attempts, out of the queue
    RINGING_AGENT = "ringing_agent"
    WHISPER = "whisper"  # callback: agent answered and hears who is called
    DIALLING_CUSTOMER = "dialling_customer"
    CONNECTING = "connecting"  # power: the contact answered and waits (briefly) for an agent
    CONNECTED = "connected"
    ENDED = "ended"


class Outcome(StrEnum):
    """How a request ended."""

    SERVED = "served"  # talked to an agent (or a voicemail took the callback)
    ABANDONED = "abandoned"  # caller hung up while waiting
    CLOSED = "closed"  # still waiting too long after the queue closed
    EXPIRED = "expired"  # callback older than max_age
    REMOVED = "removed"  # removed by an admin
    MISSED = "missed"  # callback attempts exhausted
    DROPPED = "dropped"  # the call vanished (e.g. Asterisk restarted)
    SKIPPED = "skipped"  # dialler: the agent skipped the contact before it was dialled
    RETURNED = "returned"  # dialler: the contact went back to the list unattempted (agent trouble, restart)
    TICKET = "ticket"  # callback.mode ticket: a ticket asks staff to call back (no call placed by Holdfast)


class AttemptOutcome(StrEnum):
    ANSWERED = "answered"
    VOICEMAIL = "voicemail"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    MACHINE = "machine"  # dialler: an answering machine (AMD)
    INVALID = "invalid"  # dialler: the network says the number does not exist
    ABANDONED = "abandoned"  # dialler: answered, but no agent within CONNECT_WITHIN
    AGENT_NO_ANSWER = "agent_no_answer"  # not the customer's fault: not counted
    INTERRUPTED = "interrupted"  # service or Asterisk went away mid-attempt: not counted

    @property
    def counts(self) -> bool:
        return self not in (AttemptOutcome.AGENT_NO_ANSWER, AttemptOutcome.INTERRUPTED)


class Refusal(StrEnum):
    """Why a number may not be called back; used in prompts and statistics."""

    HIDDEN = "hidden"
    INVALID = "invalid"
    FOREIGN = "foreign"
    PREMIUM_RATE = "premium_rate"
    SHARED_COST = "shared_cost"
    TOLL_FREE = "toll_free"
    VOIP = "voip"
    TYPE_NOT_ALLOWED = "type_not_allowed"
    BLOCKED = "blocked"
    DAILY_LIMIT = "daily_limit"  # callback.max_per_number_per_day promised already (app/core/promise_log.py)
    CALLBACK_IN_PROGRESS = "callback_in_progress"  # a callback to the number is being served right now
