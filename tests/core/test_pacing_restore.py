"""The pacer's judged abandon windows (24 h, 30 days) seeded at start-up from the event log's
counts, so a restart does not forget abandoned calls the regulators still count."""

from __future__ import annotations

from app.core import pacing
from app.core.engine import Engine
from app.core.pacing import DAY, HoldfastPacer, PacingHistory
from app.core.settings import AgentSettings, CampaignMode, CampaignSettings, CoreSettings, QueueSettings

NOW = 1_780_000_000.0


def history(day: tuple[int, int, int], month: tuple[int, int, int], campaign: str = "p1") -> PacingHistory:
    return PacingHistory(NOW, campaign, *day, *month)


def test_restored_abandons_count_in_both_windows() -> None:
    fresh, restored = HoldfastPacer(cap=0.03), HoldfastPacer(cap=0.03)
    fresh.restore(history((40, 0, 0), (100, 0, 0)))  # the same live answers, none abandoned
    restored.restore(history((40, 2, 0), (100, 2, 0)))  # 5 % of today's live answers abandoned
    assert not fresh.over_cap(NOW) and fresh.measured(NOW) == 0.0
    assert restored.over_cap(NOW)  # would dial as if nothing happened without the restore
    assert restored.measured(NOW) == 2 / 40
    assert restored.target(NOW) < fresh.target(NOW)  # the margin tightens near the cap


def test_the_day_window_forgets_the_restored_day_but_the_month_keeps_it() -> None:
    pacer = HoldfastPacer(cap=0.03)
    pacer.restore(history((40, 2, 0), (40, 4, 0)))
    later = NOW + DAY + 120
    assert pacer.day.rate(later) == 0.0
    assert pacer.month.rate(later) == 4 / 40 and pacer.over_cap(later)


def test_machine_verdicts_count_as_abandoned_by_the_false_positive_share() -> None:
    pacer = HoldfastPacer(cap=0.03, amd_false_positive=0.5)
    pacer.restore(history((30, 0, 10), (30, 0, 10)))
    assert pacer.day.abandoned == 5.0 and pacer.day.lives == 35.0


def test_the_engine_seeds_a_predictive_campaign_and_ignores_others() -> None:
    engine = Engine(
        CoreSettings(
            queues=(QueueSettings(name="sales"),),
            agents=(AgentSettings(id="a1", skills=(("sales", 0),)),),
            campaigns=(
                CampaignSettings(id="p1", queue="sales", mode=CampaignMode.PREDICTIVE),
                CampaignSettings(id="w1", queue="sales", mode=CampaignMode.POWER),
            ),
        )
    )
    engine.restore_pacing(history((40, 2, 0), (40, 2, 0)))
    engine.restore_pacing(history((40, 2, 0), (40, 2, 0), campaign="w1"))  # power: no pacer, no harm
    pacer = engine.pacer("p1")
    assert isinstance(pacer, pacing.HoldfastPacer) and pacer.over_cap(NOW)
    assert engine.pacer("w1") is None
