"""`holdfast sim` on the shipped example: loads, runs callbacks/absences/no-answers, reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.sim.cli import main
from app.sim.scenario import Scenario, seconds

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sim-basic.yaml"


def test_durations() -> None:
    assert [seconds(x) for x in (90, "90", "90s", "4m", "1.5h")] == [90.0, 90.0, 90.0, 240.0, 5400.0]
    with pytest.raises(ValueError, match="duration"):
        seconds("soon")


def test_example_scenario_loads() -> None:
    sc = Scenario.load(EXAMPLE)
    assert sc.agents == 40 and sc.callback.enabled and sc.absences and sc.bursts
    assert sc.handle_time.kind == "lognormal" and sc.patience is not None and sc.patience.kind == "weibull"


def test_unknown_key_is_named() -> None:
    with pytest.raises(ValueError, match="unknown scenario keys"):
        Scenario.from_dict({"agnets": 3})


def test_cli_runs_example(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = [str(EXAMPLE), "--callers", "1500", "--quiet"]
    try:
        import matplotlib  # noqa: F401

        argv += ["--plots", str(tmp_path)]
    except ImportError:
        pass
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "abandoned" in out and "SLA" in out and "took a callback" in out
    if "--plots" in argv:
        assert sorted(p.name for p in tmp_path.iterdir()) == ["sim-basic-queue.png", "sim-basic-waits.png"]


def test_cli_reports_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents: 3\npatience: {dist: gamma}\n")
    assert main([str(bad), "--quiet"]) == 2
    assert "gamma" in capsys.readouterr().err
