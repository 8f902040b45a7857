"""Drift rules for `bme-cds monitor`: has a rule's daily firing or override rate left its own baseline?

Pure: counts per rule and day in, findings out. The statistical rule (docs/monitoring.md):

- Baseline: the `baseline_days` complete days before the recent window (at least `min_baseline_days` of data).
- Firing, a Poisson control chart with exact limits: with the baseline's mean daily count lambda and its
  over-dispersion phi (variance / mean when a chi-squared dispersion test at 1% rejects plain Poisson, else 1:
  quasi-Poisson only where the data demand it), the sum X of the last w days (w = 1 ..
  `window_days`) is compared with Poisson(w * lambda / phi) after dividing X by phi. `rise` when
  P(Y >= X/phi) < alpha, `drop` when P(Y <= X/phi) < alpha, for any w.
- Stopped: the rule has not fired for the last z days and a quiet stretch that long has probability
  exp(-z * lambda / phi) < alpha_stopped under the baseline (a rule firing 3 times a day: 3 quiet days).
- Override rate, a p-chart with exact binomial limits: baseline rate p0 = (overrides + 0.5) / (items + 1) of
  the baseline's feedback; `override-rise` when the last w days' overrides o of n items have
  P(Bin(n, p0) >= o) < alpha_override. Needs `min_feedback` baseline items.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import timedelta

RISE = "rise"
DROP = "drop"
STOPPED = "stopped"
OVERRIDE_RISE = "override-rise"


@dataclass
class RuleDays:
    """One rule's counts per UTC day: cards issued, feedback items (accepted or overridden), overrides."""

    issued: dict[date, int] = field(default_factory=dict)
    feedback: dict[date, int] = field(default_factory=dict)
    overridden: dict[date, int] = field(default_factory=dict)


@dataclass(frozen=True)
class History:
    """Counts per rule over [first_day, last_day] (days without a record count zero)."""

    first_day: date
    last_day: date
    rules: Mapping[str, RuleDays]


@dataclass(frozen=True)
class DriftConfig:
    """The knobs of the rule, with the defaults docs/monitoring.md justifies."""

    baseline_days: int = 28
    window_days: int = 3
    min_baseline_days: int = 14
    alpha: float = 1e-5
    alpha_stopped: float = 1e-3
    alpha_override: float = 1e-5
    min_feedback: int = 20


@dataclass(frozen=True)
class RuleStatus:
    """The verdict on one rule for the window ending `until`."""

    rule_id: str
    baseline_per_day: float | None  # None: not enough history yet
    recent: int  # cards in the last window_days
    flags: tuple[str, ...] = ()
    p_value: float | None = None  # the smallest p behind a flag, or of the tests run
    override_baseline: float | None = None
    override_recent: float | None = None
    note: str = ""


def poisson_lower(k: int, mu: float) -> float:
    """P(Y <= k) for Y ~ Poisson(mu)."""
    if k < 0:
        return 0.0
    if mu <= 0:
        return 1.0
    total = 0.0
    log_mu = math.log(mu)
    for i in range(k + 1):
        total += math.exp(-mu + i * log_mu - math.lgamma(i + 1))
    return min(1.0, total)


def poisson_upper(k: int, mu: float) -> float:
    """P(Y >= k) for Y ~ Poisson(mu), summed from k upward so tiny tails keep their precision."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    if k <= mu:
        return max(0.0, 1.0 - poisson_lower(k - 1, mu))
    total, i, log_mu = 0.0, k, math.log(mu)
    while True:
        term = math.exp(-mu + i * log_mu - math.lgamma(i + 1))
        total += term
        if term < total * 1e-16 or term == 0.0:
            return min(1.0, total)
        i += 1


def binomial_upper(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k, n + 1):
        log_choose = math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
        total += math.exp(log_choose + i * log_p + (n - i) * log_q)
    return min(1.0, total)


def chi2_upper_quantile(dof: int, z: float = 2.326) -> float:
    """The chi-squared quantile for a standard normal z (2.326: the 99th percentile), by Wilson-Hilferty."""
    k = max(1, dof)
    return k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3


def dispersion(variance: float, mean: float, days: int) -> float:
    """phi for the quasi-Poisson limits: variance / mean when it is beyond Poisson noise at 1%, else 1."""
    if mean <= 0 or days < 2:
        return 1.0
    index = variance / mean
    return index if index * (days - 1) > chi2_upper_quantile(days - 1) else 1.0


def _days(end: date, count: int) -> list[date]:
    return [end - timedelta(days=offset) for offset in range(count)]


def _sum(counts: Mapping[date, int], days: Iterable[date]) -> int:
    return sum(counts.get(day, 0) for day in days)


def check_rule(rule_id: str, days: RuleDays, first_day: date, until: date, config: DriftConfig) -> RuleStatus:
    """Apply the firing, stopped and override-rate tests to one rule for the window ending `until`."""
    window_end = until
    baseline_end = until - timedelta(days=config.window_days)
    baseline = [d for d in _days(baseline_end, config.baseline_days) if d >= first_day]
    recent = _sum(days.issued, _days(window_end, config.window_days))
    if len(baseline) < config.min_baseline_days:
        return RuleStatus(rule_id, None, recent, note=f"learning: {len(baseline)} baseline days")
    counts = [days.issued.get(d, 0) for d in baseline]
    mean = sum(counts) / len(counts)
    variance = sum((c - mean) ** 2 for c in counts) / max(1, len(counts) - 1)
    phi = dispersion(variance, mean, len(counts))
    rate = mean if mean > 0 else 0.5 / len(counts)  # never fired: half a firing over the baseline
    flags: list[str] = []
    p_min = 1.0
    quiet = 0
    for day in _days(window_end, (window_end - first_day).days + 1):
        if days.issued.get(day, 0):
            break
        quiet += 1
    if mean > 0 and quiet:
        p_stop = math.exp(-quiet * rate / phi)
        if p_stop < config.alpha_stopped:
            flags.append(STOPPED)
            p_min = min(p_min, p_stop)
    for w in range(1, config.window_days + 1):
        observed = _sum(days.issued, _days(window_end, w)) / phi
        expected = w * rate / phi
        p_up = poisson_upper(math.floor(observed), expected)
        p_down = poisson_lower(math.ceil(observed), expected)
        p_min = min(p_min, p_up, p_down)
        if p_up < config.alpha and RISE not in flags:
            flags.append(RISE)
        if p_down < config.alpha and DROP not in flags and STOPPED not in flags:
            flags.append(DROP)
    override_base = override_recent = None
    base_items = _sum(days.feedback, baseline)
    if base_items >= config.min_feedback:
        base_overrides = _sum(days.overridden, baseline)
        p0 = (base_overrides + 0.5) / (base_items + 1)
        override_base = base_overrides / base_items
        for w in range(1, config.window_days + 1):
            items = _sum(days.feedback, _days(window_end, w))
            overrides = _sum(days.overridden, _days(window_end, w))
            if w == config.window_days and items:
                override_recent = overrides / items
            p_over = binomial_upper(overrides, items, p0)
            p_min = min(p_min, p_over)
            if p_over < config.alpha_override and OVERRIDE_RISE not in flags:
                flags.append(OVERRIDE_RISE)
    return RuleStatus(rule_id, mean, recent, tuple(flags), p_min, override_base, override_recent)


def check(history: History, until: date, config: DriftConfig | None = None) -> list[RuleStatus]:
    """Every rule's status for the window ending `until` (inclusive), sorted by rule id."""
    cfg = config or DriftConfig()
    return [
        check_rule(rule_id, history.rules[rule_id], history.first_day, until, cfg)
        for rule_id in sorted(history.rules)
    ]


def format_table(statuses: Iterable[RuleStatus], until: date, config: DriftConfig | None = None) -> str:
    """The statuses as a fixed-width table, flagged rules marked."""
    cfg = config or DriftConfig()
    lines = [
        f"bme-cds monitor: window of {cfg.window_days} days ending {until.isoformat()} (UTC), "
        f"baseline the {cfg.baseline_days} days before",
        f"{'rule':<16}{'base/day':>9}{f'last {cfg.window_days}d':>9}{'override base':>15}"
        f"{'override now':>14}{'p':>10}  flags",
    ]
    for status in statuses:
        base = "-" if status.baseline_per_day is None else f"{status.baseline_per_day:.2f}"
        over_base = "-" if status.override_baseline is None else f"{status.override_baseline:.0%}"
        over_now = "-" if status.override_recent is None else f"{status.override_recent:.0%}"
        p_value = "-" if status.p_value is None else f"{status.p_value:.1e}"
        flags = ", ".join(status.flags).upper() if status.flags else (status.note or "ok")
        lines.append(
            f"{status.rule_id:<16}{base:>9}{status.recent:>9}{over_base:>15}{over_now:>14}{p_value:>10}  {flags}"
        )
    return "\n".join(lines) + "\n"
