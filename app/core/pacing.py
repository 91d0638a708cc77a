"""Predictive pacing: how many contacts to dial now so a ready agent is there when one answers.

Theory of operation:
- The dialler hands the pacer a `PacingView` of what the core sees for one campaign: agents
  ready, agents on a call with how long they have talked, agents in wrap-up with the time left,
  dials still ringing with their age, and answered contacts already waiting for an agent.
- `Estimates` learn online, per campaign, how dials end (live person, machine, busy / failed, no
  answer) and when (a histogram of seconds from dial to that end per outcome), and how long
  conversations last. Old observations fade: counts are halved when they grow large, so a list
  that gets worse is followed within a few hundred dials.
- Risk: within horizons every HORIZON_STEP seconds up to the ring time, the live answers coming
  (those waiting + each ringing dial's chance, given its age, of a live answer in time + the new
  dials') are set against the agents expected free by then (+ the view's connect allowance: the
  time an agent has to reach a live answer from when the engine learns of it, 2 s less the
  silence AMD waits after a greeting before it says HUMAN, as measured: `GreetingSilence`);
  L - A is taken as normal. A new dial is placed while its own chance of being abandoned (the
  rise in E[max(0, L - A)] it brings, per live answer) stays within `gain` * target in every horizon,
  and while the abandons expected in the horizon fit in the judged windows' room (below).
- Closed loop: the model's risk is not trusted as is; the gain is learned from outcomes. Every live
  answer that gets an agent raises log(gain) by `STEP * target`, every abandoned one lowers it by
  `STEP * (1 - target)`, so the gain settles where the abandon rate equals `target`. An AMD
  machine verdict counts as `amd_false_positive` of an abandoned live answer (a person hung up on).
- Room: cap x live answers - abandoned, in the tighter judged window (rolling 24 h and 30 days),
  is how many more abandons it can take and stay under the cap. The target sits below the cap by
  a safety margin that closes the loop on that room: MARGIN_MAX of the cap with ROOM_LOW abandons
  of room or less, down to MARGIN_BASE with ROOM_HIGH or more. A busy window (thousands of live
  answers, the per-window spread a fraction of a point) thus runs near the cap, and the rate
  falls back whenever a run of abandons eats the room; a short run or a small team, whose room
  stays small, keeps the wide margin. The target also shrinks in proportion below FULL_HEADROOM
  abandons of room, and with less than HEADROOM the dialler falls back to one dial per ready
  agent (`decide`), whatever the gain says. A fresh window (a new campaign, or one idle for a
  day) thus dials one per ready agent until about HEADROOM / cap live answers were served: with
  few answers one abandon is several per cent, and a short run or a small team must not end over
  the cap by a few early abandons.
- Restart: the judged windows are seeded from the event log's dial records minute by minute
  (`restore`, `PacingHistory`), so they equal the windows before the restart and old abandons
  leave them at their own times.
- `decide` applies the rules no pacer may break: never more calls in flight than
  `max_dial_level` per present agent, one per ready agent (less the dials in flight) while a
  judged window has no room, and never a negative count. The simulator and the benchmark's
  baseline policies go through it too.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

CONNECT_ALLOWANCE = 2.0  # an answered contact hears an agent within this (settings.CONNECT_WITHIN), without AMD
DAY = 86400.0
MONTH = 30 * DAY
STEP = 0.06  # learning rate of log(gain) per live answer (a noisy gain costs occupancy, a slow one rate)
GAIN_START = 0.35  # where the loop starts (about where it settles on lists seen so far)
GAIN_MIN, GAIN_MAX = 0.003, 30.0
MARGIN_BASE, MARGIN_MAX = 0.05, 0.35  # share of the cap kept in reserve, with much / little room
ROOM_LOW, ROOM_HIGH = 3.0, 15.0  # room (abandons) over which the margin goes from MARGIN_MAX to MARGIN_BASE
REBUILD = 25  # observations between rebuilds of the lookup tables
HEADROOM = 1.0  # abandons a judged window must still have room for before pacing dials ahead
FULL_HEADROOM = 3.0  # below this room (in abandons) the target shrinks in proportion
HORIZON_STEP = 2.0  # seconds between the horizons the risk is checked at (up to the ring time; 4 s cost 0.5 point)
ROOM_SAFETY = 2.0  # abandons expected from the dials in flight stay within room / this
SILENCE_KEEP = 200  # measured after-greeting silences kept per campaign (the latest)
SILENCE_MIN_SAMPLES = 20  # fewer than this measured: the configured silence is planned with
SILENCE_QUANTILE = 0.9  # planned: the silence 9 in 10 persons' answers stayed within

LIVE, MACHINE, FAIL, NO_ANSWER = "live", "machine", "fail", "no_answer"
OUTCOMES = (LIVE, MACHINE, FAIL, NO_ANSWER)


@dataclass(frozen=True, slots=True)
class PacingView:
    now: float
    ready: int  # agents free for the campaign now
    present: int  # logged in and not paused (ready, ringing, talking, wrapping up)
    talking: tuple[float, ...] = ()  # seconds each agent on a call (or being rung) has talked
    wrapping: tuple[float, ...] = ()  # seconds of wrap-up left per agent in wrap-up
    in_flight: tuple[float, ...] = ()  # ages of dials still ringing
    waiting: int = 0  # answered contacts waiting for an agent
    wrap_up: float = 0.0  # the queue's wrap-up after a call
    # seconds an agent has from when the engine learns of a live answer: the 2 s count from the end
    # of the greeting, and AMD() says HUMAN only after_greeting_silence later (dialler.py builds it)
    connect_allowance: float = CONNECT_ALLOWANCE


class GreetingSilence:
    """The silence a campaign's AMD() really waits after persons' greetings before it says HUMAN,
    learnt from the answers' measured silences (AMDCAUSE "HUMAN-818-800": 818 ms heard for 800 set).
    AMD() counts whole audio frames, so it hears a little more than `configured`, and every ms of it
    comes off the agent's window (the 2 s count from the greeting's end). Planned: a high quantile
    (SILENCE_QUANTILE) of the last SILENCE_KEEP measured, once SILENCE_MIN_SAMPLES were; the
    configured silence before that, and never less (AMD() cannot say HUMAN sooner)."""

    def __init__(self, configured: float) -> None:
        self.configured = configured
        self._heard: deque[float] = deque(maxlen=SILENCE_KEEP)
        self._planned: float | None = None  # cached: asked at every pacing decision

    def observe(self, seconds: float) -> None:
        self._heard.append(seconds)
        self._planned = None

    def planned(self) -> float:
        if len(self._heard) < SILENCE_MIN_SAMPLES:
            return self.configured
        if self._planned is None:
            heard = sorted(self._heard)
            high = heard[max(0, math.ceil(SILENCE_QUANTILE * len(heard)) - 1)]
            self._planned = max(self.configured, high)
        return self._planned


@dataclass(frozen=True, slots=True)
class HistoryMinute:
    """One minute of a campaign's dials as the raw event log's `dial_attempt` lines record them:
    live answers (connected + abandoned, a connected one at the minute it was connected), abandoned
    ones and AMD machine verdicts."""

    minute: int  # floor(seconds / 60), as the judged windows bucket them
    lives: int
    abandoned: int
    machines: int


@dataclass(frozen=True, slots=True)
class PacingHistory:
    """A campaign's judged windows as the raw event log counts them, minute by minute, so the
    abandon windows survive a restart and age out at the times they would have without it (the
    regulators judge 24 h and 30 days, not "since start")."""

    now: float
    campaign: str
    minutes: tuple[HistoryMinute, ...]  # the last 30 days (older ones are ignored), in any order


@dataclass(frozen=True, slots=True)
class WindowFigures:
    """One judged window as the closed loop counts it (AMD false positives included)."""

    lives: float
    abandoned: float
    rate: float | None  # abandoned / lives; None before any live answer
    machines: int  # AMD machine verdicts in the window
    amd_false_positives: float  # of them, persons hung up on as machines (estimate)


@dataclass(frozen=True, slots=True)
class PacingFigures:
    """What Holdfast's pacing sees and decides now, for people (the campaign API)."""

    now: float
    calls_to_place: int  # new dials pacing would place now (within the rules of `decide`)
    in_flight: int  # dials ringing + answered contacts waiting for an agent
    present: int
    ready: int
    dial_level: float | None  # lines in use per present agent; None with nobody present
    live_rate: float  # measured share of dials answered by a person (recent, forgetting)
    machine_rate: float
    live_answer_delay: float  # seconds from dial to a person's answer (mean)
    talk_time: float  # seconds of conversation (mean)
    gain: float
    target: float  # the abandon rate aimed at now (cap less the margin)
    cap: float
    over_cap: bool  # no room in a judged window: one dial per ready agent
    room: float  # abandons the tighter judged window can still take under the cap
    amd_false_positive: float  # the configured share of machine verdicts that are persons
    day: WindowFigures
    month: WindowFigures


class Pacer(Protocol):
    """What the dialler asks and tells a pacing policy (Holdfast's or a benchmark baseline)."""

    def dials(self, view: PacingView) -> int: ...

    def over_cap(self, now: float) -> bool: ...

    def observe_end(self, now: float, outcome: str, after: float) -> None: ...

    def observe_live(self, now: float, abandoned: bool) -> None: ...

    def observe_talk(self, seconds: float) -> None: ...


class Histogram:
    """Counts of durations in fixed bins, with forgetting (halved past `keep`), and a survival curve."""

    def __init__(self, width: float, bins: int, keep: float) -> None:
        self.width = width
        self.counts = [0.0] * (bins + 1)  # the last bin holds everything longer
        self.total = 0.0
        self.keep = keep
        self._survival: list[float] | None = None
        self._mean: float | None = None

    def add(self, value: float, weight: float = 1.0) -> None:
        i = min(len(self.counts) - 1, max(0, int(value / self.width)))
        self.counts[i] += weight
        self.total += weight
        self._survival = None
        self._mean = None

    def halve(self) -> None:
        self.counts = [x / 2 for x in self.counts]
        self.total /= 2
        self._survival = None
        self._mean = None

    def survival(self, t: float) -> float:
        """P(duration > t), linear within a bin; 1 before any data."""
        if self.total <= 0:
            return 1.0
        if self._survival is None:
            above, out = self.total, []
            for x in self.counts:
                out.append(above / self.total)
                above -= x
            out.append(0.0)
            self._survival = out
        pos = max(0.0, t / self.width)
        i = int(pos)
        s = self._survival
        if i >= len(s) - 1:
            return s[-2] if i < len(s) else 0.0
        frac = pos - i
        return s[i] * (1 - frac) + s[i + 1] * frac

    def mean(self) -> float:
        if self.total <= 0:
            return 0.0
        if self._mean is None:
            self._mean = sum((i + 0.5) * self.width * x for i, x in enumerate(self.counts)) / self.total
        return self._mean


class Window:
    """Live answers, abandoned ones and AMD machine verdicts per minute over a rolling window of
    `span` seconds."""

    def __init__(self, span: float) -> None:
        self.span = span
        self.buckets: deque[list[float]] = deque()  # [minute, lives, abandoned, machines]
        self.lives = 0.0
        self.abandoned = 0.0
        self.machines = 0.0

    def add(self, now: float, lives: float, abandoned: float, machines: float = 0.0) -> None:
        minute = math.floor(now / 60.0)
        if not self.buckets or self.buckets[-1][0] != minute:
            self.buckets.append([minute, 0.0, 0.0, 0.0])
        self.buckets[-1][1] += lives
        self.buckets[-1][2] += abandoned
        self.buckets[-1][3] += machines
        self.lives += lives
        self.abandoned += abandoned
        self.machines += machines
        self.expire(now)

    def expire(self, now: float) -> None:
        oldest = math.floor((now - self.span) / 60.0)
        while self.buckets and self.buckets[0][0] <= oldest:
            _, lives, abandoned, machines = self.buckets.popleft()
            self.lives -= lives
            self.abandoned -= abandoned
            self.machines -= machines

    def rate(self, now: float) -> float:
        self.expire(now)
        return self.abandoned / self.lives if self.lives > 1e-9 else 0.0


class JudgedWindows:
    """The 24 h and 30 day abandon windows a contact-first campaign is judged on: the predictive
    pacing's (HoldfastPacer), and a power campaign's, which dials above one line per agent only
    while they have room under the cap."""

    def __init__(self) -> None:
        self.day = Window(DAY)
        self.month = Window(MONTH)

    def add(self, now: float, lives: float, abandoned: float, machines: float = 0.0) -> None:
        for window in (self.day, self.month):
            window.add(now, lives, abandoned, machines)

    def restore(self, history: PacingHistory, false_positive: float = 0.0) -> None:
        """At start-up, each minute's counts at that minute (`false_positive`: the share of each
        machine verdict taken for a person hung up on, as the pacing counts them live)."""
        fp = false_positive
        for m in sorted(history.minutes, key=lambda x: x.minute):
            if m.lives or m.abandoned or m.machines:
                self.add(m.minute * 60.0, m.lives + fp * m.machines, m.abandoned + fp * m.machines, m.machines)
        self.day.expire(history.now)
        self.month.expire(history.now)

    def room(self, now: float, cap: float) -> float:
        """Abandons the tighter window can still take under `cap` (0 on a fresh one)."""
        for window in (self.day, self.month):
            window.expire(now)
        return min(cap * w.lives - w.abandoned for w in (self.day, self.month))


@dataclass(slots=True)
class Estimates:
    """What a campaign's dials and calls have shown so far (with a mild prior before any data)."""

    ring_time: float = 25.0
    ends: dict[str, Histogram] = field(default_factory=dict)
    talk: Histogram = field(default_factory=lambda: Histogram(5.0, 720, 400.0))
    keep: float = 600.0  # dials remembered (about): the shares follow a list that changes
    version: int = 0  # observations so far: tables below are rebuilt every REBUILD of them
    _tables: dict[tuple[str, float], tuple[int, list[float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for outcome in OUTCOMES:
            self.ends[outcome] = Histogram(1.0, 180, math.inf)
        # prior: a cautious 30 % live answers after about 8 s, a few machines, the rest ring out
        self.ends[LIVE].add(8.0, 1.5)
        self.ends[MACHINE].add(12.0, 0.5)
        self.ends[NO_ANSWER].add(self.ring_time, 3.0)
        self.talk.add(120.0, 1.0)

    def observe_end(self, outcome: str, after: float) -> None:
        self.version += 1
        self.ends[outcome].add(after)
        if sum(h.total for h in self.ends.values()) > self.keep:
            for h in self.ends.values():
                h.halve()

    def observe_talk(self, seconds: float) -> None:
        self.version += 1
        self.talk.add(seconds)
        if self.talk.total > self.talk.keep:
            self.talk.halve()

    def share(self, outcome: str) -> float:
        total = sum(h.total for h in self.ends.values())
        return self.ends[outcome].total / total if total > 0 else 0.0

    def live_later(self, age: float) -> float:
        """P(a dial still ringing at `age` becomes a live answer)."""
        live = self.ends[LIVE].total * self.ends[LIVE].survival(age)
        still = sum(h.total * h.survival(age) for h in self.ends.values())
        return live / still if still > 1e-12 else 0.0

    def live_within(self, age: float, horizon: float) -> float:
        """P(a dial still ringing at `age` is answered by a person within the next `horizon`)."""
        live = self.ends[LIVE]
        soon = live.total * (live.survival(age) - live.survival(age + horizon))
        still = sum(h.total * h.survival(age) for h in self.ends.values())
        return max(0.0, soon / still) if still > 1e-12 else 0.0

    def _table(self, kind: str, horizon: float, step: float, size: int) -> list[float]:
        """A per-`step` table of live_within / ends_within for one horizon: pacing asks these for
        every ringing dial and every agent several times a second; the estimates move slowly."""
        key = (kind, float(round(horizon)))
        found = self._tables.get(key)
        if found is not None and self.version - found[0] < REBUILD:
            return found[1]
        fn = self.live_within if kind == LIVE else self.ends_within
        table = [fn(i * step, key[1]) for i in range(size)]
        if len(self._tables) > 64:
            self._tables.clear()
        self._tables[key] = (self.version, table)
        return table

    def live_within_fast(self, age: float, horizon: float) -> float:
        table = self._table(LIVE, horizon, 1.0, int(self.ring_time) + 8)
        return table[min(len(table) - 1, int(age))]

    def ends_within_fast(self, talked: float, horizon: float) -> float:
        table = self._table("talk", horizon, 5.0, 361)
        return table[min(len(table) - 1, int(talked / 5.0))]

    def live_delay(self) -> float:
        return self.ends[LIVE].mean() or 8.0

    def ends_within(self, talked: float, horizon: float) -> float:
        """P(a call that has lasted `talked` ends within `horizon`)."""
        if horizon <= 0:
            return 0.0
        s = self.talk.survival(talked)
        if s <= 1e-9:  # longer than anything seen: a memoryless guess from the mean
            mean = max(self.talk.mean(), 1.0)
            return 1.0 - math.exp(-horizon / mean)
        return max(0.0, min(1.0, (s - self.talk.survival(talked + horizon)) / s))


class HoldfastPacer:
    """Holdfast's predictive pacing for one campaign (see the module comment)."""

    def __init__(self, cap: float = 0.03, amd_false_positive: float = 0.0, ring_time: float = 25.0) -> None:
        self.cap = cap
        self.amd_false_positive = amd_false_positive
        self.est = Estimates(ring_time=ring_time)
        self.log_gain = math.log(GAIN_START)
        self.judged = JudgedWindows()

    @property
    def day(self) -> Window:
        return self.judged.day

    @property
    def month(self) -> Window:
        return self.judged.month

    def retune(self, cap: float, amd_false_positive: float, ring_time: float) -> None:
        """An edited campaign's cap, false-positive share and ring time, from the next decision on;
        its windows and what it has learnt stay (the campaign is judged on the same calls)."""
        self.cap = cap
        self.amd_false_positive = amd_false_positive
        if ring_time != self.est.ring_time:
            self.est.ring_time = ring_time
            self.est._tables.clear()  # built for the old ring time

    @property
    def gain(self) -> float:
        return math.exp(self.log_gain)

    # ---------------------------------------------------------------- observations

    def observe_end(self, now: float, outcome: str, after: float) -> None:
        self.est.observe_end(outcome, after)
        if outcome == MACHINE:
            fp = self.amd_false_positive  # part of a person hung up on: abandoned
            self.judged.add(now, fp, fp, 1.0)
            if fp > 0:
                self._learn(now, fp, 1.0)

    def observe_live(self, now: float, abandoned: bool) -> None:
        x = 1.0 if abandoned else 0.0
        self.judged.add(now, 1.0, x)
        self._learn(now, 1.0, x)

    def observe_talk(self, seconds: float) -> None:
        self.est.observe_talk(seconds)

    def _learn(self, now: float, weight: float, abandoned: float) -> None:
        self.log_gain += STEP * weight * (self.target(now) - abandoned)
        self.log_gain = max(math.log(GAIN_MIN), min(math.log(GAIN_MAX), self.log_gain))

    def restore(self, history: PacingHistory) -> None:
        """Seed the judged windows at start-up, each minute's counts at that minute: the windows are
        then those the pacer had before the restart (as far as the log was committed), and old
        abandons leave them when they would have. The learned gain and estimates start afresh (they
        follow the list within minutes)."""
        self.judged.restore(history, self.amd_false_positive)  # as observe_end counts machines

    # ---------------------------------------------------------------- the loop's set point

    def measured(self, now: float) -> float:
        """The worse of the judged windows' abandon rates (24 h, 30 days)."""
        return max(self.day.rate(now), self.month.rate(now))

    def headroom(self, now: float) -> float:
        """Abandons the tighter judged window can still take before it is over the cap."""
        return self.judged.room(now, self.cap)

    def target(self, now: float) -> float:
        """The abandon rate aimed at: below the cap by a margin that shrinks as the tighter judged
        window's room (abandons it can still take under the cap) grows from ROOM_LOW to ROOM_HIGH,
        and scaled down while that room is under FULL_HEADROOM abandons (a few lives into a fresh
        window, one abandon is several per cent). A window with many live answers has room to spare
        and runs close to the cap; a short or small one stays well under it."""
        if self.cap <= 0:
            return 0.0
        room = self.headroom(now)
        slack = max(0.0, min(1.0, (room - ROOM_LOW) / (ROOM_HIGH - ROOM_LOW)))
        margin = MARGIN_MAX - (MARGIN_MAX - MARGIN_BASE) * slack
        return self.cap * (1.0 - margin) * max(0.0, min(1.0, room / FULL_HEADROOM))

    def over_cap(self, now: float) -> bool:
        """True while the next abandoned call could put a judged window over the cap: its headroom
        (cap x live answers - abandoned) is under HEADROOM abandons. A fresh window (a new campaign)
        has none until about HEADROOM / cap live answers were served, so a short run or a small team
        cannot end over the cap by a few early abandons."""
        return self.cap <= 0 or self.headroom(now) < HEADROOM

    # ---------------------------------------------------------------- the decision

    def dials(self, view: PacingView) -> int:
        """The most new dials whose predicted abandon risk stays within the learned allowance."""
        est = self.est
        allowed = self.target(view.now) * self.gain
        p_live = est.live_later(0.0)
        if p_live <= 1e-6:
            return view.ready  # nobody answers lately: the rules still limit the lines
        checks = [self._window_terms(view, t) for t in self._horizons()]
        # the abandons expected from all dials in flight must fit in the room the judged windows have
        # left, with a safety factor: a burst (several answers at once, no agent) is what breaches
        room = (self.headroom(view.now) - HEADROOM) / ROOM_SAFETY
        hi = math.ceil(4 * (view.present + 1) / max(p_live, 0.05))
        lo = 0
        while lo < hi:  # risk grows with n: the largest n within the allowance
            mid = (lo + hi + 1) // 2
            if all(_risk(terms, mid) <= allowed and _expected(terms, mid) <= room for terms in checks):
                lo = mid
            else:
                hi = mid - 1
        return lo

    def figures(self, view: PacingView, max_dial_level: float) -> PacingFigures:
        """The campaign's pacing now, for people: what `decide` would place, what was measured."""
        busy_lines = len(view.in_flight) + view.waiting
        return PacingFigures(
            now=view.now,
            calls_to_place=decide(self, view, max_dial_level),
            in_flight=busy_lines,
            present=view.present,
            ready=view.ready,
            dial_level=busy_lines / view.present if view.present else None,
            live_rate=self.est.share(LIVE),
            machine_rate=self.est.share(MACHINE),
            live_answer_delay=self.est.live_delay(),
            talk_time=self.est.talk.mean(),
            gain=self.gain,
            target=self.target(view.now),
            cap=self.cap,
            over_cap=self.over_cap(view.now),
            room=self.headroom(view.now),
            amd_false_positive=self.amd_false_positive,
            day=self._window_figures(self.day, view.now),
            month=self._window_figures(self.month, view.now),
        )

    def _window_figures(self, w: Window, now: float) -> WindowFigures:
        w.expire(now)
        machines = round(w.machines)
        return WindowFigures(
            lives=w.lives,
            abandoned=w.abandoned,
            rate=w.abandoned / w.lives if w.lives > 1e-9 else None,
            machines=machines,
            amd_false_positives=self.amd_false_positive * machines,
        )

    def _horizons(self) -> tuple[float, ...]:
        """Every HORIZON_STEP seconds up to the ring time: answers and free agents are compared by
        when they come, not only in total (an agent free in 20 s is no use to an answer in 4 s)."""
        ring = self.est.ring_time
        steps = int(ring // HORIZON_STEP)
        return (*(HORIZON_STEP * (i + 1) for i in range(steps) if HORIZON_STEP * (i + 1) < ring), ring)

    def _window_terms(self, view: PacingView, horizon: float) -> tuple[float, float, float, float]:
        """Within `horizon`: expected live answers already coming (mean, variance), the share of a
        new dial answered live in time, and agents expected free by then (mean - 0, variance)."""
        est = self.est
        lives = float(view.waiting)
        var = 0.0
        for age in view.in_flight:
            q = est.live_within_fast(age, horizon)
            lives += q
            var += q * (1 - q)
        per_dial = est.live_within_fast(0.0, horizon)
        reach = horizon + view.connect_allowance
        agents = float(view.ready)
        avar = 0.0
        for left in view.wrapping:
            if left <= reach:
                agents += 1.0
        for talked in view.talking:
            q = est.ends_within_fast(talked, reach - view.wrap_up)
            agents += q
            avar += q * (1 - q)
        return (lives - agents, var + avar, per_dial, lives)  # the last: for figures


def _over(gap: float, var: float) -> float:
    """E[max(0, X)] for X normal(gap, var): live answers left without an agent."""
    if var <= 1e-12:
        return max(0.0, gap)
    sd = math.sqrt(var)
    z = gap / sd
    return gap * 0.5 * (1 + math.erf(z / math.sqrt(2))) + sd * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def _expected(terms: tuple[float, float, float, float], n: int) -> float:
    """Live answers expected to find no agent in the window with n new dials."""
    gap, var, per_dial, _ = terms
    return _over(gap + n * per_dial, var + n * per_dial * (1 - per_dial))


def _risk(terms: tuple[float, float, float, float], n: int) -> float:
    """The chance that the n-th new dial's live answer finds no agent in the window: the rise in
    E[max(0, L - A)] it brings, per live answer it brings, with L - A taken as normal (a sum of
    many small independent chances)."""
    gap, var, per_dial, _ = terms
    if n <= 0 or per_dial <= 1e-9:
        return 0.0
    more = _over(gap + n * per_dial, var + n * per_dial * (1 - per_dial))
    less = _over(gap + (n - 1) * per_dial, var + (n - 1) * per_dial * (1 - per_dial))
    return (more - less) / per_dial


def decide(pacer: Pacer, view: PacingView, max_dial_level: float) -> int:
    """The pacer's wish within the rules: lines per present agent; one per ready agent without room."""
    busy_lines = len(view.in_flight) + view.waiting
    lines_left = math.floor(max_dial_level * view.present + 1e-9) - busy_lines
    if pacer.over_cap(view.now):  # no dial ahead: one line per ready agent, as power mode
        return max(0, min(view.ready - busy_lines, lines_left))
    return max(0, min(pacer.dials(view), lines_left))
