"""Synthetic firing and feedback histories for the monitor's tests (seeded, so every run sees the same data)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date
from datetime import timedelta

from service.store.drift import History
from service.store.drift import RuleDays

START = date(2026, 1, 1)


def poisson(rng: random.Random, rate: float) -> int:
    """A Poisson draw (Knuth's method; fine for the small daily rates used here)."""
    limit, count, product = math.exp(-rate), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


@dataclass(frozen=True)
class RulePlan:
    """A rule's daily firing rate and override share, each changing to a new value on `break_day` (if any)."""

    rate: float
    feedback_share: float = 0.5  # of cards that get feedback
    override: float = 0.2
    break_day: int | None = None
    rate_after: float | None = None
    override_after: float | None = None


def history(plans: dict[str, RulePlan], days: int, seed: int) -> History:
    """Daily counts for `days` days from START, drawn per the plans."""
    rng = random.Random(seed)
    rules: dict[str, RuleDays] = {}
    for rule_id, plan in sorted(plans.items()):
        entry = RuleDays()
        for offset in range(days):
            broken = plan.break_day is not None and offset >= plan.break_day
            rate = plan.rate_after if broken and plan.rate_after is not None else plan.rate
            override = plan.override_after if broken and plan.override_after is not None else plan.override
            day = START + timedelta(days=offset)
            issued = poisson(rng, rate)
            answered = sum(1 for _ in range(issued) if rng.random() < plan.feedback_share)
            overridden = sum(1 for _ in range(answered) if rng.random() < override)
            if issued:
                entry.issued[day] = issued
            if answered:
                entry.feedback[day] = answered
            if overridden:
                entry.overridden[day] = overridden
        rules[rule_id] = entry
    return History(first_day=START, last_day=START + timedelta(days=days - 1), rules=rules)


def day(offset: int) -> date:
    """The date `offset` days after START."""
    return START + timedelta(days=offset)
