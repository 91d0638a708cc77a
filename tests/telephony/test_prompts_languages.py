"""Prompts in every language: the shipped Danish set, and the stock Asterisk fallbacks heard in a
language Holdfast ships no recordings for (service.language: de, sv…)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config.schema import PromptsConfig
from app.core.commands import PromptItem as P
from app.core.states import RequestKind
from app.sandbox.asterisk import default_cache_dir
from app.telephony.prompts import SHIPPED_DIR, STOCK, PromptBook, shipped_language
from tests.core.harness import DK_MOBILE, DK_MOBILE_2, DK_MOBILE_3, Harness, callback_settings, settings
from tests.store.conftest import ON_CI
from tests.telephony.test_prompts import texts, ulaw_to_linear

DOCS = Path(__file__).resolve().parents[2] / "docs" / "prompts.md"

# Shipped prompts that may have no stock fallback, with the reason. None today: without one, a
# language with no recordings plays `sound:<name>`, a file Asterisk does not have, i.e. silence.
NO_STOCK: dict[str, str] = {}

# What the stock sounds heard in the callback menu ask the caller to key (Asterisk's core sounds
# text, core-sounds-en.txt). "number" is a whole phone number.
ASKS = {
    "sound:vm-press": "the key that follows",  # "press"
    "sound:vm-tocallback": "2",  # "press 2 to call the person who sent this message"
    "sound:vm-tocallnum": "1",  # "press 1 to call this number"
    "sound:vm-calldiffnum": "2",  # "press 2 to enter a different number"
    "sound:vm-enter-num-to-call": "number",  # "please enter the number you wish to call"
    "sound:vm-then-pound": "#",  # "then press pound"
}


def shipped_languages() -> list[str]:
    return sorted(d.name for d in SHIPPED_DIR.iterdir() if (d / "prompts.txt").is_file())


def test_every_shipped_prompt_has_a_stock_fallback() -> None:
    """The dialler's prompts are named by campaign settings (information_prompt), not by a literal
    PromptItem: test_prompts' engine scan missed them, and in Danish (then without recordings) an
    abandoned contact and the agent heard nothing."""
    names = set().union(*(texts(lang) for lang in shipped_languages()))
    assert "dialler_information" in names and "dialler_contact_unreachable" in names
    missing = names - set(STOCK) - set(NO_STOCK)
    assert missing == set(), f"no stock fallback (silence in a language without recordings): {missing}"
    book = PromptBook(SHIPPED_DIR, language="de")  # no prompts/de/: stock for every name
    for name in names - set(NO_STOCK):
        heard = book.named(name)
        assert heard == list(STOCK[name]) and f"sound:{name}" not in heard, (name, heard)
    # "Hello. We're sorry. Nobody is available … Please try your call again later. Telephone number"
    # + the campaign's number + "Goodbye"
    assert book.media((P("dialler_information", "33445566"),)) == [
        "sound:hello", "sound:sorry", "sound:vm-nobodyavail", "sound:please-try-call-later",
        "sound:telephone-number", "digits:33445566", "sound:vm-goodbye",
    ]  # fmt: skip
    assert book.named("dialler_contact_unreachable") == ["sound:im-sorry", "sound:number-not-answering"]


def _core_sounds() -> Path | None:
    """Asterisk's English core sounds on this host (the sandbox's or a system install), if any."""
    subs = ("usr/share/asterisk/sounds/en_US_f_Allison", "usr/share/asterisk/sounds/en", "var/lib/asterisk/sounds/en")
    for root in (default_cache_dir() / "asterisk-root", Path("/")):
        for sub in subs:
            folder = root / sub
            if folder.is_dir() and any(folder.glob("vm-goodbye.*")):
                return folder
    return None


def test_stock_sounds_are_asterisk_core_sounds() -> None:
    folder = _core_sounds()
    if folder is None:
        missing = "no Asterisk core sounds on this host (make asterisk builds the sandbox)"
        if ON_CI:  # a part missing under CI is a failure, never a silent skip
            pytest.fail(missing)
        pytest.skip(missing)
    have = {f.name.split(".")[0] for f in folder.iterdir()}
    sounds = {uri.removeprefix("sound:") for uris in STOCK.values() for uri in uris if uri.startswith("sound:")}
    assert sounds - have == set(), f"not in {folder}: {sounds - have}"


def test_stock_menu_prompts_ask_only_for_what_the_menu_takes() -> None:
    """The choose step reads its first key as the choice (1 this number, 2 another): its stock
    sound asked "please enter the number you wish to call", and 20123456# was taken as "2" (another
    number) followed by 0123456, refused. The offer's asked for 2 whatever the queue's key."""
    book = PromptBook(SHIPPED_DIR, language="de")
    choose = book.named("callback_choose_number")
    assert "sound:vm-enter-num-to-call" not in choose
    assert {ASKS[uri] for uri in choose} == {"1", "2"}, choose
    assert [ASKS[uri] for uri in book.named("callback_enter_number")] == ["number", "#"]
    offer = book.media((P("callback_offer", "3"),))
    assert offer == ["sound:vm-press", "digits:3"]  # "press 3"; nothing else asked for
    assert "sound:vm-tocallback" not in offer


def test_a_caller_doing_what_the_stock_menu_says_gets_the_callback_asked_for() -> None:
    book = PromptBook(SHIPPED_DIR, language="de")
    choose = book.named("callback_choose_number")
    # "press 1 to call this number", "press 2 to enter a different number"
    this_number, other_number = (ASKS[uri] for uri in choose)
    h = Harness(settings(callback=callback_settings()))
    h.arrive("r1")
    assert book.media(tuple(P(n) for n in h.prompts(h.dtmf("r1", "1")))) == choose  # the offer's key
    h.dtmf("r1", this_number)
    assert h.engine.requests["r1"].callback_number == DK_MOBILE
    h.arrive("r2", DK_MOBILE_2)
    h.dtmf("r2", "1")
    enter = book.media(tuple(P(n) for n in h.prompts(h.dtmf("r2", other_number))))
    assert [ASKS[uri] for uri in enter] == ["number", "#"]  # "… enter the number …, then press pound"
    h.dtmf("r2", "4526123456#")
    req = h.engine.requests["r2"]
    assert req.kind is RequestKind.CALLBACK and req.callback_number == DK_MOBILE_3


def test_danish_set_is_complete_and_real_audio() -> None:
    assert "da" in shipped_languages()
    en, da = texts("en"), texts("da")
    assert set(da) == set(en), set(da) ^ set(en)
    assert all(da.values()), [n for n, t in da.items() if not t]
    assert "# voice: da" in (SHIPPED_DIR / "da" / "prompts.txt").read_text()
    recorded = {f.stem for f in (SHIPPED_DIR / "da").glob("*.ulaw")}
    assert recorded == set(da), recorded ^ set(da)  # make-prompts.sh da was run after editing
    for name in sorted(da):
        data = (SHIPPED_DIR / "da" / f"{name}.ulaw").read_bytes()
        seconds = len(data) / 8000
        # ±60 % of the English recording, and as the English ones between 0.3 and 15 s
        english = (SHIPPED_DIR / "en" / f"{name}.ulaw").stat().st_size / 8000
        assert 0.3 < seconds < 15 and 0.4 * english < seconds < 1.6 * english + 0.5, (name, seconds, english)
        samples = [ulaw_to_linear(b) for b in data]
        loud = sum(1 for s in samples if abs(s) > 500) / len(samples)
        assert max(abs(s) for s in samples) > 4000 and loud > 0.1, (name, loud)


def test_danish_no_place_texts_do_not_promise_the_place() -> None:
    da = texts("da")
    assert "plads" in da["callback_offer_tail"] and "plads" in da["callback_confirmed"]
    for name in ("callback_offer_tail_no_place", "callback_confirmed_no_place"):
        assert "plads" not in da[name] and "kø" not in da[name], da[name]


def test_prompt_book_in_danish_plays_the_danish_recordings() -> None:
    for language in ("da", "da_DK"):
        book = PromptBook(SHIPPED_DIR, language=language, asterisk_path="/p")
        for name in texts("da"):
            assert book.named(name) == [f"sound:/p/da/{name}"], (language, name)
    book = PromptBook.from_config(PromptsConfig.model_validate({}), "da")
    assert book.named("callback_choose_number") == [f"sound:{SHIPPED_DIR}/da/callback_choose_number"]
    assert book.media((P("callback_offer", "1"),)) == [
        f"sound:{SHIPPED_DIR}/da/callback_offer", "digits:1", f"sound:{SHIPPED_DIR}/da/callback_offer_tail",
    ]  # fmt: skip
    assert shipped_language("da") == "da" and shipped_language("en_GB") == "en" and shipped_language("de") is None
    assert PromptBook(SHIPPED_DIR, language="de").named("closed") == list(STOCK["closed"])


def test_docs_name_the_shipped_languages() -> None:
    text = DOCS.read_text()
    for language in shipped_languages():
        assert f"`prompts/{language}/`" in text, language
