"""The dialler: campaigns' contacts dialled in preview and power mode, on the engine's agents.

Theory of operation:
- The store holds the contacts. Per campaign the engine keeps a small window of contacts due now
  (`LoadContacts` → `ContactsLoaded`); each one taken into the window is reported "claimed"
  (`take_contact_progress`, committed with the step), so it is never handed out twice. A contact
  is in the window or in one active request, never both, never twice.
- Every dial of a contact is a Request of kind CONTACT in the campaign's queue, carrying the
  campaign, the contact id and its card: stored, restored and reconciled like a callback.
- One dispatch decision: (1) answered power calls waiting for an agent, (2) inbound callers and
  callbacks of the agents' queues (unless a campaign says `inbound_first: false`), (3) campaigns:
  each remaining ready agent goes to the lowest `order`, among equals the campaign furthest
  behind its `parity` (counted from when it joined the others: started, resumed, added, contacts
  again after none), within its `agent_share`. Ready agents that power dials still in flight
  were placed for (one per `lines_per_agent` dials) are held from (2) until those dials end;
  while a caller waits for them, (3) places no new dial on them. Across campaigns, an agent held
  by one campaign's dials (power as above, predictive one per dial) is not offered to another
  campaign in (3) nor counted ready by another's pacing.
- At dial time a contact must pass: campaign running and within its dates, not on a do-not-call
  list (else "done" with outcome dnc), attempts left (or a call_back promised: the answered call
  that promised it may have been the last attempt), calling hours in its local time (else
  "scheduled" for the next opening, or looked at again NO_OPENING_RECHECK later when the hours
  never open: not finished for good), not reserved for another agent (a reserved call_back waits
  `reserve_for` for its agent, then any agent may take it). One number may be in several
  campaigns' lists: it is dialled by one request at a time (the others leave it in their window
  until that dial ends; so does a callback of any queue being served to it, and a callback to a
  number a dial holds keeps its place until that dial ends), and after an abandoned power call
  no contact-first campaign dials it before ABANDON_QUARANTINE has passed (scheduled then;
  `restore_abandoned` after a restart).
- Preview (agent first): the agent is rung showing the contact's name and number; once they
  answer, `review_time` later (or on "dial now") the contact is dialled while the agent hears
  ringback; bridged on answer. A skip, an agent who does not answer (paused not_responding as
  for callbacks) or a lost agent leg puts the contact back in the window unattempted (a reserved
  call_back keeps its first `reserve_for` deadline). An agent who hangs up while the contact's
  phone rings: the phone rings on until MIN_RING_TIME from the dial (a shorter ring is a nuisance
  call), then the dial is recorded (agent_no_answer, not counted) and the contact is due again
  AGENT_LEFT_RETRY later; a contact who answers meanwhile hears the information message
  (abandoned). The engine's guard on any dial adds AMD's longest analysis to the ring time.
- Power (contact first): `lines_per_agent` dials per ready agent (above one only while the
  campaign's judged abandon windows have room under its cap: `_power_lines`). On a live answer a ready agent
  is rung with auto-answer; if no agent has answered within CONNECT_WITHIN of the answer (of the
  end of the contact's greeting when AMD heard it, as Ofcom and the FTC count), the contact hears
  the campaign's information message and the attempt is `abandoned`: not dialled again for
  ABANDON_QUARANTINE.
- Predictive (contact first, as power): pacing.py decides how many dials to place now from the
  agents' states (within its `agent_share`, which also caps the agents answered contacts get),
  the dials in flight and what the campaign's dials have shown so far, aiming at the best
  occupancy the abandon cap allows. The dialler asks it at every dispatch and at least
  every PACE_EVERY seconds (agents finishing calls are worth dials before they are free), and
  tells it every dial's end, every live answer (connected or abandoned) and every talk time.
- After an attempt: answered → done (the agent's disposition may schedule a call back);
  busy / no answer / machine / failed → retried after the campaign's interval while attempts
  remain, else done; invalid → done.
- Finished: a running campaign's list is finished when a load finds nothing due and the store
  says nothing is left for later (`ContactsLoaded.exhausted`), while the engine holds none of its
  contacts (window, dials) and no agent is still in wrap-up after its last call (a call_back
  disposition would reopen it). Then `campaign_finished` is logged and notified, once: the mark
  is restored after a restart (`restore_finished`) and lifted (`campaign_reopened`) only when a
  later load brings contacts again (an upload). A load answered while the engine gave contacts
  back to the store (scheduled) after asking proves nothing: the store may have read before.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Callable, Mapping
from typing import Any

from app.core import campaigns as rules
from app.core import dispatch, pacing
from app.core.agents import Agent, pick_agent
from app.core.calls import CallFlow
from app.core.commands import (
    Activity,
    BridgeLegs,
    Hangup,
    LoadContacts,
    Notify,
    OriginateCustomer,
    PlayPrompt,
    PromptItem,
    StopPrompt,
)
from app.core.contacts import CLAIMED, DONE, SCHEDULED, ContactProgress, DueContact
from app.core.engine_base import CUSTOMER_TIMEOUT_MARGIN
from app.core.events import (
    CampaignControl,
    ContactDialNow,
    ContactDisposed,
    ContactsChanged,
    ContactSkipped,
    ContactsLoaded,
    DncUpdated,
    LegAnswered,
    LegFailed,
    LegHungUp,
    LegLost,
)
from app.core.request import Attempt, Request
from app.core.settings import (
    ABANDON_QUARANTINE,
    CONNECT_WITHIN,
    MIN_RING_TIME,
    CampaignMode,
    CampaignSettings,
    CampaignState,
    CoreSettings,
)
from app.core.states import AgentState, AttemptOutcome, Outcome, RequestKind, RequestState

DIAL_ACTIVITY = "dial_attempt"  # the raw event log's kind for one dial of a contact (store figures)
CAMPAIGN_FINISHED = "campaign_finished"  # activity and notification: the list is finished
CAMPAIGN_REOPENED = "campaign_reopened"  # activity: contacts came again after campaign_finished
CAMPAIGN_REMOVED = "campaign_removed"  # activity: the campaign left the settings (its finish mark with it)
QUARANTINED = "abandoned_recently"  # verdict: the number's power call was abandoned within ABANDON_QUARANTINE
CALL_BACK = "call_back"  # the disposition that promises a later call (due whatever attempts are used)
INVALID_CAUSES = frozenset({1, 28})  # unallocated number, invalid number format
RECHECK = 60.0  # a running campaign that cannot dial (dates) looks again this often
EMPTY_POLL = 15.0  # the store had nothing due: ask again this much later (new uploads)
ABANDONED_PRUNE = 1024  # abandoned numbers remembered before expired ones are swept out
# a preview whose agent hung up while the contact's phone rang: rung again no sooner (nor later
# than its campaign's retry.no_answer)
AGENT_LEFT_RETRY = 300.0
NO_OPENING_RECHECK = 86400.0  # calling hours that never open for a contact: it is looked at again this later
DIALLER_TIMERS = ("review", "connect")
PACE_EVERY = 1.0  # a running predictive campaign is paced at least this often
PACE_GAP = 0.5  # and at most this often (every event dispatches; pacing costs more than a dispatch)
CONTACT_MODES = (CampaignMode.POWER, CampaignMode.PREDICTIVE)  # contact first, agent on answer
_END_CLASS = {
    AttemptOutcome.BUSY: pacing.FAIL,
    AttemptOutcome.FAILED: pacing.FAIL,
    AttemptOutcome.INVALID: pacing.FAIL,
    AttemptOutcome.NO_ANSWER: pacing.NO_ANSWER,
}


def default_pacer(c: CampaignSettings) -> pacing.Pacer:
    return pacing.HoldfastPacer(cap=c.abandon_cap, amd_false_positive=c.amd_false_positive, ring_time=c.ring_time)


def _card(contact: DueContact) -> dict[str, Any]:
    return {
        "name": contact.name,
        "fields": dict(contact.fields),
        "timezone": contact.timezone,
        "priority": contact.priority,
        "attempts": contact.attempts,
        "reserved_agent": contact.reserved_agent,
        "last_outcome": contact.last_outcome,
        "reserved_until": contact.reserved_until,
    }


def contact_of(req: Request) -> DueContact:
    """The contact a dialler request is for, as it was loaded."""
    assert req.campaign is not None and req.contact_id is not None and req.contact is not None
    card = req.contact
    return DueContact(
        campaign=req.campaign,
        contact_id=req.contact_id,
        number=req.callback_number or "",
        name=str(card.get("name", "")),
        fields=dict(card.get("fields") or {}),
        timezone=card.get("timezone"),
        priority=int(card.get("priority", 0)),
        attempts=int(card.get("attempts", 0)),
        reserved_agent=card.get("reserved_agent"),
        last_outcome=card.get("last_outcome"),
        reserved_until=card.get("reserved_until"),
    )


class DiallerFlow(CallFlow):
    def _init_dialler(self, settings: CoreSettings) -> None:
        self.campaigns: dict[str, CampaignSettings] = {}
        self.campaign_state: dict[str, CampaignState] = {}
        self._window: dict[str, dict[int, DueContact]] = {}
        self._active_contacts: dict[tuple[str, int], str] = {}  # (campaign, contact) -> request id
        # How many of those requests dial each number (one number may be in several campaigns'
        # lists: dialled by one at a time), and numbers whose power call was abandoned: not dialled
        # again by any contact-first campaign before ABANDON_QUARANTINE has passed (the contact's
        # own row waits as well); expired entries are dropped when met, and all at once as the map grows.
        self._numbers_in_use: dict[str, int] = {}
        self._abandoned_until: dict[str, float] = {}
        self._abandoned_prune_at = ABANDONED_PRUNE
        self._loading: set[str] = set()
        self._asked: dict[str, int] = {}  # the limit of the load in flight
        self._stale_load: set[str] = set()  # the list changed while a load was in flight
        self._load_after: dict[str, float] = {}
        # When contacts this engine scheduled fall due, per campaign (a heap of distinct times, none
        # long past): the store is asked then, not only at the next EMPTY_POLL after it (_wake_at).
        self._wakes: dict[str, list[float]] = {}
        self._wake_times: dict[str, set[float]] = {}  # the same times, to keep each once
        self._dials: dict[str, float] = {}  # parity counters
        self._drained: set[str] = set()  # campaigns whose last load found none and that hold none
        self._reserved_until: dict[tuple[str, int], float] = {}  # reserved call_backs in the window
        self.dnc = rules.DncList()
        self._progress: dict[tuple[str, int], ContactProgress] = {}
        self._last_call: dict[str, tuple[str, int, int]] = {}  # agent -> (campaign, contact, attempts)
        # predictive: one pacer per campaign, made on first use; the simulator's benchmark swaps the
        # factory for its baseline policies (the same core, another pacing rule)
        self.pacer_factory: Callable[[CampaignSettings], pacing.Pacer] = default_pacer
        self.pacers: dict[str, pacing.Pacer] = {}
        self._paced_at: dict[str, tuple[float, int]] = {}  # campaign -> (when, agents ready then)
        # AMD()'s silence after persons' greetings as measured, per campaign with detection: the
        # pacer's connect allowance (`_connect_allowance`); learnt afresh at a restart
        self._silences: dict[str, pacing.GreetingSilence] = {}
        self._finished: set[str] = set()  # campaigns whose list is finished (notified once)
        self._unsettled: set[str] = set()  # contacts given back to the store during the load in flight
        self._held: frozenset[str] = frozenset()  # agents kept for power dials during inbound dispatch
        self._power_windows: dict[str, pacing.JudgedWindows] = {}  # power campaigns' judged windows
        self.power_capped = True  # False: the benchmark's fixed-ratio baselines, the ratio alone
        self._apply_campaigns(settings)

    def _apply_campaigns(self, settings: CoreSettings) -> None:
        new = {c.id: c for c in settings.campaigns}
        for cid in [cid for cid in self.campaigns if cid not in new]:
            self._release_window(cid)
            del self._window[cid], self.campaign_state[cid], self._dials[cid]
            self._drained.discard(cid)
            self.pacers.pop(cid, None)
            self._power_windows.pop(cid, None)
            self._load_after.pop(cid, None)
            self._wakes.pop(cid, None)
            self._wake_times.pop(cid, None)
            self._asked.pop(cid, None)
            self._loading.discard(cid)
            self._stale_load.discard(cid)
            self._unsettled.discard(cid)
            self._paced_at.pop(cid, None)
            self._silences.pop(cid, None)
            self._timers.cancel_all(cid, ("contacts", "pace"))
            # a campaign created later under this id starts afresh: not "reopened" at its first load,
            # and told when its own list is finished, after a restart too (the mark ends the old one's)
            self._finished.discard(cid)
            self._activity(CAMPAIGN_REMOVED, None, campaign=cid)
            # Its do-not-call entries stay: the store keeps a deleted campaign's rows, and nothing
            # feeds them again when the id is reused (only a start-up does), so dropping them here
            # would let a recreated campaign dial numbers the store bars for it until a restart.
            self.dnc.drop_if_empty(cid)
        added = [cid for cid in new if cid not in self.campaigns]
        for c in new.values():
            self.campaign_state.setdefault(c.id, c.state)
            self._window.setdefault(c.id, {})
            self._dials.setdefault(c.id, 0.0)
        self.campaigns = new
        for cid in added:
            self._join_parity(cid)
        for c in new.values():  # an edited cap reaches the running pacing at once, not at a restart
            heard = self._silences.get(c.id)
            if heard is not None and (not c.amd or heard.configured != c.amd_after_greeting_silence):
                del self._silences[c.id]  # measured under another tuning: learnt afresh
            pacer = self.pacers.get(c.id)
            if isinstance(pacer, pacing.HoldfastPacer):
                pacer.retune(c.abandon_cap, c.amd_false_positive, c.ring_time)

    # ------------------------------------------------------------------ views

    def take_contact_progress(self) -> list[ContactProgress]:
        """The step's contact changes (the latest per contact): stored with it."""
        out, self._progress = list(self._progress.values()), {}
        return out

    def active_contact_ids(self, campaign: str | None = None) -> set[int]:
        """Contacts in the window or being dialled: the store keeps these claimed at a restart."""
        out = {cid for (c, cid) in self._active_contacts if campaign in (None, c)}
        for c, window in self._window.items():
            if campaign in (None, c):
                out |= set(window)
        return out

    def contact_card(self, request_id: str) -> DueContact | None:
        req = self.requests.get(request_id)
        if req is None or req.kind is not RequestKind.CONTACT:
            return None
        return contact_of(req)

    def contact_for_agent(self, agent_id: str) -> tuple[str, DueContact] | None:
        """(request id, contact) of the dialler call the agent is rung for or on."""
        agent = self.agents.get(agent_id)
        if agent is None or agent.request_id is None:
            return None
        card = self.contact_card(agent.request_id)
        return None if card is None else (agent.request_id, card)

    def window_size(self, campaign: str) -> int:
        return len(self._window.get(campaign, {}))

    # ------------------------------------------------------------------ validation

    def _validate_dialler(self, event: object) -> None:
        from app.core.errors import IllegalAgentTransition, IllegalRequestAction, UnknownRequest

        if isinstance(event, ContactsChanged) and event.campaign not in self.campaigns:
            raise UnknownRequest(f"no campaign {event.campaign!r}")
        if isinstance(event, CampaignControl):
            if event.campaign not in self.campaigns:
                raise UnknownRequest(f"no campaign {event.campaign!r}")
            if event.action not in ("start", "pause", "stop"):
                raise IllegalRequestAction(f"campaign action {event.action!r}; use start, pause or stop")
        elif isinstance(event, DncUpdated):
            if event.campaign is not None and event.campaign not in self.campaigns:
                raise UnknownRequest(f"no campaign {event.campaign!r}")
        elif isinstance(event, ContactsLoaded):
            if event.campaign not in self.campaigns:
                raise UnknownRequest(f"no campaign {event.campaign!r}")
        elif isinstance(event, (ContactDialNow, ContactSkipped)):
            self._agent(event.agent_id)
            found = self.contact_for_agent(event.agent_id)
            req = self.requests[found[0]] if found else None
            states = (
                (RequestState.WHISPER,)
                if isinstance(event, ContactDialNow)
                else (
                    RequestState.RINGING_AGENT,
                    RequestState.WHISPER,
                )
            )
            if req is None or req.customer_leg is not None or req.state not in states:
                raise IllegalAgentTransition(f"agent {event.agent_id} has no previewed contact to dial or skip now")
        elif isinstance(event, ContactDisposed):
            self._agent(event.agent_id)
            last = self._last_call.get(event.agent_id)
            if last is None:
                raise IllegalRequestAction(f"agent {event.agent_id} has no dialler call waiting for a disposition")
            c = self.campaigns.get(last[0])
            if c is None:
                raise UnknownRequest(f"campaign {last[0]!r} is no longer configured")
            if event.disposition not in c.dispositions:
                allowed = ", ".join(c.dispositions)
                raise IllegalRequestAction(
                    f"disposition {event.disposition!r} is not one of campaign {c.id}'s: {allowed}"
                )
            if event.disposition == CALL_BACK and (event.call_back_at is None or event.call_back_at <= event.now):
                raise IllegalRequestAction("call_back needs call_back_at, a time in the future")

    def _check_new_campaigns(self, new: CoreSettings) -> None:
        from app.core.errors import IllegalRequestAction

        ids = {c.id for c in new.campaigns}
        queues = {q.name for q in new.queues}
        problems = [
            f"campaign {c.id!r} works queue {c.queue!r}, which is not configured"
            for c in new.campaigns
            if c.queue not in queues
        ]
        for (campaign, _contact), rid in self._active_contacts.items():
            if campaign not in ids:
                problems.append(f"campaign {campaign!r} still has dial {rid} in progress; stop it and wait first")
        if problems:
            raise IllegalRequestAction("settings not applied: " + "; ".join(problems[:5]))

    # ------------------------------------------------------------------ events

    def _contacts_loaded(self, e: ContactsLoaded) -> None:
        self._loading.discard(e.campaign)
        window = self._window[e.campaign]
        if e.contacts and e.campaign in self._drained:
            self._drained.discard(e.campaign)
            self._join_parity(e.campaign)  # contacts again after none: it did not dial meanwhile
        taken = 0
        for contact in e.contacts:
            key = (e.campaign, contact.contact_id)
            if key in self._active_contacts or contact.contact_id in window:
                continue  # already ours: never twice
            window[contact.contact_id] = contact
            taken += 1
            # the reservation is kept in the store while claimed: a restart must not lose it
            self._report(contact, CLAIMED, contact.attempts, None, contact.last_outcome, contact.reserved_agent)
            c = self.campaigns.get(e.campaign)
            if contact.reserved_agent is not None and c is not None:
                self._reserved_until[key] = e.now + c.reserve_for
                self._timers.set("reserve", f"{e.campaign}:{contact.contact_id}", e.now + c.reserve_for)
        stale = e.campaign in self._stale_load
        self._stale_load.discard(e.campaign)
        if len(e.contacts) < self._asked.pop(e.campaign, 1) and not stale:  # the store has no more due now
            again = min(e.now + EMPTY_POLL, self._next_wake(e.campaign, e.now))
            self._load_after[e.campaign] = again
            self._timers.set("contacts", e.campaign, again)
        if taken:  # an idle campaign polls the store every EMPTY_POLL: not worth a log line each
            self._activity("contacts_loaded", None, campaign=e.campaign, taken=taken)
        if self.campaign_state[e.campaign] is CampaignState.STOPPED:
            self._release_window(e.campaign)
        if not e.contacts and not self._holds_contacts(e.campaign):
            self._drained.add(e.campaign)  # out of the parity pool until contacts come again
        self._settle_campaign(e, stale)

    def _dnc_updated(self, e: DncUpdated) -> None:
        if e.replace:
            self.dnc.replace(e.campaign, e.added)
        else:
            self.dnc.add(e.campaign, e.added)
        self.dnc.remove(e.campaign, e.removed)
        self._activity("dnc_updated", None, campaign=e.campaign, added=len(e.added), removed=len(e.removed))

    def _contacts_changed(self, e: ContactsChanged) -> None:
        self._look_again(e.campaign)

    def _look_again(self, campaign: str) -> None:
        """Ask the store again at the next dispatch, even if it had nothing a moment ago."""
        self._load_after.pop(campaign, None)
        if campaign in self._loading:  # that load may have read the list before the change
            self._stale_load.add(campaign)

    def _campaign_control(self, e: CampaignControl) -> None:
        state = {"start": CampaignState.RUNNING, "pause": CampaignState.PAUSED, "stop": CampaignState.STOPPED}
        was = self.campaign_state[e.campaign]
        self.campaign_state[e.campaign] = state[e.action]
        if state[e.action] is CampaignState.RUNNING and was is not CampaignState.RUNNING:
            self._join_parity(e.campaign)
        self._look_again(e.campaign)
        if state[e.action] is CampaignState.STOPPED:
            self._release_window(e.campaign)
        self._activity("campaign_state", None, campaign=e.campaign, state=state[e.action].value)

    def _contact_dial_now(self, e: ContactDialNow) -> None:
        found = self.contact_for_agent(e.agent_id)
        assert found is not None
        self._dial_customer(self.requests[found[0]])

    def _contact_skipped(self, e: ContactSkipped) -> None:
        found = self.contact_for_agent(e.agent_id)
        assert found is not None
        req = self.requests[found[0]]
        self._emit(Hangup(req.agent_leg or "", "skipped"))
        agent = self._take_agent(req)
        if agent is not None:
            self._release_agent(agent, None)
        self._activity("contact_skipped", req, agent=e.agent_id)
        # back to the list (not the window): the agent's next contact is another one
        contact = contact_of(req)
        self._end(req, Outcome.SKIPPED, campaign=req.campaign, contact=req.contact_id)
        self._forget_contact(contact)
        self._report(contact, SCHEDULED, contact.attempts, self._now, contact.last_outcome, contact.reserved_agent)

    def _await_disposition(self, agent_id: str, campaign: str, contact_id: int, attempts: int) -> None:
        """The agent's last dialler call waits for their disposition; an earlier one never given
        is given up (its row no longer names the agent, so a restart does not bring it back)."""
        earlier = self._last_call.get(agent_id)
        if earlier is not None:
            self._progress[(earlier[0], earlier[1])] = ContactProgress(
                earlier[0], earlier[1], DONE, earlier[2], None, AttemptOutcome.ANSWERED.value, None
            )
        self._last_call[agent_id] = (campaign, contact_id, attempts)

    def _disposing_agent(self, contact: DueContact) -> str | None:
        for agent_id, (campaign, contact_id, _) in self._last_call.items():
            if (campaign, contact_id) == (contact.campaign, contact.contact_id):
                return agent_id
        return None

    def restore_dispositions(self, pending: dict[str, list[tuple[int, int, str]]]) -> None:
        """At start-up: answered contacts whose agent's disposition was still pending (by campaign:
        contact id, attempts, agent; oldest first), so the agent can still give it."""
        for campaign, rows in pending.items():
            for contact_id, attempts, agent_id in rows:
                if campaign in self.campaigns and agent_id in self.agents:
                    self._last_call[agent_id] = (campaign, contact_id, attempts)

    def _contact_disposed(self, e: ContactDisposed) -> None:
        campaign, contact_id, attempts = self._last_call.pop(e.agent_id)
        if e.disposition == CALL_BACK:
            reserved = e.agent_id if e.reserve else None
            self._progress[(campaign, contact_id)] = ContactProgress(
                campaign, contact_id, SCHEDULED, attempts, e.call_back_at, CALL_BACK, reserved
            )
            self._given_back(campaign, SCHEDULED)
            self._wake_at(campaign, e.call_back_at or e.now)
        else:
            self._progress[(campaign, contact_id)] = ContactProgress(
                campaign, contact_id, DONE, attempts, None, e.disposition, None
            )
        self._activity(
            "disposition",
            None,
            agent=e.agent_id,
            campaign=campaign,
            contact=contact_id,
            disposition=e.disposition,
            call_back_at=e.call_back_at,
        )

    # ------------------------------------------------------------------ contact bookkeeping

    def _report(
        self,
        contact: DueContact,
        state: str,
        attempts: int,
        next_due: float | None,
        outcome: str | None,
        reserved: str | None = None,
    ) -> None:
        self._progress[(contact.campaign, contact.contact_id)] = ContactProgress(
            contact.campaign, contact.contact_id, state, attempts, next_due, outcome, reserved
        )
        self._given_back(contact.campaign, state)

    def _index_contact(self, campaign: str, contact_id: int, request_id: str, number: str) -> None:
        key = (campaign, contact_id)
        if key not in self._active_contacts:
            self._numbers_in_use[number] = self._numbers_in_use.get(number, 0) + 1
        self._active_contacts[key] = request_id

    def _forget_contact(self, contact: DueContact) -> None:
        if self._active_contacts.pop((contact.campaign, contact.contact_id), None) is None:
            return
        left = self._numbers_in_use[contact.number] - 1  # the number it was indexed by (the request's)
        if left:
            self._numbers_in_use[contact.number] = left
        else:
            del self._numbers_in_use[contact.number]

    def _wake_at(self, campaign: str, at: float) -> None:
        """Load contacts of `campaign` again at `at` (one this engine scheduled becomes due). Kept
        until then: a poll of the store that comes first and finds nothing due sets the next poll
        no later than it (ContactsLoaded), so the contact is not left for another EMPTY_POLL."""
        # Wakes passed are dropped here too: on a long list every load comes back full, so
        # ContactsLoaded never reads (nor drops) them, and each retry would stay for good. A time
        # is kept once: a night's contacts all wait for the same opening.
        self._next_wake(campaign, self._now)
        times = self._wake_times.setdefault(campaign, set())
        if at not in times:
            times.add(at)
            heapq.heappush(self._wakes.setdefault(campaign, []), at)
        current = self._timers.get("contacts", campaign)
        if current is None or at < current:
            self._timers.set("contacts", campaign, at)

    def _next_wake(self, campaign: str, now: float) -> float:
        """The first wake of `campaign` after `now` (those passed are dropped); inf if none."""
        wakes = self._wakes.get(campaign, [])
        times = self._wake_times.get(campaign, set())
        while wakes and wakes[0] <= now:
            times.discard(heapq.heappop(wakes))
        return wakes[0] if wakes else math.inf

    def _forget_reservation(self, campaign: str, contact_id: int) -> None:
        """A reserved contact left the window without being dialled (refused, given back): its
        deadline is read only while it is there (a later load gives it one again)."""
        if self._reserved_until.pop((campaign, contact_id), None) is not None:
            self._timers.cancel("reserve", f"{campaign}:{contact_id}")

    def _release_window(self, campaign: str) -> None:
        for contact in self._window.get(campaign, {}).values():
            self._forget_reservation(campaign, contact.contact_id)
            self._report(contact, SCHEDULED, contact.attempts, self._now, contact.last_outcome, contact.reserved_agent)
        self._window[campaign] = {}

    def _back_to_window(self, req: Request, outcome: Outcome, delay: float | None = None) -> None:
        """The dial is over without an attempt that counts: the contact is due again at once (or
        `delay` later, given back to the store until then)."""
        contact = contact_of(req)
        counted = contact.attempts + req.counted_attempts
        # a promised call back stays owed until a dial of it counted
        again = dataclasses.replace(
            contact, attempts=counted, last_outcome=contact.last_outcome if req.counted_attempts == 0 else None
        )
        self._end(req, outcome, campaign=req.campaign, contact=req.contact_id)
        self._forget_contact(contact)
        c = self.campaigns.get(contact.campaign)
        if delay is not None and c is not None:
            self._report(again, SCHEDULED, counted, self._now + delay, again.last_outcome, contact.reserved_agent)
            self._wake_at(c.id, self._now + delay)
        elif c is not None and self.campaign_state[c.id] is not CampaignState.STOPPED:
            self._window[c.id][contact.contact_id] = again
            if again.reserved_agent is not None:
                # still kept for its agent, but only until the deadline it was loaded with: an agent
                # who missed its ring (paused) must not keep it from everyone for good
                until = again.reserved_until if again.reserved_until is not None else self._now + c.reserve_for
                self._reserved_until[(c.id, contact.contact_id)] = until
                self._timers.set("reserve", f"{c.id}:{contact.contact_id}", until)
        else:
            self._report(again, SCHEDULED, counted, self._now, again.last_outcome, contact.reserved_agent)

    def _dial_record(self, req: Request, outcome: AttemptOutcome) -> None:
        """The compliance record of one dial, in the raw event log: `dial_attempt` with the campaign
        as its queue (what the store's campaign figures and the pacer's restored windows count)."""
        attempt = req.attempts[-1] if req.attempts else None
        self._touched[req.id] = req
        self._emit(
            Activity(
                kind=DIAL_ACTIVITY,
                request_id=req.id,
                agent_id=req.agent_id or (attempt.agent_id if attempt else None) or None,
                queue=req.campaign,
                at=self._now,
                data={
                    "campaign": req.campaign,
                    "contact": req.contact_id,
                    "number": req.callback_number,
                    "attempt": attempt.number if attempt else None,
                    "started_at": attempt.started_at if attempt else None,
                    "outcome": outcome.value,
                    "abandoned": outcome is AttemptOutcome.ABANDONED,
                    # when an agent took the answered contact: the live answer's time in the pacer's
                    # judged windows (the line itself is written when the call ends)
                    "connected_at": req.service_started_at if outcome is AttemptOutcome.ANSWERED else None,
                },
            )
        )

    def _attempt_over(self, req: Request, outcome: AttemptOutcome, ended: Outcome, **data: object) -> None:
        """A counted attempt ended: the contact is retried, quarantined or done; the request ends
        (`data`: more for its `ended` line, as who hung up a call that was served)."""
        contact = contact_of(req)
        c = self.campaigns.get(contact.campaign)
        counted = contact.attempts + req.counted_attempts
        self._dial_record(req, outcome)
        self._end(req, ended, campaign=req.campaign, contact=req.contact_id, last=outcome.value, **data)
        self._forget_contact(contact)
        if outcome is AttemptOutcome.ANSWERED or c is None:
            # the agent's disposition is pending: kept with the row, so a restart can take it back
            self._report(contact, DONE, counted, None, outcome.value, self._disposing_agent(contact))
            return
        if outcome is AttemptOutcome.ABANDONED:
            delay: float | None = ABANDON_QUARANTINE
        else:
            delay = rules.retry_delay(c, outcome)
        if delay is None or counted >= c.max_attempts:
            self._report(contact, DONE, counted, None, outcome.value)
            return
        self._report(contact, SCHEDULED, counted, self._now + delay, outcome.value, contact.reserved_agent)
        self._wake_at(c.id, self._now + delay)

    # ------------------------------------------------------------------ campaign finished

    def restore_finished(self, campaigns: set[str]) -> None:
        """At start-up, before the first event: the campaigns whose finishing was already told
        (the event log's last campaign_finished / campaign_reopened of each), not told again."""
        self._finished = {cid for cid in campaigns if cid in self.campaigns}

    def finished_campaigns(self) -> set[str]:
        return set(self._finished)

    def _given_back(self, campaign: str, state: str) -> None:
        """A contact's progress was reported: one given back to the store while a load is in
        flight makes that load's answer inconclusive; the last one of the list done asks at once."""
        if state == SCHEDULED and campaign in self._loading:
            self._unsettled.add(campaign)
        elif state == DONE and campaign in self._window and not self._holds_contacts(campaign):
            self._look_again(campaign)  # maybe the last: find out now, not at the next poll

    def _holds_contacts(self, campaign: str) -> bool:
        return bool(self._window.get(campaign)) or any(c == campaign for c, _ in self._active_contacts)

    def _awaiting_disposition(self, campaign: str) -> bool:
        """An agent still in wrap-up after a call of this campaign may yet say call_back."""
        return any(
            last[0] == campaign and (a := self.agents.get(agent)) is not None and a.state is AgentState.WRAP_UP
            for agent, last in self._last_call.items()
        )

    def _settle_campaign(self, e: ContactsLoaded, stale: bool) -> None:
        cid = e.campaign
        unsettled = cid in self._unsettled
        self._unsettled.discard(cid)
        holds = self._holds_contacts(cid)
        if cid in self._finished:
            if holds:  # contacts again (an upload, a do-not-call entry removed): a new finishing later
                self._finished.discard(cid)
                self._activity(CAMPAIGN_REOPENED, None, campaign=cid)
            return
        if not e.exhausted or e.contacts or stale or unsettled or holds:
            return
        if self.campaign_state[cid] is not CampaignState.RUNNING or self._awaiting_disposition(cid):
            return  # a paused campaign is told when it runs again; a wrap-up ends within the next polls
        c = self.campaigns[cid]
        self._finished.add(cid)
        self._activity(CAMPAIGN_FINISHED, None, campaign=cid)
        self._emit(
            Notify(
                CAMPAIGN_FINISHED,
                f"campaign-{cid}",
                c.queue,
                None,
                at=self._now,
                data={"campaign": cid, "campaign_name": c.label},
            )
        )

    # ------------------------------------------------------------------ dispatch

    def _dispatch(self) -> None:
        if self.campaigns:
            self._connect_waiting()
            self._dial_campaigns(before_inbound=True)
            # only power holds keep agents from inbound: predictive dials are paced on what agents
            # will do, not given one each (inbound_first decides between them and callers)
            holds = self._agents_held_for_dials()
            self._held = frozenset(a for a, cid in holds.items() if self.campaigns[cid].mode is CampaignMode.POWER)
        try:
            super()._dispatch()
            wanted = self._held_agents_wanted()
        finally:
            self._held = frozenset()
        if self.campaigns:
            self._dial_campaigns(before_inbound=False, withheld=wanted)
            self._pace_campaigns()
            self._request_contacts()

    def _agents_held_for_dials(self) -> dict[str, str]:
        """Ready agents that contact-first dials still ringing (or answered, waiting) count on, and
        the campaign holding each: a power campaign one per `lines_per_agent` dials (the agents
        `_connect_waiting` would take), a predictive one one per dial (its pacing counted them
        ready). Across all campaigns: an agent one campaign dialled for is not free for another's
        dial or preview, nor ready in another's pacing, else one contact answers to nobody and is
        abandoned (the information message, 72 h quarantine, the abandon rate). `inbound_first`
        decides who gets a *free* agent; an agent a dial was placed for is not free until it ends."""
        free = [a for a in self.agents.values() if a.available]
        if not free:
            return {}
        held: dict[str, str] = {}
        # power first: each of its dials counts on one agent; predictive dials hold what is left
        for c in sorted(self.campaigns.values(), key=lambda c: c.mode is not CampaignMode.POWER):
            if c.mode not in CONTACT_MODES:
                continue
            flying = self._in_flight(c)
            if c.mode is CampaignMode.POWER:
                flying = math.ceil(flying / self._power_lines(c) - 1e-9) if flying else 0
            while flying > 0 and (agent := pick_agent(free, c.queue)) is not None:
                held[agent.id] = c.id
                free.remove(agent)
                flying -= 1
        return held

    def _held_agents_wanted(self) -> frozenset[str]:
        """Held agents a caller or callback is still waiting for: no new dial of an inbound_first
        campaign counts on them (a dial ending frees its agent for the caller, not for a redial)."""
        if not self._held:
            return frozenset()
        waiting = [q for q, order in self.orders.items() if order and dispatch.candidate(self, q) is not None]
        return frozenset(a for a in self._held if any(self.agents[a].serves(q) for q in waiting))

    def _dispatchable_agents(self) -> list[Agent]:
        """As CallFlow's, without the agents held for power dials (`_agents_held_for_dials`)."""
        agents = super()._dispatchable_agents()
        return [a for a in agents if a.id not in self._held] if self._held else agents

    def _may_dial(self, c: CampaignSettings) -> bool:
        return (
            self.campaign_state.get(c.id) is CampaignState.RUNNING
            and c.queue in self.queues
            and rules.in_dates(c, self._now)
            and rules.in_dates(c, self._now - self.clock_ahead)  # by both clocks, as calling hours
        )

    def _request_contacts(self) -> None:
        for c in self.campaigns.values():
            if not self._may_dial(c):
                if (
                    self.campaign_state.get(c.id) is CampaignState.RUNNING
                    and self._timers.get("contacts", c.id) is None
                ):
                    self._timers.set("contacts", c.id, self._now + RECHECK)  # its dates may begin
                continue
            window = self._window[c.id]
            if c.id in self._loading or self._now < self._load_after.get(c.id, 0.0):
                continue
            if len(window) <= c.window // 2:
                self._loading.add(c.id)
                self._asked[c.id] = c.window - len(window)
                self._emit(LoadContacts(c.id, c.window - len(window)))

    def _contacts_due(self, campaign: str) -> None:
        self._load_after.pop(campaign, None)  # dispatch after this timer asks the store again

    def _busy_on(self, c: CampaignSettings) -> int:
        return sum(
            1
            for a in self.agents.values()
            if a.request_id is not None and (r := self.requests.get(a.request_id)) is not None and r.campaign == c.id
        )

    def _join_parity(self, cid: str) -> None:
        """A campaign enters the parity pool (started, resumed, added, contacts again after none):
        its counter is raised to the pool's lowest share (dials / parity), so parity shares the
        calls from now on; else it would take every agent until it caught up with the others'
        dials of the time it did not dial."""
        c = self.campaigns.get(cid)
        if c is None or c.mode is CampaignMode.PREDICTIVE:
            return  # predictive campaigns are paced, not given agents by parity
        levels = [
            self._dials[o.id] / max(1, o.parity)
            for o in self.campaigns.values()
            if o.id != cid
            and o.order == c.order
            and o.mode is not CampaignMode.PREDICTIVE
            and self.campaign_state.get(o.id) is CampaignState.RUNNING
            and self._holds_contacts(o.id)  # one with nothing to dial is not sharing calls now
        ]
        if levels:
            self._dials[cid] = max(self._dials[cid], min(levels) * max(1, c.parity))

    def _share_cap(self, c: CampaignSettings) -> int:
        return max(1, math.floor(c.agent_share * self.agents_logged_in(c.queue) + 1e-9))

    def _in_flight(self, c: CampaignSettings) -> int:
        """Power dials not yet with an agent: ringing contacts, and answered ones waiting."""
        return sum(
            1
            for r in self.requests.values()
            if r.campaign == c.id
            and r.agent_id is None
            and r.state in (RequestState.DIALLING_CUSTOMER, RequestState.CONNECTING)
        )

    def _dial_campaigns(self, before_inbound: bool, withheld: frozenset[str] = frozenset()) -> None:
        pool = [
            c
            for c in self.campaigns.values()
            if c.inbound_first is not before_inbound and c.mode is not CampaignMode.PREDICTIVE and self._may_dial(c)
        ]
        if not pool:
            return
        agents = sorted(
            (a for a in self.agents.values() if a.available and a.id not in withheld),
            key=lambda a: (a.idle_since, a.id),
        )
        if not agents:
            return
        for c in pool:
            self._sweep_window(c)
        holds = self._agents_held_for_dials()
        dials = dict(self._dials)
        taken = {c.id: self._busy_on(c) for c in pool}
        power_lines: dict[str, float] = {}
        for agent in agents:
            holder = holds.get(agent.id)
            options = []
            for c in pool:
                if holder is not None and c.id != holder:
                    continue  # another campaign's dial counts on this agent
                if not agent.serves(c.queue) or taken[c.id] >= self._share_cap(c):
                    continue
                if self._next_contact(c, agent if c.mode is CampaignMode.PREVIEW else None, peek=True) is None:
                    continue
                options.append(c)
            chosen = rules.parity_pick(options, dials)
            if chosen is None:
                continue
            taken[chosen.id] += 1
            if chosen.mode is CampaignMode.PREVIEW:
                contact = self._next_contact(chosen, agent)
                if contact is None:
                    continue
                self._ring_for_contact(chosen, agent, contact)
                dials[chosen.id] += 1
                self._dials[chosen.id] += 1
            else:
                lines = self._power_lines(chosen)
                power_lines[chosen.id] = power_lines.get(chosen.id, 0.0) + lines
                dials[chosen.id] += lines
        for cid, lines in power_lines.items():
            c = self.campaigns[cid]
            want = math.floor(lines + 1e-9) - self._in_flight(c)
            while want > 0:
                contact = self._next_contact(c, None)
                if contact is None:
                    break
                self._start_dial(c, contact, None)
                self._dials[cid] += 1
                want -= 1

    # ------------------------------------------------------------------ predictive pacing

    def pacer(self, campaign: str) -> pacing.Pacer | None:
        """The pacing of a predictive campaign (None for other modes)."""
        c = self.campaigns.get(campaign)
        if c is None or c.mode is not CampaignMode.PREDICTIVE:
            return None
        found = self.pacers.get(campaign)
        if found is None:
            found = self.pacers[campaign] = self.pacer_factory(c)
            judged = self._power_windows.pop(campaign, None)
            if judged is not None and isinstance(found, pacing.HoldfastPacer):
                found.judged = judged  # edited from power: judged on the same calls
        return found

    def pacing_view(self, c: CampaignSettings) -> pacing.PacingView:
        now = self._now
        ready = present = 0
        talking: list[float] = []
        wrapping: list[float] = []
        holds = self._agents_held_for_dials()
        for a in self.agents.values():
            if not a.serves(c.queue) or a.state in (AgentState.LOGGED_OFF, AgentState.PAUSED):
                continue
            if a.after_call is not None:
                continue  # pausing or logging out after this call: not coming back for more
            present += 1
            if a.available and holds.get(a.id, c.id) != c.id:
                talking.append(0.0)  # another campaign's dial counts on them: as good as rung
            elif a.available:
                ready += 1
            elif a.state is AgentState.WRAP_UP:
                wrapping.append(max(0.0, (a.wrap_up_until or now) - now))
            elif a.state is AgentState.BUSY:
                talking.append(max(0.0, now - a.state_since))
            else:  # being rung: their call has not begun
                talking.append(0.0)
        in_flight: list[float] = []
        waiting = 0
        for r in self.requests.values():
            if r.campaign != c.id or r.agent_id is not None:
                continue
            if r.state is RequestState.DIALLING_CUSTOMER and r.attempts:
                in_flight.append(max(0.0, now - r.attempts[-1].started_at))
            elif r.state is RequestState.CONNECTING:
                waiting += 1
        cap = self._share_cap(c)
        if cap < present:
            # agent_share: the campaign paces for its share of the agents only. Ready ones while
            # agents on its calls leave room; those coming free next (wrap-up, longest talks) fill
            # the rest of the share
            ready = min(ready, max(0, cap - self._busy_on(c)))
            wrapping.sort()
            talking.sort(reverse=True)
            room = cap - ready
            wrapping, talking = wrapping[:room], talking[: max(0, room - len(wrapping))]
            present = cap
        q = self.queues.get(c.queue)
        return pacing.PacingView(
            now=now,
            ready=ready,
            present=present,
            talking=tuple(talking),
            wrapping=tuple(wrapping),
            in_flight=tuple(in_flight),
            waiting=waiting,
            wrap_up=q.wrap_up if q is not None and q.wrap_up is not None else 0.0,
            connect_allowance=_connect_allowance(c, self._silences.get(c.id)),
        )

    def _pace_campaigns(self) -> None:
        for c in self.campaigns.values():
            if c.mode is not CampaignMode.PREDICTIVE or not self._may_dial(c):
                continue
            pacer = self.pacer(c.id)
            assert pacer is not None
            if self._timers.get("pace", c.id) is None:
                self._timers.set("pace", c.id, self._now + PACE_EVERY)
            view = self.pacing_view(c)
            last_at, last_ready = self._paced_at.get(c.id, (-math.inf, 0))
            if self._now < last_at + PACE_GAP and view.ready <= last_ready:
                continue  # paced a moment ago and no agent has come free since; the pace timer looks again
            self._paced_at[c.id] = (self._now, view.ready)
            want = pacing.decide(pacer, view, c.max_dial_level)
            while want > 0:
                contact = self._next_contact(c, None)
                if contact is None:  # the window ran dry: pace again as soon as contacts come
                    self._paced_at.pop(c.id, None)
                    break
                self._start_dial(c, contact, None)
                self._dials[c.id] += 1
                want -= 1

    def _reservation_due(self, contact: str) -> None:
        """Nothing to do but be dispatched: the reserved call_back is anyone's from now on."""

    def _pace_due(self, campaign: str) -> None:
        """Nothing to do but be dispatched: pacing looks again as agents near the end of their calls."""

    def _observe_end(self, req: Request, outcome: str, after: float) -> None:
        pacer = self.pacer(req.campaign or "")
        if pacer is not None:
            pacer.observe_end(self._now, outcome, after)

    def _heard_silence(self, c: CampaignSettings) -> pacing.GreetingSilence:
        found = self._silences.get(c.id)
        if found is None:
            found = self._silences[c.id] = pacing.GreetingSilence(c.amd_after_greeting_silence)
        return found

    def _observe_live(self, req: Request, abandoned: bool) -> None:
        pacer = self.pacer(req.campaign or "")
        if pacer is not None:
            pacer.observe_live(self._now, abandoned)
        elif (c := self.campaigns.get(req.campaign or "")) is not None and c.mode is CampaignMode.POWER:
            self._judged(c.id).add(self._now, 1.0, 1.0 if abandoned else 0.0)

    def _judged(self, campaign: str) -> pacing.JudgedWindows:
        found = self._power_windows.get(campaign)
        if found is None:
            found = self._power_windows[campaign] = pacing.JudgedWindows()
            was = self.pacers.pop(campaign, None)
            if isinstance(was, pacing.HoldfastPacer):  # edited from predictive: judged on the same calls
                found = self._power_windows[campaign] = was.judged
        return found

    def _power_lines(self, c: CampaignSettings) -> float:
        """Power dials per ready agent: `lines_per_agent`, but above one only while the campaign's
        abandoned calls (24 h and 30 days) leave room for one more under its cap; else one per
        agent, which abandons none, until answered calls make room again."""
        if c.lines_per_agent <= 1.0 or not self.power_capped:
            return c.lines_per_agent
        if self._judged(c.id).room(self._now, c.abandon_cap) >= 1.0:
            return c.lines_per_agent
        return 1.0

    def _next_contact(self, c: CampaignSettings, agent: Agent | None, peek: bool = False) -> DueContact | None:
        """The best contact of the window that may be dialled now (for `agent` in preview). Contacts
        that may not be dialled leave the window as they are met (unless peeking): on do-not-call
        → done; attempts used up → done; outside calling hours → scheduled for the next opening."""
        window = self._window[c.id]
        for contact in sorted(window.values(), key=lambda k: (-k.priority, k.contact_id)):
            if self._number_in_use(contact.number):
                continue  # being dialled for another campaign or a callback: stays in the window, dialled after
            verdict = self._dial_verdict(c, contact)
            if verdict is not None:
                if not peek:
                    del window[contact.contact_id]
                    self._forget_reservation(c.id, contact.contact_id)
                    self._refuse_contact(c, contact, verdict)
                continue
            if contact.reserved_agent is not None and self._reservation_lapsed(c, contact, peek):
                contact = dataclasses.replace(contact, reserved_agent=None)
            if contact.reserved_agent is not None:
                reserved = self.agents.get(contact.reserved_agent)
                if agent is not None and contact.reserved_agent != agent.id:
                    continue
                if agent is None and (reserved is None or not reserved.available):
                    continue
            if not peek:
                del window[contact.contact_id]
                until = self._reserved_until.pop((c.id, contact.contact_id), None)
                if contact.reserved_agent is not None:  # goes with the dial: back in the window, still due then
                    contact = dataclasses.replace(contact, reserved_until=until)
            return contact
        return None

    def number_in_dial(self, number: str) -> bool:
        """A dialler request holds `number`: a callback to it waits meanwhile (dispatch.py)."""
        return number in self._numbers_in_use

    def _number_in_use(self, number: str) -> bool:
        """Dialled now for a campaign, or by a callback in service of any queue: not dialled again."""
        if number in self._numbers_in_use:
            return True
        return self.callback_in_service_to(number)

    def _reservation_lapsed(self, c: CampaignSettings, contact: DueContact, peek: bool) -> bool:
        """A reserved call_back whose agent did not take it within `reserve_for` is anyone's now."""
        key = (c.id, contact.contact_id)
        until = self._reserved_until.get(key)
        if until is None or self._now < until:
            return False
        if peek:
            return True
        del self._reserved_until[key]  # the caller takes it from the window, unreserved
        self._activity(
            "reservation_lapsed", None, campaign=c.id, contact=contact.contact_id, reserved_for=contact.reserved_agent
        )
        return True

    def _sweep_window(self, c: CampaignSettings) -> None:
        """Contacts that may not be dialled now leave the window (checked again at dial time)."""
        window = self._window[c.id]
        for contact in list(window.values()):
            verdict = self._dial_verdict(c, contact)
            if verdict is not None:
                del window[contact.contact_id]
                self._forget_reservation(c.id, contact.contact_id)
                self._refuse_contact(c, contact, verdict)

    def _dial_verdict(self, c: CampaignSettings, contact: DueContact) -> str | None:
        if self.dnc.blocked(contact.number, c.id):
            return "dnc"
        if contact.attempts >= c.max_attempts and contact.last_outcome != CALL_BACK:
            return "attempts_used"  # a promised call back is made whatever the answered call used
        if c.mode in CONTACT_MODES and self._quarantined_until(contact.number) is not None:
            return QUARANTINED  # a preview call has its agent on the line: allowed within the 72 h
        zones = rules.contact_zones(contact.number, contact.timezone, c.timezone)
        if not self._callable(c, zones, self._now):
            return "outside_hours"
        return None

    def _quarantined_until(self, number: str) -> float | None:
        """When a recent abandoned call to `number` stops keeping it from being dialled."""
        until = self._abandoned_until.get(number)
        if until is not None and until <= self._now:
            del self._abandoned_until[number]
            return None
        return until

    def restore_abandoned(self, abandoned_at: Mapping[str, float]) -> None:
        """At start-up, before the first event: numbers whose power call was abandoned and when
        (the raw event log's `dial_attempt` lines with `abandoned` set, of the last
        ABANDON_QUARANTINE), so a restart does not let another campaign ring them sooner."""
        for number, at in abandoned_at.items():
            self._quarantine_number(number, at + ABANDON_QUARANTINE)

    def _quarantine_number(self, number: str, until: float) -> None:
        self._abandoned_until[number] = max(until, self._abandoned_until.get(number, until))
        if len(self._abandoned_until) > self._abandoned_prune_at:
            self._abandoned_until = {n: u for n, u in self._abandoned_until.items() if u > self._now}
            self._abandoned_prune_at = max(ABANDONED_PRUNE, 2 * len(self._abandoned_until))

    def _callable(self, c: CampaignSettings, zones: tuple[str, ...], at: float) -> bool:
        """Within calling hours at `at` and, while the shell's clock runs ahead of the true one, at
        the true time as well (events.ClockAhead): never before anyone's hours, whichever is right."""
        ahead = self.clock_ahead
        return rules.callable_now(c, zones, at) and (ahead <= 0 or rules.callable_now(c, zones, at - ahead))

    def _next_callable(self, c: CampaignSettings, zones: tuple[str, ...]) -> float | None:
        """The first time (the shell's) from now at which `_callable` holds (None: never)."""
        at = rules.next_callable(c, zones, self._now)
        for _ in range(8):  # each round moves to the later clock's opening; they agree within a round or two
            if at is None or self._callable(c, zones, at):
                return at
            true_at = rules.next_callable(c, zones, at - self.clock_ahead)
            at = None if true_at is None else rules.next_callable(c, zones, true_at + self.clock_ahead)
        return at

    def _refuse_contact(self, c: CampaignSettings, contact: DueContact, verdict: str) -> None:
        until = self._abandoned_until.get(contact.number) if verdict == QUARANTINED else None
        if until is not None:  # another campaign's call to the number was abandoned: later, not never
            self._report(contact, SCHEDULED, contact.attempts, until, contact.last_outcome, contact.reserved_agent)
            self._wake_at(c.id, until)
            self._activity("contact_quarantined", None, campaign=c.id, contact=contact.contact_id, until=until)
            return
        if verdict == "outside_hours":
            zones = rules.contact_zones(contact.number, contact.timezone, c.timezone)
            at = self._next_callable(c, zones)
            # No opening ahead (hours closed every day, or never together in every zone of the
            # number): not a reason to finish the contact for good; hours may be given tomorrow.
            opening = at is not None
            if at is None:
                at = self._now + NO_OPENING_RECHECK
            self._report(contact, SCHEDULED, contact.attempts, at, contact.last_outcome, contact.reserved_agent)
            self._wake_at(c.id, at)
            self._activity(
                "contact_waits_for_hours", None, campaign=c.id, contact=contact.contact_id, until=at, opening=opening
            )
            return
        self._report(contact, DONE, contact.attempts, None, verdict)
        # the compliance record: a contact not dialled because of do-not-call is logged as such
        self._activity("contact_not_dialled", None, campaign=c.id, contact=contact.contact_id, reason=verdict)

    def _detects_machines(self, req: Request) -> bool:
        if req.kind is not RequestKind.CONTACT:
            return super()._detects_machines(req)
        c = self.campaigns.get(req.campaign or "")
        return c is not None and c.amd

    def _new_contact_request(self, c: CampaignSettings, contact: DueContact) -> Request:
        self._leg_seq += 1
        req = Request(
            id=f"dial-{c.id}-{contact.contact_id}-{self._leg_seq}",
            queue=c.queue,
            kind=RequestKind.CONTACT,
            priority=0,
            arrived_at=self._now,
            queued_since=self._now,
            place=self._next_place(0, self._now),
            caller_number=None,
            callback_number=contact.number,
            campaign=c.id,
            contact_id=contact.contact_id,
            contact=_card(contact),
        )
        self.requests[req.id] = req
        self._index_contact(c.id, contact.contact_id, req.id, contact.number)
        return req

    def _ring_for_contact(self, c: CampaignSettings, agent: Agent, contact: DueContact) -> None:
        """Preview: the agent is rung first, seeing who they will call."""
        req = self._new_contact_request(c, contact)
        req.first_dispatched_at = self._now
        self._activity("contact_previewed", req, agent=agent.id, campaign=c.id, contact=contact.contact_id)
        self._ring(req, agent, contact.name or c.label, contact.number)

    def _ring(self, req: Request, agent: Agent, name: str, number: str, auto_answer: bool = False) -> None:
        c = self.campaigns.get(req.campaign or "")
        power = c is not None and c.mode in CONTACT_MODES
        super()._ring(req, agent, name, number, auto_answer=auto_answer or power)

    def _start_dial(self, c: CampaignSettings, contact: DueContact, req: Request | None) -> None:
        if req is None:
            req = self._new_contact_request(c, contact)
        req.state = RequestState.DIALLING_CUSTOMER
        attempt = Attempt(number=req.next_attempt_number, started_at=self._now, agent_id=req.agent_id or "")
        req.attempts.append(attempt)
        req.customer_leg = self._new_leg(req, "customer")
        self._timers.set("customer", req.id, self._now + _customer_guard(c))
        # the compliance record of the dial: time, number, campaign, contact, agent (if any)
        self._activity(
            "attempt_started",
            req,
            attempt=attempt.number,
            number=req.callback_number,
            campaign=c.id,
            contact=contact.contact_id,
            mode=c.mode.value,
        )
        if req.agent_leg is not None:  # preview: the agent hears the contact's phone ring
            self._emit(PlayPrompt(req.agent_leg, (PromptItem("ringback"),)))
        self._emit(
            OriginateCustomer(
                leg_id=req.customer_leg,
                request_id=req.id,
                number=req.callback_number or "",
                caller_id_number=c.caller_id,
                timeout=c.ring_time,
                queue=c.queue,
                attempt=attempt.number,
                amd=c.amd,
                amd_args=c.amd_args,
            )
        )

    def _dial_customer(self, req: Request) -> None:
        if req.kind is not RequestKind.CONTACT:
            super()._dial_customer(req)
            return
        self._timers.cancel("review", req.id)
        contact = contact_of(req)
        c = self.campaigns.get(contact.campaign)
        verdict = self._dial_verdict(c, contact) if c is not None else "campaign_removed"
        if c is None or verdict is not None or not self._may_dial(c):
            # checked again at dial time: DNC added, hours ended or campaign paused while previewed
            self._emit(Hangup(req.agent_leg or "", "not_dialled"))
            agent = self._take_agent(req)
            if agent is not None:
                self._release_agent(agent, None)
            self._end(req, Outcome.RETURNED, campaign=req.campaign, contact=req.contact_id, reason=verdict or "paused")
            self._forget_contact(contact)
            if c is not None and verdict is not None:
                self._refuse_contact(c, contact, verdict)
            else:
                self._report(
                    contact, SCHEDULED, contact.attempts, self._now, contact.last_outcome, contact.reserved_agent
                )
            return
        self._start_dial(c, contact, req)

    # ------------------------------------------------------------------ power: connecting agents

    def _connect_waiting(self) -> None:
        waiting = [
            r for r in self.requests.values() if r.kind is RequestKind.CONTACT and r.state is RequestState.CONNECTING
        ]
        unstaffed: set[str] = set()  # queues found with no free agent in this pass
        for req in sorted(waiting, key=lambda r: r.place):
            c = self.campaigns.get(req.campaign or "")
            if c is not None and c.mode is CampaignMode.PREDICTIVE and self._busy_on(c) >= self._share_cap(c):
                continue  # agent_share: its pacing dialled for its share only (a power dial has its agent held)
            reserved = (req.contact or {}).get("reserved_agent")
            agent = self.agents.get(reserved) if reserved else None
            if agent is None or not agent.available or not agent.serves(req.queue):
                agent = None if req.queue in unstaffed else pick_agent(list(self.agents.values()), req.queue)
            if agent is None:
                unstaffed.add(req.queue)
                continue  # the next contact may be of another queue, whose agent is free
            self._ring(req, agent, (req.contact or {}).get("name") or "", req.callback_number or "")

    # ------------------------------------------------------------------ overrides of the call flow

    def _leg_answered(self, e: LegAnswered) -> None:
        found = self._leg(e.leg_id)
        if found is None or found[0].kind is not RequestKind.CONTACT:
            super()._leg_answered(e)
            return
        req, role = found
        c = self.campaigns.get(req.campaign or "")
        if role == "agent" and req.state is RequestState.RINGING_AGENT:
            self._timers.cancel("ring", req.id)
            agent = self.agents.get(req.agent_id or "")
            if agent is not None:  # None: removed from the settings while the service was down
                agent.start_call(e.now)
            if req.customer_leg is not None:  # power: the contact is on the line
                self._connect_contact(req)
                return
            req.state = RequestState.WHISPER  # preview: the agent reviews the contact
            self._activity("agent_answered", req)
            review = c.review_time if c is not None else 0.0
            if review <= 0:
                self._dial_customer(req)
            else:
                self._timers.set("review", req.id, e.now + review)
        elif role == "customer" and req.state is RequestState.DIALLING_CUSTOMER:
            self._timers.cancel("customer", req.id)
            attempt = req.attempts[-1]
            # answered, as regulators count the 2 s to an agent: at the end of the person's greeting
            attempt.ended_at = answered = _greeting_end(e, attempt.started_at)
            self._observe_end(req, pacing.MACHINE if e.voicemail else pacing.LIVE, e.now - attempt.started_at)
            if c is not None and c.amd and not e.voicemail and e.greeting_ended is not None:
                self._heard_silence(c).observe(e.now - answered)  # AMDCAUSE's silence, as the shell read it
            if e.voicemail:
                attempt.outcome = AttemptOutcome.MACHINE
                self._activity("attempt_outcome", req, attempt=attempt.number, outcome="machine")
                message = c.machine_message if c is not None else None
                if message:  # the campaign leaves a message on the machine, then the call ends
                    self._emit(PlayPrompt(e.leg_id, (PromptItem(message),), hangup_after=True))
                else:
                    self._emit(Hangup(e.leg_id, "machine"))
                self._drop_agent(req, "dialler_contact_unreachable")
                self._forget_leg(req.customer_leg)
                req.customer_leg = None
                self._attempt_over(req, AttemptOutcome.MACHINE, Outcome.MISSED)
                return
            attempt.outcome = AttemptOutcome.ANSWERED
            # answered_at: the instant the 2 s to an agent count from (the greeting's end, if heard)
            self._activity("attempt_outcome", req, attempt=attempt.number, outcome="answered", answered_at=answered)
            if _left_by_agent(req):  # preview: rung on after the agent hung up, nobody to speak to
                self._play_information(req)
                self._contact_left(req, "agent_left_before_answer")
            elif req.agent_leg is not None:  # preview: the agent is there
                self._emit(StopPrompt(req.agent_leg))
                self._connect_contact(req)
            else:  # power: find an agent within CONNECT_WITHIN
                req.state = RequestState.CONNECTING
                self._timers.set("connect", req.id, max(e.now, answered + CONNECT_WITHIN))
                self._activity("contact_answered", req)

    def _connect_contact(self, req: Request) -> None:
        assert req.customer_leg is not None and req.agent_leg is not None
        self._timers.cancel("connect", req.id)
        req.state = RequestState.CONNECTED
        agent = self.agents.get(req.agent_id or "")
        if agent is not None:
            agent.refusals = 0
        if req.attempts:  # power: the attempt is the connected agent's from now on
            req.attempts[-1].agent_id = req.agent_id or ""
        req.service_started_at = self._now
        self._bridge_legs(self._call_bridge(req), self._announcement_for(req))
        answered = req.attempts[-1].ended_at if req.attempts else None
        self._observe_live(req, abandoned=False)  # predictive only (always contact first)
        self._activity(
            "connected",
            req,
            campaign=req.campaign,
            contact=req.contact_id,
            after_answer=None if answered is None else round(self._now - answered, 3),
        )

    def _call_bridge(self, req: Request) -> BridgeLegs:
        if req.kind is not RequestKind.CONTACT:
            return super()._call_bridge(req)
        assert req.customer_leg is not None and req.agent_leg is not None
        campaign = self.campaigns.get(req.campaign or "")
        queue = self.queues.get(req.queue)
        return BridgeLegs(
            req.id,
            req.customer_leg,
            req.agent_leg,
            record=campaign is not None and campaign.record_calls,
            # a campaign's calls are stored as its queue's recordings are
            record_format=queue.recording.format if queue is not None else "wav",
        )

    def _announcement_for(self, req: Request) -> str | None:
        if req.kind is not RequestKind.CONTACT:
            return super()._announcement_for(req)
        return self._recording_announce(self.campaigns.get(req.campaign or ""))

    def _recording_announce(self, c: CampaignSettings | None) -> str | None:
        """The campaign's recording announcement: its own ("" is off), else its queue's."""
        if c is None:
            return None
        if c.recording_announce is not None:
            return c.recording_announce or None
        q = self.queues.get(c.queue)
        return q.recording.announce if q is not None else None

    def _drop_agent(self, req: Request, prompt: str | None) -> None:
        """The agent's part of this dial is over (no conversation): tell them why, free them."""
        if req.agent_leg is not None:
            if prompt is not None:
                self._emit(
                    StopPrompt(req.agent_leg), PlayPrompt(req.agent_leg, (PromptItem(prompt),), hangup_after=True)
                )
            else:
                self._emit(Hangup(req.agent_leg, "dial_over"))
        agent = self._take_agent(req)
        if agent is not None:
            self._release_agent(agent, None)

    def _leg_failed(self, e: LegFailed) -> None:
        found = self._leg(e.leg_id)
        if e.answered and found is not None:
            req, role = found
            if req.kind is RequestKind.CONTACT and role == "customer" and req.state is RequestState.DIALLING_CUSTOMER:
                self._gone_during_detection(req)
                return
        super()._leg_failed(e)

    def _gone_during_detection(self, req: Request) -> None:
        """The contact answered and hung up while answering-machine detection still listened: a
        person who heard silence, so a live answer abandoned (quarantined 72 h, counted against the
        cap), not a failed dial redialled at the next retry."""
        self._timers.cancel("customer", req.id)
        attempt = req.attempts[-1]
        attempt.ended_at = self._now
        self._observe_end(req, pacing.LIVE, self._now - attempt.started_at)
        self._activity("attempt_outcome", req, attempt=attempt.number, outcome="answered")
        self._contact_left(req, "hung_up_during_detection")

    def _customer_attempt_failed(self, req: Request, outcome: AttemptOutcome, cause: int | None) -> None:
        if req.kind is not RequestKind.CONTACT:
            super()._customer_attempt_failed(req, outcome, cause)
            return
        if outcome is AttemptOutcome.FAILED and cause in INVALID_CAUSES:
            outcome = AttemptOutcome.INVALID
        self._timers.cancel("customer", req.id)
        if outcome is AttemptOutcome.INTERRUPTED:
            self._contact_dial_interrupted(req)
            return
        attempt = req.attempts[-1]
        attempt.outcome = outcome
        attempt.ended_at = self._now
        self._observe_end(req, _END_CLASS.get(outcome, pacing.FAIL), self._now - attempt.started_at)
        self._forget_leg(req.customer_leg)
        req.customer_leg = None
        self._drop_agent(req, "dialler_contact_unreachable")
        self._activity("attempt_outcome", req, attempt=attempt.number, outcome=outcome.value, cause=cause)
        self._attempt_over(req, outcome, Outcome.MISSED)

    def _finish_call(self, req: Request, hung_up_by: str) -> None:
        if req.kind is not RequestKind.CONTACT:
            super()._finish_call(req, hung_up_by)
            return
        other = req.agent_leg if hung_up_by.startswith("customer") else req.customer_leg
        if other is not None:
            self._emit(Hangup(other, f"{hung_up_by}_hung_up"))
        q = self.queues[req.queue]
        if req.service_started_at is not None:
            pacer = self.pacer(req.campaign or "")
            if pacer is not None:
                pacer.observe_talk(self._now - req.service_started_at)
        agent = self._take_agent(req)
        contact = contact_of(req)
        if agent is not None:
            if hung_up_by == "agent_no_audio":
                self._agent_line_dead(agent, req)
            self._release_agent(agent, q.wrap_up)
            self._await_disposition(
                agent.id, contact.campaign, contact.contact_id, contact.attempts + req.counted_attempts
            )
        self._attempt_over(req, AttemptOutcome.ANSWERED, Outcome.SERVED, hung_up_by=hung_up_by)

    def _leg_hung_up(self, e: LegHungUp) -> None:
        found = self._leg(e.leg_id)
        if found is None or found[0].kind is not RequestKind.CONTACT:
            super()._leg_hung_up(e)
            return
        req, role = found
        if role == "customer" and self._contact_on_line(req) and req.state is not RequestState.CONNECTED:
            self._contact_left(req, "contact_hung_up")
            return
        if (
            role == "agent"
            and req.state is RequestState.DIALLING_CUSTOMER
            and self._ring_on_without_agent(req, e.no_audio)
        ):
            return
        super()._leg_hung_up(e)

    def _ring_on_without_agent(self, req: Request, no_audio: bool) -> bool:
        """Preview: the agent hung up while the contact's phone rang. Hanging the contact up at
        once would ring them for a moment only, which the regulators count as a nuisance call:
        their phone rings on until MIN_RING_TIME from the dial (`_customer_due` then ends the dial
        as the agent's, not counted). If they answer meanwhile, nobody is there to speak to: the
        information message, an abandoned call (`_leg_answered`). False when it rang long enough."""
        if req.customer_leg is None or not req.attempts:
            return False
        ring_out = req.attempts[-1].started_at + MIN_RING_TIME
        if ring_out <= self._now:
            return False
        self._agent_left(req, no_audio, ringing_until=round(ring_out, 3))
        self._timers.set("customer", req.id, ring_out)
        return True

    def _customer_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is None or req.state is not RequestState.DIALLING_CUSTOMER or not _left_by_agent(req):
            super()._customer_due(request_id)
            return
        # the phone of a preview whose agent left has rung MIN_RING_TIME: the dial is the agent's
        self._dial_ended_by_agent(req)
        self._return_to_place(req)

    def _dial_ring_time(self, req: Request) -> float | None:
        if req.kind is not RequestKind.CONTACT:
            return super()._dial_ring_time(req)
        c = self.campaigns.get(req.campaign or "")
        return c.ring_time if c is not None else None

    def _contact_dial_interrupted(self, req: Request) -> None:
        """A dial of a contact that a frozen or overloaded Asterisk never reported (the engine's
        guard fired), or reported as unanswered with its clock run on through a stall. Not the
        contact's doing, who may not even have been rung: it has its record but is not counted
        (counted, a one-attempt list lost contacts to our stalls, marked as not answering), and
        it is dialled again after a rest (its phone may have rung), as when a preview's agent left."""
        attempt = req.attempts[-1]
        attempt.outcome = AttemptOutcome.INTERRUPTED
        attempt.ended_at = self._now
        self._forget_leg(req.customer_leg)
        req.customer_leg = None
        self._drop_agent(req, "dialler_contact_unreachable")
        self._activity("attempt_outcome", req, attempt=attempt.number, outcome=attempt.outcome.value, cause=None)
        self._redial_after_rest(req, AttemptOutcome.INTERRUPTED)

    def _redial_after_rest(self, req: Request, outcome: AttemptOutcome) -> None:
        """A dial not counted against the contact whose phone may have rung: its record, and the
        contact dialled again after a rest (AGENT_LEFT_RETRY, or the no-answer interval if shorter)."""
        self._dial_record(req, outcome)
        c = self.campaigns.get(req.campaign or "")
        self._back_to_window(req, Outcome.RETURNED, min(AGENT_LEFT_RETRY, c.retry.no_answer) if c else None)

    def _contact_on_line(self, req: Request) -> bool:
        return req.state is RequestState.CONNECTING or (
            req.state is RequestState.RINGING_AGENT and req.customer_leg is not None
        )

    def _contact_left(self, req: Request, why: str) -> None:
        """Power: the answered contact is gone before an agent came: counted as abandoned."""
        self._drop_agent(req, None)
        self._forget_leg(req.customer_leg)
        req.customer_leg = None
        req.attempts[-1].outcome = AttemptOutcome.ABANDONED
        self._observe_live(req, abandoned=True)
        if req.callback_number:
            self._quarantine_number(req.callback_number, self._now + ABANDON_QUARANTINE)
        self._activity("dialler_abandoned", req, why=why, campaign=req.campaign, contact=req.contact_id)
        self._notify("abandoned_call", req, req.callback_number, campaign=req.campaign, why=why)
        self._attempt_over(req, AttemptOutcome.ABANDONED, Outcome.ABANDONED)

    def _connect_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is None or req.kind is not RequestKind.CONTACT or not self._contact_on_line(req):
            return
        self._play_information(req)
        self._contact_left(req, "no_agent_in_time")

    def _play_information(self, req: Request) -> None:
        """The answered contact no agent came for hears who called and a number to call back."""
        c = self.campaigns.get(req.campaign or "")
        prompt = c.information_prompt if c is not None else "dialler_information"
        number = c.information_number if c is not None else ""
        leg = req.customer_leg
        assert leg is not None
        # the number is the prompt's framed value: said between it and its tail (prompts.TAILS)
        self._emit(PlayPrompt(leg, (PromptItem(prompt, number or None),), hangup_after=True))

    def _review_due(self, request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is not None and req.kind is RequestKind.CONTACT and req.state is RequestState.WHISPER:
            self._dial_customer(req)

    def _return_to_place(self, req: Request) -> None:
        if req.kind is not RequestKind.CONTACT:
            super()._return_to_place(req)
            return
        answered = bool(req.attempts) and req.attempts[-1].outcome is AttemptOutcome.ANSWERED
        if req.customer_leg is not None and answered:  # power: the contact still waits for an agent
            req.state = RequestState.CONNECTING
            self._touched[req.id] = req
            return
        if req.attempts and req.attempts[-1].outcome is AttemptOutcome.AGENT_NO_ANSWER:
            # preview: the agent hung up while the contact's phone rang. A dial was placed: it has
            # its record (not counted against the contact, as for callbacks), and the phone that
            # just rang is not rung again at once
            self._redial_after_rest(req, AttemptOutcome.AGENT_NO_ANSWER)
            return
        self._back_to_window(req, Outcome.RETURNED)

    def _contact_leg_lost(self, e: LegLost) -> bool:
        """LegLost for a dialler request (True when handled here). As for callbacks: a restart or a
        refused command counts nothing against anyone; a customer leg gone during a websocket gap
        while dialled is a failed attempt."""
        found = self._leg(e.leg_id)
        if found is None or found[0].kind is not RequestKind.CONTACT:
            return False
        req, role = found
        restarted = e.leg_id in self._restored_legs or e.reason == "asterisk_restarted"
        in_gap = e.reason == "channel_vanished" and not restarted
        if req.state is RequestState.CONNECTED:
            self._finish_call(req, hung_up_by=f"{role}_lost")
        elif role == "customer" and self._contact_on_line(req):
            self._contact_left(req, f"contact_lost:{e.reason}")
        elif role == "customer" and req.state is RequestState.DIALLING_CUSTOMER and in_gap:
            self._customer_attempt_failed(req, AttemptOutcome.FAILED, cause=None)
        elif role == "customer" and req.state is RequestState.DIALLING_CUSTOMER and self._may_dial_again(req, e):
            self._dial_again_after_reconcile(req, e.reason)  # preview: its agent kept on the line
        else:
            self._interrupt(req, role, e.reason)
        return True

    def _attempt_interrupted(self, req: Request) -> None:
        if req.kind is RequestKind.CONTACT:
            self._dial_record(req, AttemptOutcome.INTERRUPTED)

    def restore_campaigns(
        self, states: dict[str, CampaignState], dnc: dict[str | None, list[tuple[str, bool]]]
    ) -> None:
        """At start-up, before the first event: campaign states and do-not-call lists as stored."""
        for cid, state in states.items():
            if cid in self.campaign_state:
                self.campaign_state[cid] = state
        for scope, entries in dnc.items():
            self.dnc.replace(scope, entries)

    def restore_pacing(self, history: pacing.PacingHistory) -> None:
        """At start-up, before the first event: a predictive campaign's judged abandon windows as
        the event log counts them (in memory they would restart from zero)."""
        pacer = self.pacer(history.campaign)
        if isinstance(pacer, pacing.HoldfastPacer):  # baseline policies (benchmark) keep no windows
            pacer.restore(history)
        elif pacer is None and history.campaign in self.campaigns:  # power: its judged windows
            self._judged(history.campaign).restore(history)

    def _restore_dialler(self, now: float) -> None:
        """After restore(): index the dialler requests taken back, set their own deadlines."""
        for req in self.requests.values():
            if req.kind is not RequestKind.CONTACT or req.campaign is None or req.contact_id is None:
                continue
            self._index_contact(req.campaign, req.contact_id, req.id, req.callback_number or "")
            if self._contact_on_line(req):
                # 2 s from the contact's answer, not from the restart: one who heard silence through
                # the downtime is an abandoned call (the message, the count, the quarantine)
                answered = req.attempts[-1].ended_at if req.attempts else None
                self._timers.set("connect", req.id, max(now, (answered or now) + CONNECT_WITHIN))
            # a preview under review is dialled at LegsReconciled (recovery.py), as a whisper is
            c = self.campaigns.get(req.campaign)
            if req.state is RequestState.DIALLING_CUSTOMER and c is not None:
                self._timers.set("customer", req.id, now + _customer_guard(c))


def _greeting_end(e: LegAnswered, dialled_at: float) -> float:
    """When a contact's answer counts from: the end of their greeting when detection heard it (its
    HUMAN verdict comes after_greeting_silence later: 0.8 s of the 2 s by amd.conf's default),
    else the answer reported now."""
    if e.greeting_ended is None:
        return e.now
    return min(e.now, max(dialled_at, e.greeting_ended))


def _connect_allowance(c: CampaignSettings, heard: pacing.GreetingSilence | None) -> float:
    """Seconds an agent has to reach a live answer from when the engine learns of it: CONNECT_WITHIN
    counts from the end of the greeting (`_greeting_end`), and with detection the answer comes as
    AMD()'s HUMAN verdict, after the silence it heard: a little more than after_greeting_silence,
    so the silence measured on the campaign's answers once there are enough (`heard`)."""
    if not c.amd:
        return CONNECT_WITHIN
    silence = heard.planned() if heard is not None else c.amd_after_greeting_silence
    return max(0.0, CONNECT_WITHIN - silence)


def _left_by_agent(req: Request) -> bool:
    """A preview dial whose agent hung up while the contact's phone rang (`_ring_on_without_agent`):
    its attempt names the agent it was placed for, yet no agent is on the request. A power or
    predictive dial names its agent only once connected."""
    return bool(req.attempts) and bool(req.attempts[-1].agent_id) and req.agent_id is None


def _customer_guard(c: CampaignSettings) -> float:
    """How long after the dial the engine gives up on Asterisk's answer or failure: the ring time,
    the guard's margin and, with answering-machine detection, the longest it may listen after
    the answer (a person answering late must not be hung up on as no answer)."""
    return c.ring_time + CUSTOMER_TIMEOUT_MARGIN + (c.amd_analysis_time if c.amd else 0.0)
