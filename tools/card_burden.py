"""Card burden and length: the review set and the Synthea patients through the service, in figures.

    python -m tools.card_burden                            # Markdown report on stdout
    python -m tools.card_burden --write docs/review-results.md
    python -m tools.card_burden --check                    # exit 1 when an issue-12 target is missed

Every reviewer patient (tests/review/patients/*.json) goes through the real app in process with the clock pinned
to its "now", judged by the review runner itself (tests/review/test_review_set.py); the five Synthea patients
(tests/data/synthea) go through every hook as tests/scenarios/test_synthea_hooks.py builds them, at the golden
scenarios' pinned instant. The figures: review-set pass rate, cards per call by hook, card detail length, the lead
card's indicator, and how often each rule and gate fires (its own card or folded into another card's
`bme-cds-rules` extension). Targets (issue 12), checked on the review set's patient-views and on every card's
detail: at most 4 cards on any patient-view, at most 2.5 on average, detail at most 600 characters on average
and never over 900, every reviewer patient passing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from statistics import mean
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python tools/card_burden.py` from a checkout works too

from service.knowledge.gates import GATES  # noqa: E402
from service.knowledge.rules import RULES  # noqa: E402
from tests.review import test_review_set as review  # noqa: E402

REVIEW_DIR = ROOT / "tests" / "review" / "patients"
SYNTHEA = ("Clemente", "Hershel", "Kathe", "Lonnie", "Twyla")
SYNTHEA_HOOKS = ("patient-view", "order-select", "order-sign")
REVIEW = "review set"
SYNTHETIC = "Synthea"
PATIENT_VIEW = "patient-view"
INDICATORS = ("critical", "warning", "info")

# Issue 12's targets.
MAX_CARDS_PATIENT_VIEW = 4
MEAN_CARDS_PATIENT_VIEW = 2.5
MEAN_DETAIL_CHARS = 600
MAX_DETAIL_CHARS = 900
LONG_DETAIL = 600
VERY_LONG_DETAIL = 900


@dataclass(frozen=True)
class Run:
    """One call: which patient, from which set, which hook, the cards answered, and (review set) the verdict."""

    name: str
    origin: str  # REVIEW or SYNTHETIC
    hook: str
    cards: tuple[dict[str, Any], ...]
    problems: tuple[str, ...] = ()  # what the reviewer's expectation found wrong (review set only)


@dataclass(frozen=True)
class CallStats:
    """Cards per call for one group of calls."""

    label: str
    calls: int
    mean: float
    max: int
    distribution: tuple[tuple[int, int], ...]  # (cards, calls), ascending


@dataclass(frozen=True)
class Target:
    """One of issue 12's targets, with the measured value."""

    what: str
    value: str
    limit: str
    met: bool


@dataclass(frozen=True)
class Firing:
    """How often one rule or gate fired."""

    id: str
    title: str
    review_calls: int  # review-set calls with a card carrying the id
    synthea_calls: int
    own_cards: int  # cards whose source.topic.code is the id
    folded: int  # cards listing the id in their bme-cds-rules extension but not as their topic


@dataclass(frozen=True)
class Report:
    """Every figure the command prints."""

    review_total: int
    review_passed: int
    failures: tuple[tuple[str, str], ...]  # (patient, problems)
    per_call: tuple[CallStats, ...]
    detail_cards: int
    detail_mean: float
    detail_median: float
    detail_max: int
    detail_over_600: float  # share of cards, 0..1
    detail_over_900: float
    lead: tuple[tuple[str, Counter[str]], ...]  # (group, indicator -> calls; "none" for no card)
    firings: tuple[Firing, ...]
    targets: tuple[Target, ...] = field(default=())

    @property
    def targets_met(self) -> bool:
        """True when every target holds."""
        return all(t.met for t in self.targets)


def card_ids(card: dict[str, Any]) -> list[str]:
    """The rule and gate ids a card carries (its topic and its extension), as the review runner reads them."""
    return review.card_ids(card)


def _stats(label: str, runs: Sequence[Run]) -> CallStats:
    counts = [len(r.cards) for r in runs]
    return CallStats(label, len(counts), mean(counts) if counts else 0.0, max(counts, default=0),
                     tuple(sorted(Counter(counts).items())))


def _topic(card: dict[str, Any]) -> str:
    code = card.get("source", {}).get("topic", {}).get("code")
    return code if isinstance(code, str) else ""


def _lead(runs: Sequence[Run]) -> Counter[str]:
    return Counter(str(r.cards[0].get("indicator")) if r.cards else "none" for r in runs)


def _groups(runs: Sequence[Run]) -> list[tuple[str, list[Run]]]:
    """Patient-view per set, then each order hook (both sets together)."""
    out = [(f"{PATIENT_VIEW} ({origin})", [r for r in runs if r.hook == PATIENT_VIEW and r.origin == origin])
           for origin in (REVIEW, SYNTHETIC)]
    hooks = sorted({r.hook for r in runs if r.hook != PATIENT_VIEW})
    out += [(hook, [r for r in runs if r.hook == hook]) for hook in hooks]
    return [(label, group) for label, group in out if group]


def _titles() -> dict[str, str]:
    titles = {g.id: g.title for g in GATES}
    for rule in RULES:
        titles.setdefault(rule.id, rule.title)
    return titles


def summarise(runs: Sequence[Run], titles: dict[str, str] | None = None) -> Report:
    """Every figure, from the calls' cards alone (pure: the tests feed it hand-made cards)."""
    titles = _titles() if titles is None else titles
    reviewed = [r for r in runs if r.origin == REVIEW]
    patients = sorted({r.name for r in reviewed})
    failing = {r.name: "; ".join(r.problems) for r in reviewed if r.problems}
    groups = _groups(runs)
    details = [len(str(c.get("detail", ""))) for r in runs for c in r.cards]
    n = len(details)

    review_calls: Counter[str] = Counter()
    synthea_calls: Counter[str] = Counter()
    own: Counter[str] = Counter()
    folded: Counter[str] = Counter()
    for run in runs:
        fired: set[str] = set()
        for card in run.cards:
            ids = card_ids(card)
            fired.update(ids)
            topic = _topic(card)
            own.update(i for i in ids if i == topic)
            folded.update(i for i in ids if i != topic)
        (review_calls if run.origin == REVIEW else synthea_calls).update(fired)
    ids = list(titles) + sorted((set(review_calls) | set(synthea_calls)) - set(titles))
    firings = tuple(Firing(i, titles.get(i, ""), review_calls[i], synthea_calls[i], own[i], folded[i])
                    for i in sorted(ids))

    report = Report(
        review_total=len(patients),
        review_passed=len(patients) - len(failing),
        failures=tuple(sorted(failing.items())),
        per_call=tuple(_stats(label, group) for label, group in groups),
        detail_cards=n,
        detail_mean=mean(details) if details else 0.0,
        detail_median=median(details) if details else 0.0,
        detail_max=max(details, default=0),
        detail_over_600=sum(d > LONG_DETAIL for d in details) / n if n else 0.0,
        detail_over_900=sum(d > VERY_LONG_DETAIL for d in details) / n if n else 0.0,
        lead=tuple((label, _lead(group)) for label, group in groups),
        firings=firings,
    )
    return _with_targets(report, [r for r in reviewed if r.hook == PATIENT_VIEW])


def _with_targets(report: Report, review_views: Sequence[Run]) -> Report:
    views = _stats("", review_views)
    targets = (
        Target("Review set passing", f"{report.review_passed} of {report.review_total}", "all",
               report.review_total > 0 and report.review_passed == report.review_total),
        Target("Cards on any review patient-view", str(views.max), f"at most {MAX_CARDS_PATIENT_VIEW}",
               views.max <= MAX_CARDS_PATIENT_VIEW),
        Target("Cards per review patient-view, mean", f"{views.mean:.2f}", f"at most {MEAN_CARDS_PATIENT_VIEW}",
               views.mean <= MEAN_CARDS_PATIENT_VIEW),
        Target("Card detail, mean characters", f"{report.detail_mean:.0f}", f"at most {MEAN_DETAIL_CHARS}",
               report.detail_mean <= MEAN_DETAIL_CHARS),
        Target("Card detail, longest", str(report.detail_max), f"at most {MAX_DETAIL_CHARS}",
               report.detail_max <= MAX_DETAIL_CHARS),
    )
    return replace(report, targets=targets)


def _pct(share: float) -> str:
    return f"{100 * share:.0f}%"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(report: Report, command: str = "python -m tools.card_burden") -> str:
    """The report as Markdown (stdout and the doc are the same text)."""
    rate = report.review_passed / report.review_total if report.review_total else 0.0
    lines = [
        "# Card burden and length",
        "",
        f"Generated by `{command}`: the independent review set (tests/review/patients) and the Synthea "
        "patients (tests/data/synthea, every hook, a naproxen draft on the order hooks) through the service in "
        "process, each at its pinned instant. See docs/card-burden.md for what each figure means.",
        "",
        "## Targets (issue 12)",
        "",
        "| Target | Measured | Limit | Met |",
        "|---|---|---|---|",
        *(f"| {t.what} | {t.value} | {t.limit} | {'yes' if t.met else '**no**'} |" for t in report.targets),
        "",
        f"Review set: **{report.review_passed} of {report.review_total} patients pass ({_pct(rate)}).**",
        "",
        "## Cards per call",
        "",
        "| Calls | Count | Mean cards | Max | Distribution (cards: calls) |",
        "|---|---|---|---|---|",
        *(f"| {s.label} | {s.calls} | {s.mean:.2f} | {s.max} | "
          f"{', '.join(f'{k}: {v}' for k, v in s.distribution)} |" for s in report.per_call),
        "",
        "## Card detail length (characters, every card of every call)",
        "",
        "| Cards | Mean | Median | Max | Over 600 | Over 900 |",
        "|---|---|---|---|---|---|",
        f"| {report.detail_cards} | {report.detail_mean:.0f} | {report.detail_median:.0f} | {report.detail_max} | "
        f"{_pct(report.detail_over_600)} | {_pct(report.detail_over_900)} |",
        "",
        "## The lead card's indicator",
        "",
        "| Calls | " + " | ".join((*INDICATORS, "no card")) + " |",
        "|---|" + "---|" * (len(INDICATORS) + 1),
        *(f"| {label} | " + " | ".join(str(counts[k]) for k in (*INDICATORS, "none")) + " |"
          for label, counts in report.lead),
        "",
        "## How often each rule and gate fires",
        "",
        "Calls with a card carrying the id (its `source.topic.code` or its `bme-cds-rules` extension); own cards "
        "are cards whose topic is the id, folded are cards that carry it in their extension.",
        "",
        "| Id | Title | Review-set calls | Synthea calls | Own cards | Folded in |",
        "|---|---|---|---|---|---|",
        *(f"| {f.id} | {_cell(f.title)} | {f.review_calls} | {f.synthea_calls} | {f.own_cards} | {f.folded} |"
          for f in report.firings),
        "",
    ]
    if report.failures:
        lines += ["## Review patients not passing", "",
                  "| Patient | What differs from the reviewer's expectation |", "|---|---|",
                  *(f"| {name} | {_cell(problems)} |" for name, problems in report.failures), ""]
    return "\n".join(lines)


class _Recorder:
    """A test client that keeps the last JSON answer, so the review runner's own evaluate() judges each patient."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.last: dict[str, Any] = {}

    def post(self, url: str, **kwargs: Any) -> Any:
        """POST through the real client; remember the body."""
        answer = self.client.post(url, **kwargs)
        body = answer.get_json(silent=True)
        self.last = body if isinstance(body, dict) else {}
        return answer


@contextmanager
def _service() -> Iterator[_Recorder]:
    """The real app, as the review runner builds it, with the service's clock following review._Clock."""
    from service.web import api

    with tempfile.TemporaryDirectory() as tmp:
        application, client = review.make_client(Path(tmp))
        original = getattr(api, "datetime")  # noqa: B009 - the view's clock, pinned like the review runner's
        setattr(api, "datetime", review._Clock)  # noqa: B010
        try:
            yield _Recorder(client)
        finally:
            setattr(api, "datetime", original)  # noqa: B010
            application.extensions["bme"].card_buffer.flush()  # before the temporary database goes
            review.close(application)


def collect(patients: Sequence[Path], synthea: Sequence[str] = SYNTHEA) -> list[Run]:
    """Run every reviewer patient and every Synthea patient through every hook; the cards of each call."""
    runs: list[Run] = []
    with _service() as recorder:
        for path in patients:
            patient = json.loads(path.read_text(encoding="utf-8"))
            result = review.evaluate(recorder, patient)  # type: ignore[arg-type]
            cards = tuple(recorder.last.get("cards", [])) if result["status"] == 200 else ()
            runs.append(Run(path.stem, REVIEW, patient["request"]["hook"], cards, tuple(result["problems"])))
        if synthea:
            from tests.scenarios.conftest import NOW
            from tests.scenarios.conftest import post
            from tests.scenarios.test_synthea_hooks import synthea_request

            review._Clock.instant = NOW
            for name in synthea:
                for hook in SYNTHEA_HOOKS:
                    answer = post(recorder.client, synthea_request(name, hook))
                    body = answer.get_json(silent=True) or {}
                    problems = () if answer.status_code == 200 else (f"HTTP {answer.status_code}",)
                    runs.append(Run(name, SYNTHETIC, hook, tuple(body.get("cards", [])), problems))
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """Print the report; --write also writes it; --check exits 1 when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m tools.card_burden", description=__doc__.split("\n")[0])
    parser.add_argument("--write", type=Path, metavar="PATH", help="also write the report there (Markdown)")
    parser.add_argument("--check", action="store_true", help="exit 1 when an issue-12 target is missed")
    parser.add_argument("--patients", type=Path, default=REVIEW_DIR, metavar="DIR",
                        help="folder of review patients (default: tests/review/patients)")
    parser.add_argument("--no-synthea", action="store_true", help="leave out the Synthea patients")
    args = parser.parse_args(argv)
    paths = sorted(args.patients.glob("*.json"))
    if not paths:
        parser.error(f"no patient files in {args.patients}")
    report = summarise(collect(paths, () if args.no_synthea else SYNTHEA))
    text = render(report)
    sys.stdout.write(text)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text, encoding="utf-8")
    if args.check and not report.targets_met:
        missed = ", ".join(t.what for t in report.targets if not t.met)
        print(f"card burden: targets missed: {missed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
