"""The queue benchmark's workload generator and its figures (bench/queue): seeded, identical for
both systems, at the rate the issue's loads ask for; and the dispatch latency's counting rule."""

from __future__ import annotations

import statistics

from bench.queue.metrics import AgentLeg, CallerRecord, dispatch_latencies, quantile
from bench.queue.workload import LOADS, caller_id, caller_index, make_workload


def test_same_seed_same_callers_whatever_runs_them():
    first = make_workload(LOADS["a"], 150, seed=13)
    again = make_workload(LOADS["a"], 150, seed=13)
    assert first == again
    assert make_workload(LOADS["a"], 150, seed=14) != first


def test_warm_start_one_caller_per_agent_then_arrivals_in_order():
    load = LOADS["b"]
    callers = make_workload(load, 150, seed=1)
    assert [c.at for c in callers[: load.agents]] == [0.0] * load.agents
    arrivals = [c.at for c in callers[load.agents :]]
    assert arrivals == sorted(arrivals) and arrivals[0] > 0 and arrivals[-1] < 150
    assert [c.index for c in callers] == list(range(len(callers)))


def test_rates_and_means_match_the_load_over_many_seeds():
    load = LOADS["c"]  # rho 1.0 over answer delay + talk + wrap-up: 50 / 20.5 s
    assert abs(load.arrival_rate - 50 / 20.5) < 1e-9
    counts, talks, patiences = [], [], []
    for seed in range(40):
        callers = make_workload(load, 150, seed)[load.agents :]
        counts.append(len(callers))
        talks += [c.talk for c in callers]
        patiences += [c.patience for c in callers]
    assert abs(statistics.mean(counts) / (load.arrival_rate * 150) - 1) < 0.03
    assert abs(statistics.mean(talks) / load.talk_mean - 1) < 0.03
    assert abs(statistics.mean(patiences) / load.patience_mean - 1) < 0.03


def test_caller_ids_carry_the_index_as_either_asterisk_shows_them():
    assert caller_index(caller_id(42)) == 42
    assert caller_index("4590000042") == 42  # without the plus
    assert caller_index("+4520123456") is None  # someone else's number
    assert caller_index("1001") is None


def _served(index: int, agent: str, offered: float, ended: float, answered: float = 0.0) -> CallerRecord:
    rec = CallerRecord(index, answered_at=answered, bridged_at=offered + 0.6, ended_at=ended)
    rec.legs.append(AgentLeg(agent, index, offered, offered + 0.5, ended, hung_up_by_agent=True))
    return rec


def test_dispatch_counted_only_when_a_caller_waits_and_no_other_agent_is_idle():
    # Agent A ends at 10 (free at 15, wrap-up 5 s); caller 2 waits since 12; B talks until 30.
    # A is offered caller 2 at 15.2: 0.2 s of dispatch latency.
    callers = [
        _served(0, "A", 0.0, 10.0),
        _served(1, "B", 0.0, 30.0),
        _served(2, "A", 15.2, 40.0, answered=12.0),
    ]
    assert [round(x, 6) for x in dispatch_latencies(callers, ["A", "B"])] == [0.2]
    # The same, but B is idle when A's wrap-up ends: either could take the caller, not counted.
    callers[1] = _served(1, "B", 0.0, 8.0)
    assert dispatch_latencies(callers, ["A", "B"]) == []


def test_dispatch_not_counted_when_nobody_waits():
    callers = [
        _served(0, "A", 0.0, 10.0),
        _served(1, "B", 0.0, 30.0),
        _served(2, "A", 20.0, 40.0, answered=19.9),  # arrived after A was free
    ]
    assert dispatch_latencies(callers, ["A", "B"]) == []


def test_quantile_interpolates():
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantile([5], 0.99) == 5


def test_arrivals_only_latencies_leave_the_warm_start_out():
    from bench.queue.metrics import figures

    def caller(index: int, invite: float, answered: float, up: float, bridged: float) -> CallerRecord:
        rec = CallerRecord(index, invite_at=invite, answered_at=answered, bridged_at=bridged, ended_at=bridged + 9)
        rec.legs.append(AgentLeg("1001", index, up - 0.5, up, bridged + 9, True))
        return rec

    warm = caller(0, 0.0, 0.2, 1.0, 1.3)  # one agent: caller 0 is the warm start, slow in the burst
    later = caller(1, 20.0, 20.002, 21.0, 21.004)
    f = figures([warm, later], ["1001"], {})
    assert [round(x, 3) for x in f.invite_to_answer] == [0.2, 0.002]
    assert [round(x, 3) for x in f.invite_to_answer_arrivals] == [0.002]
    assert [round(x, 3) for x in f.agent_to_bridge_arrivals] == [0.004]
    assert len(f.agent_to_bridge) == 2
