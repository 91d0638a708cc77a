"""The log-in throttle (app/web/login_guard.py Throttle): a guessed name stays blocked through a
flood of made-up names, one address guessing over many names is stopped, a refusal says when to
come back, and memory holds only names and addresses with a failure in the window."""

from __future__ import annotations

from app.web.login_guard import Throttle, client_address

NOW = 1_000_000.0


def test_a_guessed_name_stays_blocked_through_a_flood_of_made_up_names() -> None:
    throttle = Throttle()
    for _ in range(Throttle.MAX_FAILURES):
        throttle.failed("vic", NOW)
    assert throttle.blocked("vic", NOW + 1)
    # Twice the bound of made-up names in the same window: before, passing the bound cleared every
    # count, "vic"'s too, and the guessing could go on.
    for i in range(2 * Throttle.MAX_NAMES):
        throttle.failed(f"made-up-{i}", NOW + 2)
    assert throttle.blocked("vic", NOW + 3)
    # Pruning a full table at every failure of a flood would make each one scan the table: the bound
    # doubles instead (10,000 then 20,000 names), so the flood prunes twice.
    assert throttle.prunes == 2
    assert not throttle.blocked("vic", NOW + Throttle.WINDOW + 1)  # the window ends, for vic too


def test_only_names_with_a_failure_in_the_window_are_kept() -> None:
    throttle = Throttle()
    for i in range(Throttle.MAX_NAMES):
        throttle.failed(f"old-{i}", NOW)
    assert not throttle.blocked("sam", NOW)  # asking keeps nothing for a name that never failed
    assert throttle.names == Throttle.MAX_NAMES
    later = NOW + Throttle.WINDOW + 1
    throttle.failed("new", later)  # past the bound: the expired ones are forgotten
    assert throttle.names == 1 and not throttle.blocked("old-1", later)


def test_one_address_is_stopped_after_a_guess_for_each_of_many_names() -> None:
    throttle = Throttle()
    for i in range(Throttle.MAX_ADDRESS_FAILURES):
        assert not throttle.blocked(f"name{i}", NOW + i, "203.0.113.9")
        throttle.failed(f"name{i}", NOW + i, "203.0.113.9")
    refused = throttle.refusal("sam", "203.0.113.9", NOW + 40)
    assert refused is not None and "from this address" in refused.why
    assert refused.wait == Throttle.WINDOW - 40  # until its first failure leaves the window
    assert not throttle.blocked("sam", NOW + 40, "198.51.100.7")  # another address may log in
    assert not throttle.blocked("sam", NOW + Throttle.WINDOW, "203.0.113.9")  # the first failure has left
    assert throttle.addresses == 1 and throttle.names == Throttle.MAX_ADDRESS_FAILURES


def test_a_name_refusal_says_when_the_name_may_try_again() -> None:
    throttle = Throttle()
    for i in range(Throttle.MAX_FAILURES + 2):  # failures at 0, 10, ... 60 s
        throttle.failed("vic", NOW + 10 * i, f"198.51.100.{i}")
    refused = throttle.refusal("vic", "192.0.2.1", NOW + 61)
    # Five of the seven must leave the window less four: the third (at 20 s) is the one to wait for.
    assert refused is not None
    assert (refused.why, refused.wait) == ("too many wrong passwords for this user", 20 + Throttle.WINDOW - 61)
    assert not throttle.blocked("vic", NOW + 20 + Throttle.WINDOW)


PROXY = ("127.0.0.1/32", "10.0.0.0/8")


def test_a_log_in_in_flight_counts_as_a_failure_until_it_is_withdrawn() -> None:
    """Log-ins sent at once must not all pass before the first failure is counted: each counts
    from the moment it passes; a right password (or one never checked) takes it back."""
    throttle = Throttle()
    for i in range(Throttle.MAX_FAILURES):
        assert throttle.attempt("vic", "192.0.2.1", NOW + i) is None
    refused = throttle.attempt("vic", "192.0.2.2", NOW + 9)  # five in flight: the sixth waits
    assert refused is not None and refused.result == "throttled_user"
    throttle.withdraw("vic", "192.0.2.1", NOW + 2)  # that one was right
    assert throttle.attempt("vic", "192.0.2.1", NOW + 10) is None  # room for exactly one more
    assert throttle.blocked("vic", NOW + 11)
    throttle.withdraw("vic", "192.0.2.1", NOW + 2)  # taking back twice takes back nothing more
    assert throttle.blocked("vic", NOW + 11)


def test_the_client_address_is_the_peers_unless_the_peer_is_a_trusted_proxy() -> None:
    assert client_address("203.0.113.9", "198.51.100.7", PROXY) == "203.0.113.9"  # not a proxy: its word is ignored
    assert client_address("127.0.0.1", None, PROXY) == "127.0.0.1"
    assert client_address("127.0.0.1", "198.51.100.7", ()) == "127.0.0.1"  # no proxy trusted
    assert client_address("127.0.0.1", "198.51.100.7", PROXY) == "198.51.100.7"


def test_a_forged_x_forwarded_for_cannot_hide_the_client_behind_a_proxy() -> None:
    # the client sent "X-Forwarded-For: 192.0.2.1"; nginx (10.0.0.5) appended what it saw, and
    # the local proxy appended nginx: read from the right, the first untrusted hop is the client
    chain = "192.0.2.1, 198.51.100.7, 10.0.0.5"
    assert client_address("127.0.0.1", chain, PROXY) == "198.51.100.7"
    assert client_address("127.0.0.1", "10.1.1.1, 10.0.0.5", PROXY) == "10.1.1.1"  # all inside
    assert client_address("127.0.0.1", "not-an-address", PROXY) == "127.0.0.1"  # counted as the proxy
    assert client_address("127.0.0.1", "2001:db8::1", PROXY) == "2001:db8::1"
