"""The outbound simulator (app/sim/outbound.py) on the real core, and what it reports."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.sim.cli import main
from app.sim.outbound import Change, Mix, OutboundResult, OutboundScenario, OutboundSimulator, simulate_outbound

SMALL = OutboundScenario(name="small", agents=10, horizon=1800.0)


def test_the_same_seed_gives_the_same_run() -> None:
    a, b = simulate_outbound(SMALL), simulate_outbound(SMALL)
    assert a.summary() == b.summary() and a.dials == b.dials


def test_a_long_run_keeps_no_per_dial_record_in_the_engine() -> None:
    """A simulated day must not grow the engine by a record per dial (it held every contact's
    progress, which only the service's store takes): only the last step's is left."""
    sim = OutboundSimulator(replace(SMALL, horizon=4 * 3600.0))
    result = sim.run()
    assert result.dials > 1000
    assert len(sim.engine.requests) <= SMALL.agents * 4
    assert len(sim.engine.take_contact_progress()) <= SMALL.agents * 4


def test_progressive_never_abandons_and_stays_under_the_ceiling() -> None:
    r = simulate_outbound(replace(SMALL, policy="progressive"))
    assert r.abandoned == 0 and r.lives > 50
    assert 0.3 < r.occupancy < 120 / 130
    # auto-answer: the agent is there at once once AMD says HUMAN, counted from the greeting's end
    heard = SMALL.after_greeting_silence + SMALL.agent_answer  # and up to silence_overshoot more silence
    assert r.wait_p95() == pytest.approx(heard + SMALL.silence_overshoot / 2, abs=SMALL.silence_overshoot / 2)


def test_holdfast_keeps_agents_busier_than_progressive_on_the_same_contacts() -> None:
    hf = simulate_outbound(replace(SMALL, policy="holdfast", horizon=3600.0))
    pr = simulate_outbound(replace(SMALL, policy="progressive", horizon=3600.0))
    assert hf.occupancy > pr.occupancy + 0.05
    assert hf.dials_per_connect == pytest.approx(pr.dials_per_connect, rel=0.15)  # the same list


def test_a_list_that_gets_worse_needs_more_dials_per_connect() -> None:
    worse = replace(SMALL, policy="progressive", changes=(Change(600.0, Mix(0.08, 0.15, 0.05)),))
    assert simulate_outbound(worse).dials_per_connect > simulate_outbound(replace(worse, changes=())).dials_per_connect


def test_amd_false_positives_are_counted_as_abandoned_people() -> None:
    r = simulate_outbound(replace(SMALL, policy="progressive", amd_false_positive=0.2))
    assert r.amd_hung_up > 0 and r.abandoned == r.amd_hung_up  # progressive: the only abandons


def test_worst_window_slides_over_long_runs() -> None:
    r = OutboundResult(SMALL)
    day = 86400.0
    r.live_log = [(t * 60.0, False) for t in range(3 * 24 * 60)]  # three days, one answer a minute
    r.live_log[1440 + 30] = (r.live_log[1440 + 30][0], True)
    r.lives, r.abandoned = len(r.live_log), 1
    assert r.worst_window(day) == pytest.approx(1 / 1440, rel=0.01)
    assert r.worst_window(30 * day) == pytest.approx(r.abandon_rate)


def test_holdfast_sim_runs_an_outbound_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "out.yaml"
    path.write_text("kind: outbound\nagents: 4\nhorizon: 10m\npolicy: ratio:2\nlive: 0.3\n")
    assert main([str(path), "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert "policy ratio:2" in text and "occupancy" in text and "per connect" in text


def test_holdfast_sim_names_a_bad_outbound_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "out.yaml"
    path.write_text("kind: outbound\npolicy: turbo\n")
    assert main([str(path)]) == 2
    assert "policy 'turbo'" in capsys.readouterr().err
