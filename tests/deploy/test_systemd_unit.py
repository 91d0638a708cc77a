"""examples/holdfast.service: a unit systemd accepts without a warning, that runs `holdfast run`
and restarts it on the exit codes the runner gives a fault, never on a refused start."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.runner import EXIT_FATAL

UNIT = Path(__file__).resolve().parents[2] / "examples" / "holdfast.service"
SHIPPED_EXEC = "/opt/holdfast/.venv/bin/holdfast"
ON_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def service_section() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def verified(tmp_path: Path, *units: Path) -> str:
    """What `systemd-analyze verify` says of the shipped units, with this checkout's holdfast in
    place of the shipped path (so it can check that the command exists); empty when all is well."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if ON_CI:
            pytest.fail("systemd-analyze is missing (Debian's systemd package)")
        pytest.skip("systemd-analyze is missing")
    here = str(Path(sys.executable).with_name("holdfast"))
    copies = []
    for unit in units:
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace(SHIPPED_EXEC, here))
        copies.append(str(copy))
    result = subprocess.run([analyze, "verify", *copies], capture_output=True, text=True, timeout=60)
    said = (result.stdout + result.stderr).strip()
    return said if said or result.returncode == 0 else f"exit {result.returncode}"


def test_systemd_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    assert SHIPPED_EXEC in UNIT.read_text()
    said = verified(tmp_path, UNIT)
    assert not said, said  # an unknown or misspelt key is only a warning


def test_it_runs_the_service_restarts_a_fault_and_not_a_refused_start() -> None:
    service = service_section()
    command = service["ExecStart"].split()
    assert command[0] == SHIPPED_EXEC and command[1:3] == ["run", "--config"]
    assert service["Restart"] == "on-failure"  # EXIT_FATAL is a failure: restarted, and it reconciles
    assert EXIT_FATAL != 0 and str(EXIT_FATAL) not in service["RestartPreventExitStatus"].split()
    assert service["RestartPreventExitStatus"].split() == ["2"]  # cli.py: refused to start
    assert service["ExecReload"].endswith("kill -HUP $MAINPID")  # runner.serve reloads on SIGHUP
    assert int(service["CPUWeight"]) > 100  # the CPU before Asterisk's (default 100)


BACKUP_SERVICE = UNIT.with_name("holdfast-backup.service")
BACKUP_TIMER = UNIT.with_name("holdfast-backup.timer")


def test_systemd_accepts_the_backup_timer_and_its_service_without_a_warning(tmp_path: Path) -> None:
    assert SHIPPED_EXEC in BACKUP_SERVICE.read_text()
    said = verified(tmp_path, BACKUP_TIMER, BACKUP_SERVICE)
    assert not said, said


def test_the_backup_runs_the_backup_command_as_the_service_user_on_its_store() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(BACKUP_SERVICE.read_text())
    backup, service = parser["Service"], service_section()
    command = backup["ExecStart"].split()
    assert command[:4] == [SHIPPED_EXEC, "backup", "--config", service["ExecStart"].split()[3]]
    assert command[4] == "--keep" and int(command[5]) >= 1
    assert backup["WorkingDirectory"] == service["WorkingDirectory"]  # data_dir ./var is found alike
    assert (backup["User"], backup["Group"]) == (service["User"], service["Group"])
    assert command[-1] in backup["ReadWritePaths"].split()
    assert int(backup["CPUWeight"]) < 100 < int(service["CPUWeight"])  # after the calls, never before
