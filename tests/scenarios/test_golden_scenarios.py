"""Golden end-to-end scenarios: every rule R01-R37 and gate S01-S14 fires in one folder and stays quiet in a close one.

Each folder tests/scenarios/<ID>/<fires|quiet>-<what-is-true>/ holds a complete CDS Hooks request and the response
the service gave with the clock pinned (tests/scenarios/NOW). The folder name states the point; the test checks
it independently of the golden file. Regenerate with tools/regenerate_golden.py and read the diff.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from flask.testing import FlaskClient

from service.cds import schemas
from service.core.features import LOCAL_CODES
from service.core.features import LOCAL_SYSTEM
from tests.scenarios.conftest import HERE
from tests.scenarios.conftest import NOW
from tests.scenarios.conftest import post
from tests.scenarios.conftest import read_json
from tests.scenarios.conftest import scenario_folders

ROOT = HERE.parents[1]
FOLDERS = scenario_folders()
IDS = [f"R{n:02d}" for n in range(1, 38)] + [f"S{n:02d}" for n in range(1, 15)]
FOLDER_NAME = re.compile(r"^(fires|quiet)-[a-z0-9]+(?:-[a-z0-9]+)*$")

# Variants the data cannot trigger, as docs/rules.md "Rules the data cannot support yet" documents them:
# (rule id, the doc's Item column) -> why there is no fires folder for that variant. Every id still has a fires
# folder through its other variants; the test below checks each entry against the doc table.
UNSUPPORTED_VARIANTS: dict[tuple[str, str], str] = {
    ("R36", "new_symptoms_or_complication"): "the 'new symptoms or complication' variant: report text only, "
    "no feature sets it; R36's follow-up variant is covered",
    ("R15", "dmard_active = false"): "the 'no active DMARD' warning: DMARD therapy is recorded only when "
    "present; R15's RAMRIS > 2 warning is covered",
    ("R14", "on_features"): "the 'hip BME, rim sign positively absent' variant (report text only): covered by "
    "test_scenario_bugs.py::test_r14_fires_for_hip_bme_without_the_rim_sign; R14's golden folder uses a transient "
    "osteoporosis diagnosis",
    ("R03", "atypical_pain"): "atypical pain is clinician input only; R03 is covered by cancer history and by "
    "two vertebral fractures",
}

# Ids with no fires folder because the data cannot support them yet; each is listed in docs/rules.md.
# S12 fires from the data since the CDC/VSAC benzodiazepine and CNS-depressant value sets are read (issue 12).
KNOWN_GAPS: dict[str, str] = {}

CODE_SYSTEMS_FROM_VALUESETS: set[tuple[str, str]] = set()


def _valueset_codes() -> set[tuple[str, str]]:
    """(system, code) of every concept listed in valuesets/*.json, plus the is-a filter roots."""
    if not CODE_SYSTEMS_FROM_VALUESETS:
        for path in (ROOT / "valuesets").glob("*.json"):
            for include in read_json(path).get("compose", {}).get("include", []):
                system = include.get("system", "")
                for c in include.get("concept", []):
                    CODE_SYSTEMS_FROM_VALUESETS.add((system, c["code"]))
                for f in include.get("filter", []):
                    CODE_SYSTEMS_FROM_VALUESETS.add((system, f"{f['value']}*"))
    return CODE_SYSTEMS_FROM_VALUESETS


def _in_valuesets(system: str, code: str) -> bool:
    """True when the code is listed in a value set, or falls under one of its is-a filters (prefix match)."""
    known = _valueset_codes()
    if (system, code) in known:
        return True
    bare = code.replace(".", "")
    return any(s == system and c.endswith("*") and bare.startswith(c[:-1].replace(".", "")) for s, c in known)


def resources_of(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Every FHIR resource in a request: prefetch (Bundles flattened) and the draft orders."""
    out: list[dict[str, Any]] = []
    values = [v for v in request.get("prefetch", {}).values() if isinstance(v, dict)]
    drafts = request["context"].get("draftOrders")
    if isinstance(drafts, dict):
        values.append(drafts)
    for value in values:
        if value.get("resourceType") == "Bundle":
            out.extend(e["resource"] for e in value.get("entry", []))
        else:
            out.append(value)
    return out


def _empty_arrays(value: Any, path: str = "") -> list[str]:
    """Paths of empty lists (context.selections excepted: CDS Hooks allows none selected)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _empty_arrays(v, f"{path}.{k}")]
    if isinstance(value, list):
        if not value and path != ".context.selections":
            return [path]
        return [p for i, v in enumerate(value) for p in _empty_arrays(v, f"{path}[{i}]")]
    return []


def codings_of(value: Any) -> list[dict[str, Any]]:
    """Every Coding (a dict with system and code) anywhere inside a resource."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if isinstance(value.get("system"), str) and isinstance(value.get("code"), str):
            found.append(value)
        for child in value.values():
            found.extend(codings_of(child))
    elif isinstance(value, list):
        for child in value:
            found.extend(codings_of(child))
    return found


# Structural code systems a resource needs that are not clinical concepts (statuses, classes, units, modality).
STRUCTURAL_SYSTEMS = {
    "http://terminology.hl7.org/CodeSystem/condition-clinical",
    "http://terminology.hl7.org/CodeSystem/condition-ver-status",
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
    "http://terminology.hl7.org/CodeSystem/v3-ActCode",
    "http://unitsofmeasure.org",
}


def _rule_codes(response: dict[str, Any]) -> list[str]:
    """Every rule a card carries: its own, and those folded into it (its bme-cds-rules extension)."""
    return [code for card in response["cards"]
            for code in card.get("extension", {}).get("bme-cds-rules", [card["source"]["topic"]["code"]])]


@pytest.mark.parametrize("folder", FOLDERS, ids=[f"{f.parent.name}/{f.name}" for f in FOLDERS])
def test_scenario(folder: Path, pinned_client: FlaskClient) -> None:
    """The app answers the golden request with the golden response, and the folder's rule fires (or not)."""
    request = read_json(folder / "request.json")
    expected = read_json(folder / "expected.json")
    schemas.validate("request", request)
    schemas.validate("response", expected)

    answer = post(pinned_client, request)

    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    schemas.validate("response", body)
    assert body == expected, "stale golden file: run tools/regenerate_golden.py and read the diff"
    rule_id, kind = folder.parent.name, folder.name.split("-", 1)[0]
    codes = _rule_codes(body)
    if kind == "fires":
        assert rule_id in codes, f"{rule_id} should fire; cards: {codes}"
    else:
        assert rule_id not in codes, f"{rule_id} must stay quiet; cards: {codes}"


@pytest.mark.parametrize("folder", FOLDERS, ids=[f"{f.parent.name}/{f.name}" for f in FOLDERS])
def test_scenario_request_is_small_valid_fhir(folder: Path) -> None:
    """Every resource passes fhir.resources R4B; every clinical code comes from valuesets/ or LOCAL_CODES."""
    request = read_json(folder / "request.json")
    assert FOLDER_NAME.match(folder.name), folder.name
    from hooks.common import PREFETCH

    assert set(request["prefetch"]) == set(PREFETCH), "every prefetch key is present"
    assert not _empty_arrays(request), "FHIR JSON and CDS Hooks have no empty arrays here"
    for value in [*request["prefetch"].values(), request["context"].get("draftOrders")]:
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            get_fhir_model_class("Bundle").model_validate(value)
    for resource in resources_of(request):
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        for c in codings_of(resource):
            system, code = c["system"], c["code"]
            if system in STRUCTURAL_SYSTEMS:
                continue
            if system == LOCAL_SYSTEM:
                assert code in LOCAL_CODES, f"{code} is not a project-local code"
                continue
            assert _in_valuesets(system, code), f"{system}|{code} is in no value set"


def test_every_rule_and_gate_has_a_fires_and_a_quiet_scenario() -> None:
    """R01-R37 and S01-S14 each have at least one fires-* and one quiet-* folder (known gaps aside)."""
    kinds: dict[str, set[str]] = {i: set() for i in IDS}
    for folder in FOLDERS:
        assert folder.parent.name in kinds, f"unknown id folder {folder.parent.name}"
        kinds[folder.parent.name].add(folder.name.split("-", 1)[0])
    missing = {i: {"fires", "quiet"} - k for i, k in kinds.items() if {"fires", "quiet"} - k}
    assert set(missing) == set(KNOWN_GAPS), missing
    assert all(k == {"fires"} for k in missing.values()), "known gaps lack only the fires scenario"


def test_ids_without_a_fires_scenario_are_documented_limitations() -> None:
    """An id that cannot fire is listed in docs/rules.md's limitations table, never silently dropped."""
    listed = {rule.strip() for _, rules in _unsupported_table() for rule in rules.split(",")}
    assert set(KNOWN_GAPS) <= listed


def _unsupported_table() -> list[tuple[str, str]]:
    """(Item, Rules) rows of docs/rules.md's "Rules the data cannot support yet" table."""
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    section = text.split("## Rules the data cannot support yet", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("Item", "---"):
            rows.append((cells[0], cells[1]))
    return rows


def test_unsupported_variants_match_the_rules_doc() -> None:
    """Every variant left without a fires folder is one docs/rules.md lists as not supportable by data."""
    rows = _unsupported_table()
    assert rows, "docs/rules.md lost its 'Rules the data cannot support yet' table"
    for rule_id, item in UNSUPPORTED_VARIANTS:
        # The Item cell may name several features ("a, b, c"); the variant's feature is one of them.
        matching = [rules for name, rules in rows if item == name or item in [n.strip() for n in name.split(",")]]
        assert matching, f"{item!r} is not in the doc table"
        assert rule_id in re.findall(r"[RS]\d\d", matching[0]), f"{rule_id} is not listed for {item!r}"
    # A rule the doc marks as wholly unsupportable would need an entry here instead of a fires folder; none is.
    whole = {i for _, rules in rows for i in re.findall(r"[RS]\d\d", rules)}
    fired = {f.parent.name for f in FOLDERS if f.name.startswith("fires-")}
    assert not (whole - fired) - set(KNOWN_GAPS), "a doc-listed rule has no fires scenario"


SEEDS = ROOT / "tests" / "rules" / "seeds"  # the rules helper's copy of the four seed files


def _seed_text() -> str:
    return " ".join(" ".join(p.read_text(encoding="utf-8").split()) for p in sorted(SEEDS.glob("*.txt")))


def test_every_golden_dose_is_worded_as_in_a_seed() -> None:
    """Doses come from the seeds as text: '<Drug> <dose text>' appears verbatim in a seed file."""
    seeds = _seed_text()
    doses = set()
    for folder in FOLDERS:
        for card in read_json(folder / "expected.json")["cards"]:
            for suggestion in card.get("suggestions", []):
                for action in suggestion.get("actions", []):
                    resource = action.get("resource") or {}
                    drug = resource.get("medicationCodeableConcept", {}).get("text", "")
                    for dosage in resource.get("dosageInstruction", []):
                        doses.add((drug, dosage["text"]))
    assert {drug for drug, _ in doses} >= {"naproxen", "pamidronate"}, "the goldens show the seed doses"
    for drug, text in doses:
        assert f"{drug.capitalize()} {text}" in seeds, (drug, text)


def test_myeloma_defers_the_nsaid_suggestions() -> None:
    """R11/fires-myeloma-nsaids-deferred: R22's NSAIDs stay visible, none recommended, with R11's note."""
    cards = read_json(HERE / "R11" / "fires-myeloma-nsaids-deferred" / "expected.json")["cards"]
    r22 = next(c for c in cards if c["source"]["topic"]["code"] == "R22")
    assert len(r22["suggestions"]) == 4
    assert all(s.get("isRecommended") is False for s in r22["suggestions"])
    assert "defer to the myeloma team" in r22["detail"]


def test_the_regeneration_tool_agrees_with_the_app() -> None:
    """tools/regenerate_golden.py (the CLI's Deps, offline) reproduces every golden file byte for byte."""
    from tools.regenerate_golden import pinned_now
    from tools.regenerate_golden import regenerate

    assert pinned_now() == NOW
    assert regenerate(FOLDERS, pinned_now(), check=True) == []
