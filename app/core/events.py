"""Events fed to the engine. Every event carries `now` (seconds); the core never reads a clock.

Legs are named by `leg_id`s the engine hands out in its commands; an event about a leg the engine
no longer expects (a late hang-up, a timed-out ring) is ignored, which keeps the shell simple.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.contacts import DueContact
from app.core.settings import CoreSettings
from app.core.states import AttemptOutcome


@dataclass(frozen=True, slots=True)
class Event:
    now: float


# --- callers -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallerArrived(Event):
    request_id: str
    queue: str
    caller_number: str | None  # None or "anonymous" when withheld
    priority: int = 0


@dataclass(frozen=True, slots=True)
class DtmfReceived(Event):
    request_id: str
    digit: str


@dataclass(frozen=True, slots=True)
class CallerHungUp(Event):
    """The inbound caller's own line ended (while waiting, ringing an agent or talking).
    `no_audio`: Asterisk cut it because the phone sent no audio for `rtp_timeout` (the line died;
    nobody chose to end the call)."""

    request_id: str
    no_audio: bool = False


@dataclass(frozen=True, slots=True)
class PromptFinished(Event):
    leg_id: str


# --- legs the engine originated -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegAnswered(Event):
    """`greeting_ended`: when the person's greeting ended, as answering-machine detection heard it
    (its verdict comes only after some silence that follows the greeting); None without detection.
    Regulators count a dialler's 2 s to an agent from the end of the greeting, not from the verdict."""

    leg_id: str
    voicemail: bool = False  # answering-machine detection said so (customer legs only)
    greeting_ended: float | None = None


@dataclass(frozen=True, slots=True)
class LegFailed(Event):
    """An originated leg ended before the engine was told it answered; `outcome` is mapped from the
    cause (see causes.py). `answered`: the phone did answer, and hung up while answering-machine
    detection was still listening (a person who heard silence, as the dialler counts it)."""

    leg_id: str
    outcome: AttemptOutcome
    cause: int | None = None
    answered: bool = False


@dataclass(frozen=True, slots=True)
class LegLost(Event):
    """A leg the engine expected is gone without a hang-up of its own: the service restarted or
    Asterisk did. Not the customer's or the agent's doing: nothing is counted against them."""

    leg_id: str
    reason: str = "channel_vanished"


@dataclass(frozen=True, slots=True)
class LegsReconciled(Event):
    """After a restore, the shell has reported every lost leg: what was in progress goes on."""


@dataclass(frozen=True, slots=True)
class CallFoundUnbridged(Event):
    """After our restart, a connected call's customer and agent were both taken in again, but
    Asterisk has them in no bridge together: we stopped between storing `connected` and adding
    their channels to the call bridge. Both are up and hear nothing until they are bridged."""

    request_id: str


@dataclass(frozen=True, slots=True)
class CallFoundUnrecorded(Event):
    """After our restart, a connected call was taken back in its bridge, but Asterisk records
    nothing of it: we stopped between bridging the two and starting the recording. Whether it
    should be recorded is the core's to say (its queue's or campaign's `record_calls`)."""

    request_id: str


@dataclass(frozen=True, slots=True)
class RingUnconfirmed(Event):
    """Asterisk never answered the request that rings an agent (no response within the ARI
    timeout: frozen, overloaded): whether and when their phone rang is unknown, so letting it ring
    out is not the agent's refusal."""

    leg_id: str


@dataclass(frozen=True, slots=True)
class TelephonyDown(Event):
    """Asterisk is stopping or out of reach (its shutdown began, the events connection dropped).
    Until `TelephonyUp` nothing new is dialled (a dial would be refused or lost with it), and a leg
    that fails meanwhile failed with Asterisk, not with the person: it is lost, not counted."""

    reason: str


@dataclass(frozen=True, slots=True)
class TelephonyUp(Event):
    """The shell has reconnected and reconciled: what waited for Asterisk is dispatched."""


@dataclass(frozen=True, slots=True)
class ClockAhead(Event):
    """The times the shell gives may run ahead of the true wall clock by up to `seconds` (its clock
    keeps elapsed time after the wall clock stepped back, catching up; 0 once it has). Queues'
    opening hours are then read at the true time (the shell's less the lead), and campaigns'
    calling hours and dates must hold at both: a contact is never dialled before their hours by
    the true clock."""

    seconds: float


@dataclass(frozen=True, slots=True)
class LegHungUp(Event):
    """An answered originated leg (agent or callback customer) hung up. `no_audio`: Asterisk cut
    it because the phone sent no audio for `rtp_timeout` (a dead line or a crashed softphone)."""

    leg_id: str
    no_audio: bool = False


# --- agents --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentLoggedIn(Event):
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentReady(Event):
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentPaused(Event):
    agent_id: str
    reason: str = "break"


@dataclass(frozen=True, slots=True)
class AgentLoggedOut(Event):
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentReachability(Event):
    """The agent's softphone registered (True) or vanished (False)."""

    agent_id: str
    reachable: bool


@dataclass(frozen=True, slots=True)
class AgentOwnCall(Event):
    """The agent's own phone is on a call into a queue (a test call, or calling in as any caller),
    or that call ended. Meanwhile they are offered no call: it would ring as call waiting for
    their own call."""

    agent_id: str
    on_call: bool


@dataclass(frozen=True, slots=True)
class WrapUpExtended(Event):
    agent_id: str
    seconds: float


# --- admins and time ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallbackRemoved(Event):
    request_id: str
    by: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CallbackMoved(Event):
    request_id: str
    to_queue: str
    by: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CallbackRepositioned(Event):
    """A person puts a waiting callback at `position` of its queue's place order (1: first, served
    next), among callers and callbacks alike. Only in a `keep_place` queue, where place order is
    serving order; the others behind it move back by one."""

    request_id: str
    position: int
    by: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CallbackRequested(Event):
    """A callback asked for outside a call (web form, API): joins the end of the queue."""

    request_id: str
    queue: str
    number: str
    priority: int = 0


@dataclass(frozen=True, slots=True)
class SettingsChanged(Event):
    """An admin's reloaded settings, already validated by app/config. Refused (unchanged) when it
    would strand someone: a queue removed while requests wait in it, an agent removed mid-call."""

    settings: CoreSettings


@dataclass(frozen=True, slots=True)
class Tick(Event):
    """Delivered at (or after) the engine's next deadline."""


# --- dialler ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactsLoaded(Event):
    """The store's answer to `LoadContacts`: contacts due now, best first (maybe none).
    `exhausted`: with no contacts, the store also said none is left to dial later (every one
    done, on a do-not-call list or used up; claimed ones are the engine's): read after these."""

    campaign: str
    contacts: tuple[DueContact, ...]
    exhausted: bool = False


@dataclass(frozen=True, slots=True)
class ContactsChanged(Event):
    """The store's list of a campaign changed (an upload): the engine asks for contacts again now."""

    campaign: str


@dataclass(frozen=True, slots=True)
class DncUpdated(Event):
    """Do-not-call entries (number or prefix, E.164) of a campaign, or global (campaign None).
    `replace` swaps that list for `added` (at start-up); else entries are added and removed."""

    campaign: str | None
    added: tuple[tuple[str, bool], ...] = ()  # (entry, is_prefix)
    removed: tuple[tuple[str, bool], ...] = ()
    replace: bool = False


@dataclass(frozen=True, slots=True)
class CampaignControl(Event):
    """A supervisor starts, pauses or stops a campaign."""

    campaign: str
    action: str  # "start" | "pause" | "stop"


@dataclass(frozen=True, slots=True)
class ContactDialNow(Event):
    """Preview: the agent asks for their contact to be dialled before review_time ends."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class ContactSkipped(Event):
    """Preview: the agent skips the contact they are rung for or reviewing (not dialled)."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class ContactDisposed(Event):
    """The agent's disposition of their last dialler call (from the campaign's list).
    `call_back` needs `call_back_at`: the contact is due again then (for this agent if `reserve`)."""

    agent_id: str
    disposition: str
    call_back_at: float | None = None
    reserve: bool = False
