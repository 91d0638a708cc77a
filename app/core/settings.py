"""Settings the core engine runs on: frozen, already validated, in seconds.

Theory of operation: the YAML schema in `app/config` validates an admin's file and builds these
dataclasses; the core never parses text or reads files. Every duration is in seconds (float) so
the engine can compare it with event times directly. Defaults here are the documented defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class OfferMode(StrEnum):
    REPEAT = "repeat"  # offer after min_wait_before_offer, again every reoffer_interval
    ON_ARRIVAL = "on_arrival"  # offer once, right after the caller is answered


class DispatchPolicy(StrEnum):
    ALWAYS = "always"  # a callback takes the next free agent when it is at the head
    WHEN_AGENTS_FREE = "when_agents_free"  # only agents not needed by callers on the line
    WHEN_NO_CALLERS_WAITING = "when_no_callers_waiting"  # only when nobody is holding


class CallbackMode(StrEnum):
    QUEUE = "queue"  # the caller keeps a place and is called back by an agent through Holdfast
    TICKET = "ticket"  # a ticket (Notify "ticket", sent by a webhook) asks staff to call back; no call placed


class CallbackOrder(StrEnum):
    KEEP_PLACE = "keep_place"  # callbacks are served where the caller would have been
    OLDEST_FIRST = "oldest_first"  # by the time the callback was requested
    NEWEST_FIRST = "newest_first"
    RANDOM = "random"  # seeded, reproducible


@dataclass(frozen=True, slots=True)
class TimeRange:
    """An opening interval within one day, in seconds since local midnight; end may be 86400."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Weekly hours (0 = Monday) with date exceptions ("2026-12-24" → ranges, empty = closed)."""

    timezone: str = "UTC"
    weekly: tuple[tuple[TimeRange, ...], ...] = tuple(() for _ in range(7))
    exceptions: tuple[tuple[str, tuple[TimeRange, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class EligibilityRules:
    """Which numbers may be called back. See `eligibility.py` for the rules."""

    allowed_regions: tuple[str, ...] = ("DK",)
    allowed_types: tuple[str, ...] = ("mobile", "fixed_line", "fixed_line_or_mobile")
    blocklist: tuple[str, ...] = ()  # exact numbers or prefixes ending in "*", E.164 form
    allowlist: tuple[str, ...] = ()  # same form; overrides region, type and blocklist

    @property
    def default_region(self) -> str:
        return self.allowed_regions[0] if self.allowed_regions else "ZZ"


@dataclass(frozen=True, slots=True)
class CallbackSettings:
    enabled: bool = True
    key: str = "1"
    offer_mode: OfferMode = OfferMode.REPEAT
    min_wait_before_offer: float = 20.0
    offer_threshold: float = 60.0
    reoffer_interval: float = 30.0
    allow_other_number: bool = True
    abandon_callback_after: float | None = None  # None: no automatic callback on hang-up
    callback_delay: float = 0.0
    max_attempts: int = 1
    sec_between_retries: float = 300.0
    give_up_on_busy: bool = False
    vip_on_retry: int = 0
    max_age: float = 72 * 3600.0
    dispatch: DispatchPolicy = DispatchPolicy.ALWAYS
    max_callback_agent_share: float = 1.0
    order: CallbackOrder = CallbackOrder.KEEP_PLACE
    random_seed: int = 0
    customer_ring_timeout: float = 30.0
    caller_id: str = ""  # number presented to the customer; empty: the trunk's default
    amd: bool = False
    voicemail_message: str | None = None  # prompt name played to an answering machine
    allow_duplicate_numbers: bool = False  # a second callback request for a number already queued is refused
    max_per_number_per_day: int = 0  # callbacks and tickets promised to one number in any 24 h, all queues; 0: no cap
    cancel_when_served_by_phone: bool = True  # a caller connected to an agent ends their waiting callback
    mode: CallbackMode = CallbackMode.QUEUE

    @property
    def keeps_place(self) -> bool:
        """Whether a callback is served exactly where its caller would have been, so the offer may
        promise "you keep your place". With `order: keep_place` the first dispatchable request in
        place order takes the next free agent (dispatch.py); that is the caller's place only if the
        callback is dispatchable whenever it reaches the head: `dispatch: always` (the other
        policies hold callbacks back while callers behind them are served), a share of 1 (below,
        callers behind go first once that share of agents is on callbacks) and no delay (during
        it, callers behind go first). app/config/promise.py names the settings that break it."""
        return (
            self.dispatch is DispatchPolicy.ALWAYS
            and self.order is CallbackOrder.KEEP_PLACE
            and self.max_callback_agent_share >= 1
            and self.callback_delay <= 0
        )


@dataclass(frozen=True, slots=True)
class AnnounceSettings:
    position: bool = False
    estimated_wait: bool = False
    interval: float = 60.0


RECORDING_FORMATS = ("wav", "gsm", "ulaw", "alaw", "sln", "g722", "wav16")  # Asterisk formats a bridge records in


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    """How recorded calls are stored: Asterisk's file format, and how long they are kept."""

    format: str = "wav"
    retention: float = 30 * 86400.0  # seconds
    # A prompt telling the customer the call is recorded (None: none): an inbound caller hears it
    # on arrival, a called customer after answering and before the (recorded) bridge.
    announce: str | None = None


@dataclass(frozen=True, slots=True)
class QueueSettings:
    name: str
    display_name: str = ""
    service_level: float = 20.0  # net-wait SLA target, seconds
    ring_timeout: float = 15.0  # how long an agent rings before counting as not responding
    # Refusals in a row (let ring out, rejected, hung up during the whisper) before an agent is
    # paused `not_responding`; 1 pauses at the first. Below the limit the agent stays ready.
    max_agent_refusals: int = 1
    wrap_up: float = 10.0
    max_wait_after_close: float = 3600.0
    hours: OpeningHours | None = None  # None: always open
    callback: CallbackSettings = field(default_factory=CallbackSettings)
    eligibility: EligibilityRules = field(default_factory=EligibilityRules)
    announce: AnnounceSettings = field(default_factory=AnnounceSettings)
    # Calls to this queue's agents ask their phones to answer by themselves (either this or the
    # agent's own `auto_answer`); meant for campaigns that connect agents without a ring.
    auto_answer_agents: bool = False
    # The agent-customer bridge of this queue's calls (callback and inbound) is recorded; the
    # recording starts once both are in the bridge, so a whisper is never in it.
    record_calls: bool = False
    recording: RecordingSettings = field(default_factory=RecordingSettings)

    @property
    def label(self) -> str:
        return self.display_name or self.name

    @property
    def recording_notice(self) -> str | None:
        """The prompt telling a caller their call will be recorded: None when it is not, or is
        without a notice."""
        return self.recording.announce if self.record_calls else None


@dataclass(frozen=True, slots=True)
class AgentSettings:
    id: str
    name: str = ""
    skills: tuple[tuple[str, int], ...] = ()  # (queue, penalty); lower penalty is tried first
    auto_answer: bool = False  # Holdfast's calls to this agent ask the phone to answer by itself

    def penalty_for(self, queue: str) -> int | None:
        for name, penalty in self.skills:
            if name == queue:
                return penalty
        return None


class CampaignMode(StrEnum):
    PREVIEW = "preview"  # agent first: the agent is rung with the contact, then the contact dialled
    POWER = "power"  # contact first: lines_per_agent dials per ready agent, an agent joined on answer
    PREDICTIVE = "predictive"  # contact first, as many dials as pacing.py judges the abandon cap allows


class CampaignState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # nothing new is dialled; the contacts taken stay taken
    STOPPED = "stopped"  # nothing new is dialled; the contacts taken go back to the list


MIN_RING_TIME = 15.0  # a contact's phone rings at least this long: shorter looks like a nuisance call
ABANDON_QUARANTINE = 72 * 3600.0  # an abandoned contact is not dialled again for this long
CONNECT_WITHIN = 2.0  # an answered power call hears an agent within this, or the information message


@dataclass(frozen=True, slots=True)
class RetryIntervals:
    """Seconds before a contact is dialled again, by the last attempt's outcome."""

    busy: float = 600.0
    no_answer: float = 3600.0
    machine: float = 7200.0
    failed: float = 1800.0


@dataclass(frozen=True, slots=True)
class CampaignSettings:
    """One dialler campaign. Its contacts are in the store; see campaigns.py and dialler.py."""

    id: str
    queue: str  # the queue (skill) whose agents work the campaign
    name: str = ""
    mode: CampaignMode = CampaignMode.PREVIEW
    state: CampaignState = CampaignState.RUNNING  # at start-up
    timezone: str = "UTC"  # dates, and calling hours of contacts whose own zone is unknown
    active_from: str | None = None  # ISO date, inclusive, in `timezone`; None: already active
    active_to: str | None = None  # ISO date, inclusive; None: open-ended
    calling_hours: OpeningHours | None = None  # weekly, in the contact's local time; None: any time
    max_attempts: int = 3
    retry: RetryIntervals = field(default_factory=RetryIntervals)
    ring_time: float = 25.0  # never below MIN_RING_TIME (config refuses it)
    caller_id: str = ""
    record_calls: bool = False
    recording_announce: str | None = None  # as RecordingSettings.announce; None: the queue's, "": none
    order: int = 0  # lower first
    parity: int = 1  # share of the dialler's calls among campaigns of the same order
    agent_share: float = 1.0  # at most this share of the queue's logged-in agents (never below one)
    inbound_first: bool = True  # callers waiting in the agent's queues are served before contacts
    lines_per_agent: float = 1.0  # power mode
    review_time: float = 0.0  # preview: seconds after the agent answers before the contact is dialled
    # A call_back kept for its agent waits this long (from when it is due) for that agent; then any
    # agent of the campaign may take it, so an absent agent never strands a promised call.
    reserve_for: float = 1800.0
    dispositions: tuple[str, ...] = ("sale", "not_interested", "call_back", "wrong_number")
    information_prompt: str = "dialler_information"  # heard by an abandoned power call
    # the number the information message says to call back (digits as dialled at home); "": none
    information_number: str = ""
    amd: bool = False
    amd_args: str = ""  # AMD()'s tuned arguments (app/config/amd.py); "": amd.conf's values
    amd_analysis_time: float = 5.0  # the longest AMD() listens after the answer (its total_analysis_time)
    amd_after_greeting_silence: float = 0.8  # AMD() says HUMAN this long after a person's greeting ends
    machine_message: str | None = None  # prompt left on an answering machine (amd); None: hang up
    window: int = 20  # contacts the engine keeps at hand per campaign (the store holds the rest)
    abandon_cap: float = 0.03  # predictive: abandoned / live answers over any 24 h and 30 days
    amd_false_positive: float = 0.0  # predictive: assumed share of machine verdicts that were people
    max_dial_level: float = 4.0  # predictive: calls in flight per present agent, at most
    eligibility: EligibilityRules = field(default_factory=EligibilityRules)  # numbers an upload accepts

    @property
    def label(self) -> str:
        return self.name or self.id


@dataclass(frozen=True, slots=True)
class CoreSettings:
    queues: tuple[QueueSettings, ...] = ()
    agents: tuple[AgentSettings, ...] = ()
    campaigns: tuple[CampaignSettings, ...] = ()
    menu_timeout: float = 10.0  # silence in the callback menu before the caller is left holding
    max_wrap_up_extension: float = 300.0

    def queue(self, name: str) -> QueueSettings:
        for q in self.queues:
            if q.name == name:
                return q
        raise KeyError(name)
