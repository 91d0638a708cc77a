"""Hypothesis strategies for requests as the engine holds them."""

from __future__ import annotations

from hypothesis import strategies as st

from app.core.request import Attempt, Menu, Request
from app.core.states import AttemptOutcome, Outcome, RequestKind, RequestState

# PostgreSQL text cannot hold NUL; surrogates are not text at all (codec="utf-8" leaves them out).
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
times = st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False)
maybe_times = st.none() | times
small_ints = st.integers(min_value=-(2**31), max_value=2**31 - 1)


@st.composite
def attempts(draw: st.DrawFn) -> list[Attempt]:
    n = draw(st.integers(0, 4))
    return [
        Attempt(
            number=i + 1,
            started_at=draw(times),
            agent_id=draw(texts),
            outcome=draw(st.none() | st.sampled_from(AttemptOutcome)),
            ended_at=draw(maybe_times),
        )
        for i in range(n)
    ]


menus = st.none() | st.builds(
    Menu,
    step=st.sampled_from(["choose", "enter"]),
    digits=st.text("0123456789", max_size=21),
    invalid_entries=st.integers(0, 2),
    deadline=times,
    resuming=st.booleans(),
    keys_while_resuming=st.integers(0, 5),
)


@st.composite
def requests(draw: st.DrawFn, rid: str) -> Request:
    return Request(
        id=rid,
        queue=draw(texts),
        kind=draw(st.sampled_from(RequestKind)),
        priority=draw(st.integers(-1000, 1000)),
        arrived_at=draw(times),
        queued_since=draw(times),
        place=(draw(small_ints), draw(times), draw(st.integers(0, 2**62))),
        caller_number=draw(st.none() | texts),
        state=draw(st.sampled_from(RequestState)),
        callback_number=draw(st.none() | texts),
        callback_requested_at=draw(maybe_times),
        not_before=draw(times),
        attempts=draw(attempts()),
        customer_leg=draw(st.none() | texts),
        agent_leg=draw(st.none() | texts),
        agent_id=draw(st.none() | texts),
        service_started_at=draw(maybe_times),
        first_dispatched_at=draw(maybe_times),
        offers=draw(st.integers(0, 1000)),
        next_offer_at=draw(maybe_times),
        next_announce_at=draw(maybe_times),
        menu=draw(menus),
        caller_line=draw(st.none() | texts),
        outcome=draw(st.none() | st.sampled_from(Outcome)),
        ended_at=draw(maybe_times),
    )


@st.composite
def request_batches(draw: st.DrawFn, prefix: str = "r") -> list[Request]:
    suffixes = draw(st.lists(texts, max_size=6))
    return [draw(requests(f"{prefix}{i}-{s}")) for i, s in enumerate(suffixes)]
