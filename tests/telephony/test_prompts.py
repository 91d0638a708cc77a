"""The shipped recordings and how PromptBook picks and orders them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.core.commands import PromptItem as P
from app.telephony.prompts import SHIPPED_DIR, STOCK, TAILS, TONES, VALUE_ITEMS, PromptBook, install_prompts

CORE = Path(__file__).resolve().parents[2] / "app" / "core"

VALUES = set(VALUE_ITEMS)
# Not emitted by literal name: callback.voicemail_message and recording.announce name them;
# these are the shipped ones.
CONFIGURED = {"voicemail_message", "recording_notice"}


def engine_names() -> set[str]:
    source = "".join(path.read_text() for path in sorted(CORE.glob("*.py")))
    names = set(re.findall(r'PromptItem\("([a-z_]+)"', source)) - VALUES
    assert len(names) >= 10, names  # the parse still finds the engine's prompts
    assert names >= TONES  # the engine plays them ...
    return names - TONES  # ... but they are tones, not recordings


def shell_names() -> set[str]:
    # The shell plays these by name (`prompts.named("not_in_service")`, agent feature codes).
    return {"not_in_service", "agent_ready", "agent_paused", "agent_logged_out"}


def all_names() -> set[str]:
    return engine_names() | shell_names() | CONFIGURED | set(TAILS.values()) | {"estimated_wait_tail_one"}


def texts(lang: str = "en") -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (SHIPPED_DIR / lang / "prompts.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, text = line.partition(":")
            out[name.strip()] = text.strip()
    return out


def ulaw_to_linear(byte: int) -> int:
    """G.711 mu-law byte to a 14-bit linear sample."""
    u = ~byte & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return (0x84 - t) if u & 0x80 else (t - 0x84)


def test_every_prompt_has_text_recording_and_stock_fallback() -> None:
    shipped = {f.stem for f in (SHIPPED_DIR / "en").glob("*.ulaw")}
    assert all_names() <= set(texts()), all_names() - set(texts())
    assert set(texts()) == shipped, set(texts()) ^ shipped  # make-prompts.sh was run after editing
    assert all_names() <= set(STOCK), all_names() - set(STOCK)


@pytest.mark.parametrize("path", sorted(SHIPPED_DIR.glob("*/*.ulaw")), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recording_is_plausible_ulaw(path: Path) -> None:
    data = path.read_bytes()
    seconds = len(data) / 8000  # 8 kHz, one byte a sample
    assert 0.3 < seconds < 15, seconds
    samples = [ulaw_to_linear(b) for b in data]
    peak = max(abs(s) for s in samples)
    loud = sum(1 for s in samples if abs(s) > 500) / len(samples)
    assert peak > 4000 and loud > 0.1, (peak, loud)  # speech, not silence or a click


@pytest.mark.parametrize("language", sorted(d.name for d in SHIPPED_DIR.iterdir() if d.is_dir()))
def test_recordings_are_small(language: str) -> None:
    total = sum(f.stat().st_size for f in (SHIPPED_DIR / language).rglob("*") if f.is_file())
    assert total < 1_000_000, total


def test_shipped_recordings_seen_from_asterisk_path(tmp_path: Path) -> None:
    book = PromptBook(SHIPPED_DIR, asterisk_path="/chroot/sounds")
    assert book.named("closed") == ["sound:/chroot/sounds/en/closed"]
    for name in all_names():
        assert book.named(name) == [f"sound:/chroot/sounds/en/{name}"]


def test_unknown_language_and_unknown_names_fall_back_to_stock() -> None:
    book = PromptBook(SHIPPED_DIR, language="xx")
    assert book.named("closed") == list(STOCK["closed"])
    assert book.named("callback_confirmed") == ["sound:auth-thankyou", "sound:vm-goodbye"]
    assert PromptBook().named("position") == ["sound:queue-thereare"]
    assert PromptBook(SHIPPED_DIR).named("vm-goodbye") == ["sound:vm-goodbye"]  # an Asterisk sound


def test_overrides_and_admin_folder_win_over_shipped(tmp_path: Path) -> None:
    admin = tmp_path / "mine"
    (admin / "en").mkdir(parents=True)
    (admin / "closed.wav").write_bytes(b"x")
    (admin / "agent_ready.ulaw").write_bytes(b"x")
    (admin / "en" / "agent_ready.ulaw").write_bytes(b"x")  # language folder wins over the root
    (admin / "notes.txt").write_text("not audio")
    overrides = {"callback-confirmed": "/srv/bye", "position": "pos", "closed": "/abs/closed"}
    book = PromptBook(SHIPPED_DIR, overrides=overrides, prompts_dir=str(admin))
    assert book.named("callback_confirmed") == ["sound:/srv/bye"]
    assert book.named("position") == [f"sound:{admin}/pos"]  # relative: inside prompts.dir
    assert book.named("closed") == ["sound:/abs/closed"]  # override beats the folder
    assert book.named("agent_ready") == [f"sound:{admin}/en/agent_ready"]
    assert book.named("notes") == ["sound:notes"]
    assert book.named("agent_paused") == [f"sound:{SHIPPED_DIR}/en/agent_paused"]
    # Without prompts.dir a relative override is left to Asterisk's sounds folder.
    assert PromptBook(SHIPPED_DIR, overrides={"closed": "custom/closed"}).named("closed") == ["sound:custom/closed"]


def test_from_config() -> None:
    from app.config.schema import PromptsConfig

    cfg = PromptsConfig.model_validate({"dir": "/nonexistent/prompts", "overrides": {"closed": "c"}})
    book = PromptBook.from_config(cfg, "en")
    assert book.named("closed") == ["sound:/nonexistent/prompts/c"]
    assert book.named("position") == [f"sound:{SHIPPED_DIR}/en/position"]


def test_composite_prompts_in_order() -> None:
    book = PromptBook(SHIPPED_DIR, asterisk_path="/p")
    s = "sound:/p/en/"
    assert book.media((P("callback_offer", "3"),)) == [f"{s}callback_offer", "digits:3", f"{s}callback_offer_tail"]
    announce = (P("position"), P("digits", 4), P("estimated_wait"), P("minutes", 7))
    assert book.media(announce) == [
        f"{s}position", "digits:4", f"{s}position_tail",
        f"{s}estimated_wait", "number:7", f"{s}estimated_wait_tail",
    ]  # fmt: skip
    assert book.media((P("estimated_wait"), P("minutes", 1))) == [
        f"{s}estimated_wait",
        "number:1",
        f"{s}estimated_wait_tail_one",
    ]
    assert book.media((P("callback_whisper"), P("number", "+4512345678"))) == [
        f"{s}callback_whisper",
        "digits:4512345678",
    ]
    assert book.media((P("callback_number_invalid"), P("callback_enter_number"))) == [
        f"{s}callback_number_invalid",
        f"{s}callback_enter_number",
    ]


def test_composite_parts_are_replaceable_separately() -> None:
    book = PromptBook(SHIPPED_DIR, asterisk_path="/p", overrides={"estimated_wait_tail": "/a/min"})
    # The admin's "minutes" wins; the shipped singular would mix voices, so it is not used.
    assert book.media((P("estimated_wait"), P("minutes", 1))) == [
        "sound:/p/en/estimated_wait",
        "number:1",
        "sound:/a/min",
    ]
    stock = PromptBook()
    assert stock.media((P("position"), P("digits", 2), P("estimated_wait"), P("minutes", 1))) == [
        "sound:queue-thereare", "digits:2", "sound:queue-callswaiting",
        "sound:queue-holdtime", "number:1", "sound:queue-minute",
    ]  # fmt: skip
    assert stock.media((P("callback_offer", "1"),)) == ["sound:vm-press", "digits:1"]  # "press 1"


def test_install_prompts_copies_for_a_chrooted_asterisk(tmp_path: Path) -> None:
    target = tmp_path / "sounds"
    target.mkdir()
    install_prompts(target)
    install_prompts(target)  # again over an existing copy
    assert (target / "en" / "closed.ulaw").read_bytes() == (SHIPPED_DIR / "en" / "closed.ulaw").read_bytes()
    book = PromptBook(target, asterisk_path="/holdfast/sut/sounds")
    assert book.named("closed") == ["sound:/holdfast/sut/sounds/en/closed"]


def test_ringback_is_a_tone_unless_the_admin_replaces_it(tmp_path: Path) -> None:
    assert PromptBook(SHIPPED_DIR).media((P("ringback"),)) == ["tone:ring"]
    (tmp_path / "ringback.ulaw").write_bytes(b"\xff" * 800)
    assert PromptBook(SHIPPED_DIR, prompts_dir=str(tmp_path)).media((P("ringback"),)) == [f"sound:{tmp_path}/ringback"]


def test_another_tail_named_after_the_value_replaces_the_usual_one() -> None:
    book = PromptBook(SHIPPED_DIR, asterisk_path="/s")
    items = (P("callback_offer", "1"), P("callback_offer_tail_no_place"))
    assert book.media(items) == ["sound:/s/en/callback_offer", "digits:1", "sound:/s/en/callback_offer_tail_no_place"]
    stock = PromptBook(None)  # the no-place tail has no stock sound either: nothing promised
    assert stock.media(items) == ["sound:vm-press", "digits:1"]
    # a following item of another name is not a tail: both are played
    after = book.media((P("callback_offer", "1"), P("closed")))
    assert after == ["sound:/s/en/callback_offer", "digits:1", "sound:/s/en/callback_offer_tail", "sound:/s/en/closed"]


def test_the_information_message_says_the_number_between_its_head_and_tail() -> None:
    """An abandoned dialler contact must hear a number to call back (UK Ofcom): the campaign's
    number is the item's own value, said between `dialler_information` and its tail (the shipped
    message ended "please call our customer service number. Goodbye." and said none)."""
    items = (P("dialler_information", "33445566"),)
    assert PromptBook(SHIPPED_DIR, asterisk_path="/s").media(items) == [
        "sound:/s/en/dialler_information", "digits:33445566", "sound:/s/en/dialler_information_tail",
    ]  # fmt: skip
    assert texts()["dialler_information"].endswith("To reach us, please call")
    assert texts()["dialler_information_tail"] == "Goodbye."
    # the admin's own head (e.g. naming the company) with their own tail frames the number
    both = PromptBook(
        SHIPPED_DIR,
        asterisk_path="/s",
        overrides={"dialler_information": "/srv/ofcom-head", "dialler_information_tail": "/srv/ofcom-tail"},
    )
    assert both.media(items) == ["sound:/srv/ofcom-head", "digits:33445566", "sound:/srv/ofcom-tail"]


def test_an_admins_whole_information_message_is_not_followed_by_the_number_again() -> None:
    """Before the message framed a number, an admin replaced `dialler_information` with a whole
    message that says their number: without a tail of their own it is still said alone, not
    followed by the digits and the shipped "Goodbye"."""
    head = PromptBook(SHIPPED_DIR, asterisk_path="/s", overrides={"dialler_information": "/srv/ofcom-message"})
    assert head.media((P("dialler_information", "33445566"),)) == ["sound:/srv/ofcom-message"]


def test_a_campaigns_own_information_prompt_plays_alone_without_the_number(tmp_path: Path) -> None:
    """A campaign's `information_prompt` other than dialler_information is the admin's whole
    message, which says its own number: the value the engine hands along is not said again."""
    (tmp_path / "ofcom_message.ulaw").write_bytes(b"\xff" * 800)
    book = PromptBook(SHIPPED_DIR, asterisk_path="/s", prompts_dir=str(tmp_path))
    assert book.media((P("ofcom-message", "33445566"),)) == [f"sound:{tmp_path}/ofcom_message"]
    assert book.media((P("custom/abandoned", "33445566"),)) == ["sound:custom/abandoned"]  # an Asterisk sound
