"""One patient's replay: the patient-view requests silent mode would have sent, run through the live pipeline.

`run_patient_view` is the only call into the service's pipeline and `build_deps` the only place its
dependencies are assembled (as `bme-cds evaluate` assembles them); both engines, local and Spark, go through
`evaluate_patient`, so their results cannot differ.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import orjson

from hooks.patient_view import SERVICE as PATIENT_VIEW
from service.config import Settings
from service.replay import selection
from service.replay.ndjson import BadLine
from valuesets import DIRECTORY as PACKAGED_VALUESETS

if TYPE_CHECKING:  # the pipeline is imported by preload (local engine: while pass 1 runs), not on import
    from service.cds.pipeline import Deps

_HOOK_INSTANCES = uuid.UUID("0b8f5a0e-6f4c-4d7e-9a55-3c2f1e7d2b61")
REPLAY_USER = "Practitioner/bme-cds-replay"  # context.userId: no clinician opens the chart in a replay


@dataclass(frozen=True)
class ReplayPlan:
    """What to replay and with which configuration; picklable, so Spark executors get it whole."""

    settings: Settings
    policy: Mapping[str, Any] | None  # the policy file's JSON object; None: the defaults
    compare_policy: Mapping[str, Any] | None  # the what-if policy; None: no comparison
    as_of: str | None  # YYYY-MM-DD: evaluate everyone once at that date
    window: tuple[str, str] | None  # (from, to) YYYY-MM-DD: evaluate at each visit in the window
    valuesets_packaged: bool  # the packaged value sets: each executor uses its own installed copy


@dataclass(frozen=True)
class Result:
    """What one patient-view answered: the rule ids of its cards, the card and suggestion counts."""

    rules: tuple[str, ...]
    cards: int
    suggestions: int


@dataclass(frozen=True)
class Evaluation:
    """One row of patients.csv: a patient evaluated at a date, under the policy and the what-if policy."""

    patient: str
    date: str
    result: Result
    compare: Result | None


def read_policy(path: Path | None) -> Mapping[str, Any] | None:
    """A policy file's JSON object, checked by the service's own loader first (PolicyError on a bad file)."""
    from service.core.policy import load_policy

    if path is None:
        return None
    load_policy(path)
    data: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def build_deps(settings: Settings, policy: Mapping[str, Any] | None) -> Deps:
    """The pipeline's dependencies from the service's one composition root (offline: no FHIR pool, no recorder)."""
    from service import compose
    from service.core.policy import DEFAULT_POLICY
    from service.core.policy import policy_from_mapping

    return compose.build_deps(settings, policy=DEFAULT_POLICY if policy is None else policy_from_mapping(policy))


def run_patient_view(deps: Deps, request: Mapping[str, Any], now: datetime) -> Mapping[str, Any]:
    """The one call into the live pipeline: a patient-view request in, the response body out.

    :raises CdsError: as the service would answer the request (e.g. 400 for an invalid one).
    """
    from service.cds.pipeline import evaluate

    return evaluate(PATIENT_VIEW.id, request, deps, now).body


_DEPS: dict[str, Deps] = {}  # per process: value sets are loaded once, not once per patient


def _deps(plan: ReplayPlan, policy: Mapping[str, Any] | None) -> Deps:
    key = json.dumps([policy, plan.settings.valuesets_dir.as_posix(), plan.valuesets_packaged], sort_keys=True)
    if key not in _DEPS:
        settings = plan.settings
        if plan.valuesets_packaged:
            from dataclasses import replace

            settings = replace(settings, valuesets_dir=PACKAGED_VALUESETS)
        _DEPS[key] = build_deps(settings, policy)
    return _DEPS[key]


def preload(plan: ReplayPlan) -> None:
    """Build the plan's dependencies in this process now (workers forked later share them)."""
    _deps(plan, plan.policy)
    if plan.compare_policy is not None:
        _deps(plan, plan.compare_policy)


def card_rules(card: Mapping[str, Any]) -> set[str]:
    """The rule ids a card carries: its topic code and those it lists as folded in."""
    from service.core.cards import card_rule_ids

    return set(card_rule_ids(card))


def summarise(body: Mapping[str, Any]) -> Result:
    """A response body as the replay reports it."""
    cards = [c for c in body.get("cards", []) if isinstance(c, dict)]
    rules: set[str] = set()
    for card in cards:
        rules |= card_rules(card)
    suggestions = sum(len(c.get("suggestions") or ()) for c in cards)
    return Result(tuple(sorted(rules)), len(cards), suggestions)


def request_for(
    patient: str, day: str, selected: Iterable[selection.Selected], encounter: str | None
) -> dict[str, Any]:
    """The patient-view request silent mode would have sent on `day`, with what was known then as prefetch."""
    context: dict[str, Any] = {"userId": REPLAY_USER, "patientId": patient}
    if encounter is not None:
        context["encounterId"] = encounter
    return {
        "hook": PATIENT_VIEW.hook,
        "hookInstance": str(uuid.uuid5(_HOOK_INSTANCES, f"{patient}|{day}|{encounter or ''}")),
        "context": context,
        "prefetch": selection.prefetch(selected, day),
    }


def _points(plan: ReplayPlan, selected: Sequence[selection.Selected]) -> list[tuple[str, str | None]]:
    """(date, encounter id) of each evaluation: the as-of date, or each visit day in the window (first visit's id)."""
    if plan.window is None:
        return [(plan.as_of or datetime.now(UTC).date().isoformat(), None)]
    first, last = plan.window
    visits: dict[str, str | None] = {}
    for resource, _, day in selected:
        if resource.get("resourceType") != "Encounter":
            continue
        if day is None or len(day) != 10 or not first <= day <= last:
            continue
        encounter = resource.get("id")
        encounter = encounter if isinstance(encounter, str) else None
        if day not in visits or (encounter is not None and (visits[day] is None or encounter < str(visits[day]))):
            visits[day] = encounter
    return sorted(visits.items())


# One kept line: (file index, line, parsed resource, is Patient, its prefetch keys).
Record = tuple[int, int, dict[str, Any], bool, tuple[str, ...]]


def evaluate_patient(
    plan: ReplayPlan, patient: str, records: Iterable[tuple[int, int, bytes, bool]]
) -> tuple[list[Evaluation], list[BadLine]]:
    """Every evaluation of one patient from its (file index, line, raw JSON, is Patient) records."""
    parsed = [(f, line, orjson.loads(raw), p) for f, line, raw, p in records]
    return evaluate_resources(plan, patient, [(f, line, r, p, selection.prefetch_keys(r)) for f, line, r, p in parsed])


def evaluate_resources(
    plan: ReplayPlan, patient: str, records: Iterable[Record]
) -> tuple[list[Evaluation], list[BadLine]]:
    """Every evaluation of one patient from its records (`Record`: parsed and checked by `examine`).

    Records are put in export order first, so the result does not depend on how an engine grouped them.
    """
    from service.errors import CdsError

    ordered = sorted(records, key=itemgetter(0, 1))
    bad: list[BadLine] = []
    patients = [r for r in ordered if r[3]]
    if not patients:
        reason = f"no Patient resource with id {patient!r} in the export"
        return [], [BadLine(f, line, reason) for f, line, *_ in ordered]
    anchor = patients[0]
    for f, line, *_ in patients[1:]:
        bad.append(BadLine(f, line, f"a second Patient resource with id {patient!r}; the first one is used"))
    # Keys and known date read once per resource, not once per evaluation point: the replay's own work per patient
    # outside the pipeline 0.066 -> 0.059 ms with --as-of, 0.74 -> 0.25 ms with --encounters (1,000 patients).
    selected = [(r, keys, selection.known_date(r))
                for f, line, r, is_patient, keys in ordered if not is_patient or (f, line) == anchor[:2]]
    rows: list[Evaluation] = []
    for day, encounter in _points(plan, selected):
        now = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
        request = request_for(patient, day, selected, encounter)
        try:
            result = summarise(run_patient_view(_deps(plan, plan.policy), request, now))
            compare = None
            if plan.compare_policy is not None:
                compare = summarise(run_patient_view(_deps(plan, plan.compare_policy), request, now))
        except CdsError as exc:
            reason = f"evaluation at {day} answered {exc.status} {exc.error_code}: {exc.message}"
            bad.append(BadLine(anchor[0], anchor[1], reason))
            continue
        except Exception as exc:  # a pipeline defect on one patient's data: reported, the run goes on
            reason = f"evaluation at {day} failed: {type(exc).__name__}: {exc}"
            bad.append(BadLine(anchor[0], anchor[1], reason[:500]))
            continue
        rows.append(Evaluation(patient, day, result, compare))
    return rows, bad
