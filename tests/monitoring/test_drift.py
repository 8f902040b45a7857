"""The monitor's statistical rule on synthetic histories: every injected break within 3 days, no false alarm."""

from __future__ import annotations

import pytest

from service.store import drift
from tests.monitoring.synthetic import RulePlan
from tests.monitoring.synthetic import day
from tests.monitoring.synthetic import history

# Realistic spread: a busy rule, middling ones, rare ones (a rule seen once in three days).
STABLE = {
    "R05": RulePlan(rate=20.0, feedback_share=1.0, override=0.15),
    "R21": RulePlan(rate=6.0, override=0.3),
    "R28": RulePlan(rate=3.0, override=0.5),
    "R33": RulePlan(rate=1.0),
    "S08": RulePlan(rate=0.3),
}
BREAK = 60  # the first day of broken data
WITHIN = 3  # days of broken data the monitor may need


def _flags(hist: drift.History, until_offset: int) -> dict[str, tuple[str, ...]]:
    return {s.rule_id: s.flags for s in drift.check(hist, day(until_offset)) if s.flags}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ninety_stable_days_raise_no_alarm_on_any_day(seed: int) -> None:
    hist = history(STABLE, days=90, seed=seed)
    for until in range(0, 90):  # as a daily cron job would run it, learning period included
        assert _flags(hist, until) == {}, f"false alarm on day {until}"


@pytest.mark.parametrize(
    ("rule", "plan", "flag"),
    [
        ("R21", RulePlan(rate=6.0, override=0.3, break_day=BREAK, rate_after=0.0), drift.STOPPED),
        ("R28", RulePlan(rate=3.0, override=0.5, break_day=BREAK, rate_after=0.0), drift.STOPPED),
        ("R21", RulePlan(rate=6.0, override=0.3, break_day=BREAK, rate_after=18.0), drift.RISE),
        ("R05", RulePlan(rate=20.0, feedback_share=1.0, override=0.15, break_day=BREAK, rate_after=60.0), drift.RISE),
        # The override test needs volume: about 20 answered cards a day for a jump to 60% in 3 days
        # (docs/monitoring.md has the detection rates by volume).
        ("R05", RulePlan(rate=20.0, feedback_share=1.0, override=0.15, break_day=BREAK, override_after=0.6),
         drift.OVERRIDE_RISE),
    ],
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_injected_break_is_flagged_within_three_days_and_only_on_its_rule(
    rule: str, plan: RulePlan, flag: str, seed: int
) -> None:
    hist = history({**STABLE, rule: plan}, days=BREAK + WITHIN, seed=seed)
    assert _flags(hist, BREAK - 1) == {}, "flagged before the break"
    flagged = _flags(hist, BREAK + WITHIN - 1)
    assert flag in flagged.get(rule, ()), drift.format_table(drift.check(hist, day(BREAK + WITHIN - 1)),
                                                             day(BREAK + WITHIN - 1))
    assert set(flagged) == {rule}


def test_a_new_rule_without_baseline_is_learning_not_flagged() -> None:
    hist = history({"R05": RulePlan(rate=20.0)}, days=10, seed=4)
    (status,) = drift.check(hist, day(9))
    assert status.flags == () and status.baseline_per_day is None and status.note.startswith("learning")


def test_tails_match_known_values() -> None:
    # Poisson(2): P(Y <= 1) = 3 e^-2; P(Y >= 2) = 1 - 3 e^-2. Binomial(3, 0.5): P(X >= 2) = 0.5.
    assert drift.poisson_lower(1, 2.0) == pytest.approx(3 * 2.718281828459045**-2)
    assert drift.poisson_upper(2, 2.0) == pytest.approx(1 - 3 * 2.718281828459045**-2)
    assert drift.poisson_upper(60, 10.0) == pytest.approx(1.7e-21, rel=0.2)  # far tail keeps its precision
    assert drift.binomial_upper(2, 3, 0.5) == pytest.approx(0.5)
    assert drift.binomial_upper(0, 3, 0.5) == 1.0 and drift.binomial_upper(4, 3, 0.5) == 0.0


def test_table_lists_every_rule_and_marks_flags() -> None:
    hist = history({**STABLE, "R21": RulePlan(rate=6.0, break_day=BREAK, rate_after=0.0)}, days=BREAK + 3, seed=5)
    text = drift.format_table(drift.check(hist, day(BREAK + 2)), day(BREAK + 2))
    lines = {line.split()[0]: line for line in text.splitlines()[2:]}
    assert set(lines) == set(STABLE)
    assert "STOPPED" in lines["R21"] and lines["R05"].endswith("ok")
