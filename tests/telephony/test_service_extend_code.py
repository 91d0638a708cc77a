"""The wrap-up extension code (*24 by default) dialled from an agent's softphone: one step (60 s)
more of wrap-up, capped by `service.max_wrap_up_extension`; the agent hears it confirmed, or "not
in service" when nothing was extended (not in wrap-up, or the cap reached), as the other codes'
refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.config import ConfigError
from app.config.loader import parse_config
from app.core.states import AgentState
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, config_text, make_shell
from tests.telephony.test_service_features import _dial_code

WRAP_UP = 10.0  # the shell's default queues


@pytest.fixture
async def shell(fake_ari: FakeAri) -> AsyncIterator[Shell]:
    s = await make_shell(fake_ari, config_text(fake_ari, extra="service:\n  max_wrap_up_extension: 90s\n"))
    try:
        yield s
    finally:
        await s.stop()


async def _in_wrap_up(shell: Shell) -> float:
    caller, _ring = await shell.connected_call()
    await shell.hangup_event(caller.channel)
    await shell.eventually(lambda: shell.agent_state("1001") is AgentState.WRAP_UP, "wrap-up")
    end = shell.engine.agents["1001"].wrap_up_until
    assert end is not None
    return end


async def test_the_code_extends_the_wrap_up_by_a_minute_and_confirms_it(shell: Shell) -> None:
    await shell.start()
    end = await _in_wrap_up(shell)
    chan, media, playback_id = await _dial_code(shell, "PJSIP/1001-00000011", "*24")
    assert media == shell.media("wrap_up_extended")
    assert shell.engine.agents["1001"].wrap_up_until == pytest.approx(end + 60.0)
    await shell.finish_playback(playback_id, chan["id"])
    await shell.fake.wait_for_call("DELETE", f"/channels/{chan['id']}")

    shell.tick(WRAP_UP + 1)  # the configured wrap-up is over: still in wrap-up
    assert shell.agent_state("1001") is AgentState.WRAP_UP
    shell.tick(60.0)
    assert shell.agent_state("1001") is AgentState.READY


async def test_the_code_at_the_cap_is_refused_not_confirmed(shell: Shell) -> None:
    await shell.start()
    end = await _in_wrap_up(shell)
    _, media, _ = await _dial_code(shell, "PJSIP/1001-00000012", "*24")
    assert media == shell.media("wrap_up_extended")
    _, media, _ = await _dial_code(shell, "PJSIP/1001-00000013", "*24")  # 30 s left of the cap: granted
    assert media == shell.media("wrap_up_extended")
    assert shell.engine.agents["1001"].wrap_up_until == pytest.approx(end + 90.0)
    _, media, _ = await _dial_code(shell, "PJSIP/1001-00000014", "*24")  # nothing left
    assert media == shell.media("not_in_service")
    assert shell.engine.agents["1001"].wrap_up_until == pytest.approx(end + 90.0)


async def test_the_code_outside_wrap_up_is_refused(shell: Shell) -> None:
    await shell.start()
    shell.ready("1001")
    _, media, _ = await _dial_code(shell, "PJSIP/1001-00000015", "*24")
    assert media == shell.media("not_in_service")
    assert shell.agent_state("1001") is AgentState.READY


async def test_the_code_is_configurable(fake_ari: FakeAri) -> None:
    s = await make_shell(fake_ari, config_text(fake_ari, extra='feature_codes:\n  extend_wrap_up: "*5"\n'))
    try:
        await s.start()
        end = await _in_wrap_up(s)
        _, media, _ = await _dial_code(s, "PJSIP/1001-00000016", "*5")
        assert media == s.media("wrap_up_extended")
        assert s.engine.agents["1001"].wrap_up_until == pytest.approx(end + 60.0)
    finally:
        await s.stop()


def test_the_code_must_differ_from_the_others(fake_ari: FakeAri) -> None:
    text = config_text(fake_ari, extra='feature_codes:\n  extend_wrap_up: "*21"\n')
    with pytest.raises(ConfigError, match='uses "\\*21" for both ready and extend_wrap_up'):
        parse_config(text, env={})
