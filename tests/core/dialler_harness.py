"""Helpers for the dialler's core tests: campaign settings, contacts and a harness that answers
`LoadContacts` from an in-memory list, as the store would."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from app.core import commands as c
from app.core import events as ev
from app.core.contacts import CLAIMED, DONE, SCHEDULED, ContactProgress, DueContact
from app.core.pacing import HistoryMinute, PacingHistory
from app.core.settings import (
    AgentSettings,
    CampaignMode,
    CampaignSettings,
    CoreSettings,
    QueueSettings,
)
from tests.core.harness import Harness

START = 1_780_000_000.0  # a Thursday (2026-05-28) 20:26:40 UTC


def campaign(cid: str = "spring", mode: CampaignMode = CampaignMode.PREVIEW, **fields: Any) -> CampaignSettings:
    return replace(CampaignSettings(id=cid, queue="sales", mode=mode), **fields)


def dialler_settings(*campaigns: CampaignSettings, agents: int = 1, **queue_fields: Any) -> CoreSettings:
    return CoreSettings(
        queues=(QueueSettings(name="sales", **queue_fields),),
        agents=tuple(AgentSettings(id=f"a{i + 1}", skills=(("sales", 0),)) for i in range(agents)),
        campaigns=campaigns or (campaign(),),
    )


def contact(cid: int, number: str = "+4520000000", campaign_id: str = "spring", **fields: Any) -> DueContact:
    base = DueContact(
        campaign=campaign_id,
        contact_id=cid,
        number=number if number != "+4520000000" else f"+45200000{cid:02d}",
        name=f"Contact {cid}",
        fields={"account": f"A{cid}"},
        timezone=None,
        priority=0,
        attempts=0,
        reserved_agent=None,
    )
    return replace(base, **fields)


class DiallerHarness(Harness):
    """A harness whose "store" is a dict of contacts: LoadContacts is answered at once from the
    due ones (not claimed, next_due reached), and every ContactProgress is applied to it."""

    def __init__(
        self,
        core: CoreSettings,
        contacts: list[DueContact] = (),  # type: ignore[assignment]
        start: float = START,
        power_record: int = 100,
    ) -> None:
        super().__init__(core, start)
        # Power campaigns above one line per agent dial their ratio only while their judged windows
        # have room under the cap: by default each has answered `power_record` calls an hour ago and
        # abandoned none (tests/core/test_dialler_power_cap.py starts from a fresh record).
        for k in core.campaigns:
            if k.mode is CampaignMode.POWER and k.lines_per_agent > 1 and power_record:
                record = (HistoryMinute(math.floor(start / 60) - 60, power_record, 0, 0),)
                self.engine.restore_pacing(PacingHistory(start, k.id, record))
        self.store: dict[tuple[str, int], DueContact] = {(k.campaign, k.contact_id): k for k in contacts}
        self.state: dict[tuple[str, int], ContactProgress] = {}
        self.progress_log: list[ContactProgress] = []
        self.answer_loads = True  # LoadContacts answered at once from `store`; else kept in pending_loads
        self.pending_loads: list[c.LoadContacts] = []

    def send(self, event: ev.Event) -> list[c.Command]:
        out = super().send(event)
        for p in self.engine.take_contact_progress():
            self.progress_log.append(p)
            self.state[(p.campaign, p.contact_id)] = p
            key = (p.campaign, p.contact_id)
            if key in self.store:
                self.store[key] = replace(
                    self.store[key], attempts=p.attempts, reserved_agent=p.reserved_agent, last_outcome=p.last_outcome
                )
        for load in [x for x in out if isinstance(x, c.LoadContacts)]:
            if not self.answer_loads:  # the test answers it later (a load in flight)
                self.pending_loads.append(load)
                continue
            due = tuple(self.due(load.campaign, load.limit))
            exhausted = not due and self.exhausted(load.campaign)
            out += self.send(ev.ContactsLoaded(self.now, load.campaign, due, exhausted=exhausted))
        return out

    def exhausted(self, campaign_id: str) -> bool:
        """As the store's contacts_exhausted: contacts, each claimed or done (none due now or later)."""
        keys = [key for key in self.store if key[0] == campaign_id]
        return bool(keys) and all((p := self.state.get(key)) is not None and p.state != SCHEDULED for key in keys)

    def due(self, campaign_id: str, limit: int) -> list[DueContact]:
        out = []
        for key, k in sorted(self.store.items(), key=lambda kv: (-kv[1].priority, kv[0][1])):
            if key[0] != campaign_id:
                continue
            p = self.state.get(key)
            if p is not None and (p.state in (CLAIMED, DONE) or (p.next_due is not None and p.next_due > self.now)):
                continue
            out.append(k)
        return out[:limit]

    def add(self, *contacts: DueContact) -> None:
        for k in contacts:
            self.store[(k.campaign, k.contact_id)] = k

    def progress(self, contact_id: int, campaign_id: str = "spring") -> ContactProgress | None:
        return self.state.get((campaign_id, contact_id))

    def dials(self, out: list[c.Command] | None = None) -> list[c.OriginateCustomer]:
        return self.of(self.log if out is None else out, c.OriginateCustomer)


__all__ = ["CLAIMED", "DONE", "SCHEDULED", "START", "DiallerHarness", "campaign", "contact", "dialler_settings"]
