"""`holdfast contacts import` and `holdfast dnc import` on a settings file and its SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.cli import main
from app.store.sqlite import SQLiteStore
from tests.config.test_cli import EXAMPLE, secrets_set

__all__ = ["secrets_set"]

CAMPAIGN = "spring"


@pytest.fixture
def config(tmp_path: Path, secrets_set: None) -> Path:
    """The example settings with their data in tmp_path, and a campaign `spring` (Danish numbers)."""
    path = tmp_path / "holdfast.yaml"
    text = EXAMPLE.read_text().replace("data_dir: ./var", f"data_dir: {tmp_path / 'var'}", 1)
    path.write_text(text + f"\ncampaigns:\n  {CAMPAIGN}:\n    queue: support\n")
    return path


def stored(tmp_path: Path, campaign: str) -> tuple[list[tuple[str, str]], list[tuple[str, bool]]]:
    async def read() -> tuple[list[tuple[str, str]], list[tuple[str, bool]]]:
        async with SQLiteStore(tmp_path / "var" / "holdfast.db") as store:
            contacts = [(c.number, c.name) for c in await store.list_contacts(campaign)]
            return contacts, await store.dnc_entries(campaign)

    return asyncio.run(read())


def test_contacts_import_stores_rows_and_prints_refusals(tmp_path: Path, config: Path, capsys) -> None:
    csv = tmp_path / "contacts.csv"
    csv.write_text("\ufeffnumber,name,city\n+4520123456,Ann,Aarhus\n+4590123456,Premium,\n20123457,Bo,\n")
    assert main(["contacts", "import", "--config", str(config), "--campaign", CAMPAIGN, str(csv)]) == 0
    out, err = capsys.readouterr()
    assert "3 rows" in out and "2 new contacts" in out and "1 refused (premium_rate 1)" in out
    assert "line 3: premium_rate:" in err
    assert stored(tmp_path, CAMPAIGN)[0] == [("+4520123456", "Ann"), ("+4520123457", "Bo")]
    # again: every row merges into the contacts already there
    assert main(["contacts", "import", "--config", str(config), "--campaign", CAMPAIGN, str(csv)]) == 0
    assert "0 new contacts, 2 merged" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("campaign", "text", "words"),
    [
        ("autumn", "number\n+4520123456\n", "no campaign 'autumn'"),
        (CAMPAIGN, "name\nAnn\n", "no 'number' column"),
    ],
)
def test_a_refused_import_exits_2_and_stores_nothing(
    tmp_path: Path, config: Path, capsys, campaign: str, text: str, words: str
) -> None:
    csv = tmp_path / "contacts.csv"
    csv.write_text(text)
    assert main(["contacts", "import", "--config", str(config), "--campaign", campaign, str(csv)]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "var" / "holdfast.db").exists() or stored(tmp_path, campaign)[0] == []


def test_a_missing_file_exits_2(tmp_path: Path, config: Path, capsys) -> None:
    missing = str(tmp_path / "nope.csv")
    assert main(["contacts", "import", "--config", str(config), "--campaign", CAMPAIGN, missing]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_dnc_import_into_the_global_and_a_campaign_list(tmp_path: Path, config: Path, capsys) -> None:
    csv = tmp_path / "dnc.csv"
    csv.write_text("number\n+4520123456\n+4590*\n20123457\n")
    assert main(["dnc", "import", "--config", str(config), str(csv)]) == 0
    out, err = capsys.readouterr()
    assert "2 new entries" in out and "line 4: invalid" in err  # no country code on the global list
    assert main(["dnc", "import", "--config", str(config), "--campaign", CAMPAIGN, str(csv)]) == 0
    assert "3 new entries" in capsys.readouterr().out  # the campaign's region reads 20123457
    assert stored(tmp_path, CAMPAIGN)[1] == [("+4520123456", False), ("+4520123457", False), ("+4590", True)]


def admin_lines(tmp_path: Path) -> list[tuple[str, str, dict]]:
    async def read() -> list[tuple[str, str, dict]]:
        async with SQLiteStore(tmp_path / "var" / "holdfast.db") as store:
            return [(e.who, e.action, e.detail) for e in await store.admin_log()]

    return asyncio.run(read())


def test_imports_leave_a_line_a_running_service_reads_and_none_when_nothing_is_new(
    tmp_path: Path, config: Path, capsys
) -> None:
    """The line tells a running Holdfast (app/telephony/cli_changes.py) to take the entries in."""
    dnc = tmp_path / "dnc.csv"
    dnc.write_text("number\n+4520123456\n")
    args = ["dnc", "import", "--config", str(config), "--campaign", CAMPAIGN, "--by", "ops", str(dnc)]
    assert main(args) == 0
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("number,name\n+4520123457,Bo\n")
    assert main(["contacts", "import", "--config", str(config), "--campaign", CAMPAIGN, str(contacts)]) == 0
    assert main(args) == 0  # nothing new: no line
    lines = admin_lines(tmp_path)
    assert [(who, action) for who, action, _ in lines] == [("ops", "dnc_import"), ("holdfast-cli", "contacts_import")]
    assert lines[0][2]["via"] == "cli" and lines[0][2]["campaign"] == CAMPAIGN and lines[0][2]["inserted"] == 1
