from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, load_config, parse_config, summarize
from app.core.settings import (
    AgentSettings,
    AnnounceSettings,
    CallbackOrder,
    CallbackSettings,
    CoreSettings,
    DispatchPolicy,
    EligibilityRules,
    OfferMode,
    OpeningHours,
    QueueSettings,
    TimeRange,
)

from .helpers import BASE, EXAMPLE, EXAMPLE_ENV, problems, valid, with_value

H = 3600
MINIMAL = """\
asterisk:
  ari_user: holdfast
  ari_password: secret
queues:
  support: {}
"""


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=env or {}, source="test.yaml")
    assert str(info.value).startswith("test.yaml is not valid")
    return info.value.problems


# --- the example file ---------------------------------------------------------------------------


def test_example_loads_and_builds_core_settings() -> None:
    cfg = load_config(EXAMPLE, env=EXAMPLE_ENV)
    core = cfg.core()
    day = (TimeRange(8 * H, 16 * H),)
    assert core == CoreSettings(
        queues=(
            QueueSettings(
                name="support",
                display_name="Customer support",
                service_level=20.0,
                ring_timeout=15.0,
                wrap_up=10.0,
                max_wait_after_close=3600.0,
                hours=OpeningHours(
                    timezone="Europe/Copenhagen",
                    weekly=(day, day, day, day, (TimeRange(8 * H, 12 * H), TimeRange(12 * H + 1800, 15 * H)), (), ()),
                    exceptions=(("2026-12-24", (TimeRange(8 * H, 12 * H),)), ("2026-12-25", ())),
                ),
                callback=CallbackSettings(
                    enabled=True,
                    key="1",
                    offer_mode=OfferMode.REPEAT,
                    min_wait_before_offer=20.0,
                    offer_threshold=60.0,
                    reoffer_interval=30.0,
                    allow_other_number=True,
                    abandon_callback_after=None,
                    callback_delay=0.0,
                    max_attempts=3,
                    sec_between_retries=300.0,
                    give_up_on_busy=False,
                    vip_on_retry=1,
                    max_age=72 * 3600.0,
                    dispatch=DispatchPolicy.ALWAYS,  # the example keeps the place its offer promises
                    max_callback_agent_share=1.0,
                    order=CallbackOrder.KEEP_PLACE,
                    random_seed=0,
                    customer_ring_timeout=30.0,
                    caller_id="+4570000000",
                    amd=False,
                    voicemail_message=None,
                    max_per_number_per_day=3,
                    cancel_when_served_by_phone=True,
                ),
                eligibility=EligibilityRules(
                    allowed_regions=("DK",),
                    allowed_types=("mobile", "fixed_line", "fixed_line_or_mobile"),
                    blocklist=("+4590*",),
                    allowlist=(),
                ),
                announce=AnnounceSettings(position=True, estimated_wait=True, interval=60.0),
            ),
            QueueSettings(
                name="sales",
                display_name="Sales",
                service_level=30.0,
                hours=OpeningHours(
                    timezone="Europe/Copenhagen",
                    weekly=(
                        *([(TimeRange(9 * H, 17 * H),)] * 4),
                        (TimeRange(9 * H, 15 * H),),
                        (),
                        (),
                    ),
                ),
                callback=CallbackSettings(enabled=False),
                eligibility=EligibilityRules(allowed_regions=("DK", "SE", "NO")),
            ),
        ),
        agents=(
            AgentSettings(id="1001", name="Anna Jensen", skills=(("support", 0),)),
            AgentSettings(id="1002", name="Bo Hansen", skills=(("support", 0), ("sales", 1))),
            AgentSettings(id="1003", name="Cecilie Larsen", skills=(("sales", 0),)),
        ),
        menu_timeout=10.0,
    )


def test_example_service_sections() -> None:
    cfg = load_config(EXAMPLE, env=EXAMPLE_ENV)
    assert cfg.asterisk.ari_url == "http://127.0.0.1:8088/ari"
    assert cfg.asterisk.ari_user.get_secret_value() == "holdfast"
    assert cfg.asterisk.ari_password.get_secret_value() == "ari-secret"
    assert cfg.asterisk.app == "holdfast"
    assert cfg.asterisk.agent_endpoint("1001") == "PJSIP/1001"
    assert cfg.asterisk.trunk_endpoint("+4512345678") == "PJSIP/+4512345678@trunk"
    assert cfg.service.http_port == 8080
    assert cfg.service.data_dir == Path("var")
    assert cfg.service.admin_token is not None
    assert cfg.service.admin_token.get_secret_value() == "token-secret-for-the-api"
    assert cfg.inbound == {"4000": "support", "4001": "sales"}
    assert (cfg.feature_codes.ready, cfg.feature_codes.pause, cfg.feature_codes.logout) == ("*21", "*22", "*23")
    assert cfg.agents["1002"].password.get_secret_value() == "pw1002"
    assert cfg.agents["1003"].password.get_secret_value() == "change-me-1003"


def test_example_summary() -> None:
    text = summarize(load_config(EXAMPLE, env=EXAMPLE_ENV))
    assert 'support "Customer support": hours Europe/Copenhagen Mon-Thu 08:00-16:00' in text
    assert "callback on key 1" in text
    assert 'sales "Sales":' in text and "callback off" in text
    assert "1002 Bo Hansen: support (0), sales (1)" in text
    assert "4000 -> support" in text
    for secret in EXAMPLE_ENV.values():
        assert secret not in text


def test_defaults_match_core_defaults() -> None:
    cfg = parse_config(MINIMAL)
    assert cfg.core() == CoreSettings(queues=(QueueSettings(name="support"),))
    assert cfg.asterisk.ari_url == "http://127.0.0.1:8088/ari"
    assert cfg.asterisk.agent_endpoint_format == "PJSIP/{username}"
    assert cfg.asterisk.trunk_endpoint_format == "PJSIP/{number}@trunk"
    assert (cfg.service.http_host, cfg.service.http_port, cfg.service.language) == ("127.0.0.1", 8080, "en")
    assert cfg.service.admin_token is None
    assert cfg.prompts.dir is None and cfg.prompts.overrides == {}


# --- secrets from the environment ---------------------------------------------------------------


@pytest.mark.parametrize("ref", ["${ARI_PW}", "env:ARI_PW", "${ ARI_PW }"])
def test_secret_from_env(ref: str) -> None:
    cfg = valid(with_value("asterisk.ari_password", ref), env={"ARI_PW": "s3cret"})
    assert cfg.asterisk.ari_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(cfg)


@pytest.mark.parametrize(
    ("path", "ref", "env", "message"),
    [
        (
            "asterisk.ari_password",
            "${ARI_PW}",
            {},
            "asterisk.ari_password refers to environment variable ARI_PW, which is not set",
        ),
        (
            "asterisk.ari_user",
            "env:ARI_USER",
            {},
            "asterisk.ari_user refers to environment variable ARI_USER, which is not set",
        ),
        (
            "service.admin_token",
            "${TOKEN}",
            {"TOKEN": ""},
            "service.admin_token refers to environment variable TOKEN, which is empty",
        ),
        (
            "agents.1001.password",
            "env:PW_1001",
            {},
            "agents.1001.password refers to environment variable PW_1001, which is not set",
        ),
        ("asterisk.ari_password", "${1BAD}", {}, "asterisk.ari_password looks like an environment reference"),
        ("asterisk.ari_password", "", {}, "asterisk.ari_password is empty"),
    ],
)
def test_secret_errors(path: str, ref: str, env: dict[str, str], message: str) -> None:
    found = problems(with_value(path, ref), env=env)
    assert len(found) == 1 and found[0].startswith(message), found


def test_secret_value_never_echoed() -> None:
    found = problems(with_value("asterisk.ari_password", ["hunter2"]))
    assert found == ["asterisk.ari_password must be text (a literal secret, ${VAR} or env:VAR)"]


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOLDFAST_TEST_PW", "from-os")
    cfg = parse_config(MINIMAL.replace("secret", "${HOLDFAST_TEST_PW}"))
    assert cfg.asterisk.ari_password.get_secret_value() == "from-os"


# --- the file itself ----------------------------------------------------------------------------


def test_yaml_syntax_error_reports_line_and_column() -> None:
    (msg,) = errors_of("asterisk:\n  ari_user: u\n   ari_password: p\n")
    assert msg.startswith("YAML syntax error at line 3, column 16")


def test_unclosed_flow_sequence() -> None:
    (msg,) = errors_of("queues: [support\nagents: {}\n")
    assert "YAML syntax error at line" in msg


def test_unquoted_feature_code_hint() -> None:
    (msg,) = errors_of(MINIMAL + "feature_codes:\n  ready: *21\n")
    assert "line 7, column 10" in msg
    assert 'must be quoted: "*21"' in msg


def test_duplicate_keys_are_reported_with_line() -> None:
    found = errors_of(MINIMAL + "  support: {}\n")
    assert found == ["line 6, column 3: queues.support appears twice in the same mapping (first at line 5); remove one"]


def test_duplicate_keys_are_listed_with_other_problems() -> None:
    found = errors_of(MINIMAL + "  support: {}\nservice: {http_port: 0}\n")
    assert len(found) == 2 and "appears twice" in found[0] and "service.http_port is 0" in found[1]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "the file is empty; expected a mapping with the sections asterisk, service"),
        ("# only comments\n", "the file is empty"),
        ("- a\n- b\n", "the file holds a list; expected a mapping"),
        ("holdfast\n", 'the file holds the value "holdfast"; expected a mapping'),
        ("---\na: 1\n---\nb: 2\n", "YAML syntax error"),
    ],
)
def test_not_a_mapping(text: str, needle: str) -> None:
    (msg,) = errors_of(text)
    assert needle in msg


def test_missing_sections() -> None:
    found = errors_of("service: {}\n")
    assert "asterisk is required (the ARI connection: at least ari_user and ari_password)" in found
    assert "queues is required (at least one queue)" in found


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "cannot read the file" in info.value.problems[0]
    assert str(tmp_path / "nope.yaml") in str(info.value)


def test_yaml_scalars_keep_their_text() -> None:
    text = MINIMAL.replace("support: {}", "support:") + (
        "    eligibility:\n"
        "      allowed_regions: [DK, NO]\n"  # YAML 1.1 would read NO as false
        "      blocklist: [+4532123456]\n"  # ... and this as an integer without its +
        "    callback:\n"
        "      abandon_callback_after: off\n"  # ... and off as false
        "    hours:\n"
        "      mon: 08:00-16:00\n"
        "      exceptions:\n"
        "        2026-12-24: closed\n"  # ... and this as a date
        "inbound:\n"
        "  04000: support\n"  # ... and this as octal 2048
    )
    cfg = parse_config(text)
    q = cfg.core().queue("support")
    assert q.eligibility.allowed_regions == ("DK", "NO")
    assert q.eligibility.blocklist == ("+4532123456",)
    assert q.callback.abandon_callback_after is None
    assert q.hours is not None and q.hours.exceptions == (("2026-12-24", ()),)
    assert cfg.inbound == {"04000": "support"}


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "holdfast.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_config(path).core().queue("support").name == "support"


def test_error_text_lists_every_problem() -> None:
    data = with_value("service.http_port", 0, BASE)
    data = with_value("queues.support.callback.max_attempts", 9, data)
    with pytest.raises(ConfigError) as info:
        from app.config import validate_config

        validate_config(data, env={})
    assert str(info.value) == (
        "the configuration is not valid (2 problems):\n"
        "  - service.http_port is 0; allowed 1-65535\n"
        "  - queues.support.callback.max_attempts is 9; allowed 1-3"
    )


def test_prompts_override_path() -> None:
    cfg = valid(with_value("prompts", {"dir": "/srv/prompts", "overrides": {"welcome": "w", "bye": "/abs/bye"}}))
    assert cfg.prompts.path_for("welcome") == "/srv/prompts/w"
    assert cfg.prompts.path_for("bye") == "/abs/bye"
    assert cfg.prompts.path_for("other") is None


def test_summary_of_minimal_config() -> None:
    cfg = valid(
        with_value(
            "queues.sales",
            {"callback": {"offer_mode": "on_arrival", "max_attempts": 1, "abandon_callback_after": "2m"}},
        )
    )
    text = summarize(cfg)
    assert "support: always open; callback on key 1, offered after 20s if wait > 1m" in text
    assert "sales: always open; callback on key 1, offered on arrival, 1 attempt," in text
    assert "auto-callback on hang-up after 2m" in text
    assert "admin token not set" in text
    assert "1001: support (0)" in text
