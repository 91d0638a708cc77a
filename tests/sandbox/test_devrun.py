"""What `make run` sets up around the example configuration: the customer account, callbacks routed
to it, and the banner a newcomer reads."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.config import HoldfastConfig, load_config
from app.devrun import CUSTOMER_PASSWORD_ENV, banner, sandbox_config, sandbox_customer
from app.sandbox import CustomerAccount

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "holdfast.yaml"
EXAMPLE_ENV = {
    "HOLDFAST_ARI_PASSWORD": "ari-secret",
    "HOLDFAST_ADMIN_TOKEN": "token-secret-for-the-api",
    "HOLDFAST_AGENT_1001_PASSWORD": "pw1001",
    "HOLDFAST_AGENT_1002_PASSWORD": "pw1002",
}
SATURDAY_NOON = datetime(2026, 12, 5, 12, 0, tzinfo=UTC).timestamp()  # the example's queues are closed
MONDAY_0830_CPH = datetime(2026, 12, 7, 7, 30, tzinfo=UTC).timestamp()  # support open, sales opens at 09:00


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> HoldfastConfig:
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    return load_config(EXAMPLE)


def test_customer_password_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CUSTOMER_PASSWORD_ENV, "kept")
    made: dict[str, str] = {}
    assert sandbox_customer(made) == CustomerAccount("kept")
    assert made == {}


def test_customer_password_is_generated_once_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CUSTOMER_PASSWORD_ENV, raising=False)
    made: dict[str, str] = {}
    account = sandbox_customer(made)
    assert len(account.password) >= 12
    assert made == {CUSTOMER_PASSWORD_ENV: account.password}


def test_sandbox_dials_every_customer_at_the_customer_softphone(example: HoldfastConfig) -> None:
    assert example.asterisk.trunk_endpoint("+4520123456") == "PJSIP/+4520123456@trunk"
    config = sandbox_config(example, CustomerAccount("x"))
    assert config.asterisk.trunk_endpoint("+4520123456") == "PJSIP/+4520123456@customer"
    assert config.asterisk.trunk_endpoint("004670000000") == "PJSIP/004670000000@customer"
    # nothing else changes
    assert config.asterisk.model_copy(update={"trunk_endpoint_format": "PJSIP/{number}@trunk"}) == example.asterisk
    assert config.queues == example.queues and config.agents == example.agents


def test_banner_has_both_accounts_what_to_dial_and_the_urls(example: HoldfastConfig) -> None:
    text = banner(example, CustomerAccount("cust-pw"), {}, MONDAY_0830_CPH)
    assert "SIP server 127.0.0.1:5060 (UDP)" in text
    assert re.search(r"agent +user 1001 +password pw1001 +\(Anna Jensen\)", text)
    assert re.search(r"agent +user 1003 +password change-me-1003", text)
    assert re.search(r"customer +user \+4520123456 .*auth user customer +password cust-pw", text)
    assert re.search(r"dial 4000 for queue 'support'$", text, re.M)  # open: nothing added
    assert "dial 4001 for queue 'sales'  (closed now; opens Mon 09:00 Europe/Copenhagen)" in text
    assert "Callbacks to any number ring the customer softphone" in text
    assert "*21 ready, *22 pause, *23 log out" in text
    assert "http://127.0.0.1:8080/api/queues" in text
    assert 'curl -H "Authorization: Bearer token-secret-for-the-api"' in text
    assert "http://127.0.0.1:8080/metrics" in text
    assert len(text.splitlines()) <= 20  # short: it must fit a terminal


def test_banner_says_when_a_closed_queue_opens(example: HoldfastConfig) -> None:
    text = banner(example, CustomerAccount("x"), {}, SATURDAY_NOON)
    assert "dial 4000 for queue 'support'  (closed now; opens Mon 08:00 Europe/Copenhagen)" in text


def test_banner_lists_generated_secrets(example: HoldfastConfig) -> None:
    text = banner(example, CustomerAccount("gen"), {CUSTOMER_PASSWORD_ENV: "gen"}, MONDAY_0830_CPH)
    assert f"    {CUSTOMER_PASSWORD_ENV}=gen" in text
