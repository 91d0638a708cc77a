"""The dialler's rules at dial time on real Asterisk, with contacts uploaded over the API: a
do-not-call entry added after the upload (over the API, or by `holdfast dnc import` while the
service runs) is never dialled; a contact outside its calling hours waits for its local opening; a
paused campaign dials nobody until it is resumed."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import aiohttp
import pytest
from conftest import HOLDFAST

from app.core import events as ev

pytestmark = pytest.mark.e2e

IN_HOURS, LATER, BLOCKED = "+4520123475", "+4520123476", "+4520123477"


@pytest.fixture
def holdfast_extra_config() -> str:
    days = "\n".join(f'      {d}: "11:00-14:00"' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    return f"""
campaigns:
  rules:
    mode: preview
    queue: sales
    ring_time: 15s
    calling_hours:
{days}
"""


def zone_at(local_hour: int) -> str:
    """A fixed-offset zone in which it is now `local_hour`:xx (Etc/GMT-N is UTC+N)."""
    utc = datetime.now(UTC).hour
    for offset in range(-12, 15):
        if (utc + offset) % 24 == local_hour:
            return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"
    raise AssertionError(local_hour)


async def api(holdfast, method: str, path: str, **kwargs):
    async with aiohttp.ClientSession() as http, http.request(method, f"{holdfast.http_url}{path}", **kwargs) as resp:
        return resp.status, await resp.json()


async def upload(holdfast, *rows: tuple[str, str, str]) -> None:
    """CSV over the API (number, name, timezone), then the engine is told the list changed."""
    csv = "number,name,timezone\n" + "".join(f"{n},{name},{tz}\n" for n, name, tz in rows)
    status, answer = await api(
        holdfast, "POST", "/api/campaigns/rules/contacts", data=csv.encode(), headers={"Content-Type": "text/csv"}
    )
    assert status == 200 and answer["refused"] == 0, answer
    await holdfast.service.feed_and_commit(ev.ContactsChanged(holdfast.service.clock(), "rules"))
    await holdfast.wait_activity("contacts_loaded", campaign="rules", taken=len(rows))


async def stored(holdfast, number: str):
    await holdfast.service.wait_committed()
    (record,) = [r for r in await holdfast.store.list_contacts("rules") if r.number == number]
    return record


async def test_a_dnc_entry_added_after_the_upload_is_never_dialled(holdfast, phonesim):
    noon = zone_at(12)
    await upload(holdfast, (BLOCKED, "Blocked", noon), (IN_HOURS, "Allowed", noon))
    status, answer = await api(holdfast, "POST", "/api/dnc", json={"entries": [BLOCKED]})
    assert status == 201, answer
    phonesim.set_behaviour("agent:1001", "manual")
    holdfast.service.agent_action("1001", "ready")
    agent = await phonesim.wait_incoming("agent:1001")
    assert agent.caller_name == "Allowed"
    refused = await holdfast.wait_activity("contact_not_dialled", reason="dnc")
    record = await stored(holdfast, BLOCKED)
    assert refused.data["contact"] == record.contact_id and record.last_outcome == "dnc"
    assert not holdfast.activities.find("attempt_started")
    await agent.hangup()


async def test_a_dnc_entry_imported_by_the_command_line_while_running_is_never_dialled(holdfast, phonesim, tmp_path):
    noon = zone_at(12)
    await upload(holdfast, (BLOCKED, "Blocked", noon), (IN_HOURS, "Allowed", noon))  # both in the window
    csv = tmp_path / "dnc.csv"
    csv.write_text(f"number\n{BLOCKED}\n")
    cli = await asyncio.create_subprocess_exec(
        HOLDFAST, "dnc", "import", "--config", str(holdfast.config_path), "--campaign", "rules", "--by", "ops",
        str(csv), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, output.decode()
    applied = await holdfast.wait_activity("dnc_updated", campaign="rules", timeout=15)  # read from the admin log
    assert applied.data["added"] == 1
    phonesim.set_behaviour("agent:1001", "manual")
    holdfast.service.agent_action("1001", "ready")
    agent = await phonesim.wait_incoming("agent:1001")
    assert agent.caller_name == "Allowed"  # was: Blocked first, dialled until the service's next start
    await holdfast.wait_activity("contact_not_dialled", reason="dnc")
    assert (await stored(holdfast, BLOCKED)).last_outcome == "dnc"
    assert not holdfast.activities.find("attempt_started")
    await agent.hangup()


async def test_a_contact_outside_its_calling_hours_waits_for_its_local_opening(holdfast, phonesim):
    evening = zone_at(18)
    await upload(holdfast, (LATER, "Later", evening), (IN_HOURS, "Allowed", zone_at(12)))
    phonesim.set_behaviour("agent:1002", "manual")
    holdfast.service.agent_action("1002", "ready")
    agent = await phonesim.wait_incoming("agent:1002")
    assert agent.caller_name == "Allowed"
    waits = await holdfast.wait_activity("contact_waits_for_hours")
    record = await stored(holdfast, LATER)
    assert record.state == "scheduled" and record.next_due == waits.data["until"]
    opening = datetime.fromtimestamp(record.next_due, UTC)
    assert opening.minute == 0 and 16 * 3600 <= record.next_due - time.time() <= 18 * 3600  # 11:00 tomorrow there
    await agent.hangup()


async def test_a_paused_campaign_dials_nobody_until_resumed(holdfast, phonesim):
    await upload(holdfast, (IN_HOURS, "Allowed", zone_at(12)))
    await holdfast.service.feed_and_commit(ev.CampaignControl(holdfast.service.clock(), "rules", "pause"))
    phonesim.set_behaviour("agent:1003", "manual")
    await holdfast.service.agent_action_committed("1003", "ready")
    # dispatch runs within the event that made the agent ready: nothing was offered
    assert not holdfast.activities.find("contact_previewed")
    assert holdfast.engine.agents["1003"].state == "ready"
    await holdfast.service.feed_and_commit(ev.CampaignControl(holdfast.service.clock(), "rules", "start"))
    agent = await phonesim.wait_incoming("agent:1003")
    assert agent.caller_name == "Allowed"
    await agent.hangup()
