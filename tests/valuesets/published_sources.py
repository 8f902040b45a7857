"""Codes verified beyond codes.md: the published extracts in tools/valueset_sources/, indexed by code.

Each (system, code) maps to the labels a member's evidence must cite to count as verified by that source:
the CDC value-set URL, the VSAC file and line, or the HL7 example resource.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SOURCES = Path(__file__).resolve().parents[2] / "tools" / "valueset_sources"


def _load(name: str) -> Any:
    return json.loads((SOURCES / name).read_text(encoding="utf-8"))


def _index() -> dict[tuple[str, str], set[str]]:
    labels: dict[tuple[str, str], set[str]] = {}
    for vs in _load("cdc-opioid-cds.json")["sets"].values():
        for code, _display in vs["codes"]:
            labels.setdefault((vs["system"], code), set()).add(f"CDC opioid CDS value set {vs['url']} ")
    for vs in _load("vsac-ecqm-canvas.json")["sets"]:
        for code, _display, line in vs["codes"]:
            label = f"{vs['oid']} ({vs['expansion']}), {vs['file']} l.{line}"
            labels.setdefault((vs["system"], code), set()).add(label)
    for row in _load("hl7-fhir-r4-examples.json")["codes"]:
        labels.setdefault(("http://loinc.org", row["code"]), set()).add(f"HL7 FHIR R4 example {row['resource']} ")
    return labels


PUBLISHED: dict[tuple[str, str], set[str]] = _index()

# ICD-10-CM rows added for issue 12 that codes.md does not list (existence and titles are checked against
# simple_icd_10_cm by test_every_icd10cm_code_exists_with_its_official_display).
ICD10CM_ADDITIONS = frozenset({"Z22.7", "R76.11", "R76.12", "Z86.15", "A15", "A17", "A18", "A19", "Z49", "Z39",
                               # causes of BME seed 003 names (R05): osteoarthritis, CRPS I/II, algoneurodystrophy
                               "M15", "M16", "M17", "M18", "M19", "G90.5", "G56.4", "G57.7", "M89.0"})
