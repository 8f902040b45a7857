"""Derived judgements that depend on policy: pain severity and persistence, and the NSAID response."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from service.core.facts import Fact
from service.core.facts import Source
from service.core.features.state import Extraction
from service.core.features.state import min_date


def pain_features(ex: Extraction, so_far: Mapping[str, Any]) -> dict[str, Any]:
    """Pain NRS series, latest, severity, persistence (§1.6) and the NSAID response (§1.7)."""
    out: dict[str, Any] = {}
    if not ex.pain:
        return out
    series = sorted(ex.pain, key=lambda x: x[0])
    out["pain_nrs_series"] = tuple((d, v) for d, v, _ in series)
    when, latest, src = series[-1]
    out["pain_nrs_latest"] = Fact(latest, (src,), when)
    severe_at = ex.policy.int("pain.severe_nrs")
    out["pain_severe"] = Fact(latest >= severe_at, (src,), when)
    persistent_at = ex.policy.int("pain.persistent_nrs")
    episode = min_date(so_far.get("bme_first_seen_date"), so_far.get("fracture_onset_date"))
    considered = [x for x in series if episode is None or x[0] >= episode]
    if considered:
        last_date = considered[-1][0]
        run_start: date | None = None
        run_sources: list[Source] = []
        for d, v, s in reversed(considered):
            if v < persistent_at:
                break
            run_start = d
            run_sources.append(s)
        if run_start is None:
            out["pain_persistent_days"] = Fact(0, (considered[-1][2],), last_date)
        else:
            covers_all = len(run_sources) == len(considered)
            begin = episode if (covers_all and episode is not None) else run_start
            out["pain_persistent_days"] = Fact((last_date - begin).days, tuple(reversed(run_sources)), last_date)
    start_fact = so_far.get("nsaid_start_date")
    start = start_fact.value if isinstance(start_fact, Fact) else None
    course = so_far.get("nsaid_course_days")
    lo, hi = ex.policy.int("nsaid.trial_min_days"), ex.policy.int("nsaid.trial_max_days")
    last_day = hi
    if start is None and isinstance(course, Fact) and course.value and course.as_of is not None:
        # No NSAID running: judge the longest finished course (first-line history) from its start; its window
        # runs to trial_max_days after it ended, so the pain just after a 4-week course still counts.
        start_fact = Fact(course.as_of, course.sources, course.as_of)
        start = course.as_of
        last_day = int(course.value) + hi
    if isinstance(start_fact, Fact) and isinstance(start, date):
        baseline = [x for x in series if x[0] <= start]
        # The response is judged in the trial window only (§1.7, C3): days trial_min..trial_max.
        after = [x for x in series if lo <= (x[0] - start).days <= last_day]
        if baseline and after:
            b_when, b_value, b_src = baseline[-1]
            a_when, a_value, a_src = after[-1]
            out["pain_nrs_baseline"] = Fact(b_value, (b_src,), b_when)
            reduction = 100.0 * (b_value - a_value) / b_value if b_value > 0 else 0.0
            insufficient = a_value >= severe_at or (
                b_value > 0 and reduction < ex.policy.float("nsaid.min_pain_reduction_pct")
            )
            out["nsaid_response_insufficient"] = Fact(
                insufficient,
                (b_src, a_src, start_fact.sources[0]) if start_fact.sources else (b_src, a_src),
                a_when,
            )
    return out
