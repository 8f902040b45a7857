"""Copy the terminology that tools/build_valuesets.py uses from published value sets into tools/valueset_sources/.

Run once by hand when a source changes; the build and the tests then read only the committed extracts
(never ../shared or a downloaded wheel). Sources:

- CDC opioid CDS value sets (CC0 1.0), FHIR R4 ValueSet JSON with expansions, as copied unchanged into
  `../shared/data/cdc-opioid-valuesets/` from cqframework/opioid-cds-r4@b29bdcbf input/vocabulary/valueset/.
- VSAC eCQM value-set expansions as redistributed in the PyPI package `canvas` 0.261.0 (codes.md V-A):
  `pip download --no-deps canvas==0.261.0`, unzip the wheel, pass the folder holding `canvas_sdk/`.
- HL7 FHIR R4 example resources, npm package `hl7.fhir.r4.examples` 4.0.1 (CC0-1.0, HL7-published):
  `npm pack hl7.fhir.r4.examples@4.0.1`, untar, pass the `package/` folder.

Usage: python tools/extract_valueset_sources.py CDC_DIR CANVAS_DIR FHIR_EXAMPLES_DIR
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "valueset_sources"

CDC_OPIOID_FILES = (  # the opioid sets rx-opioid is built from (tools/build_valuesets.py)
    "opioid-analgesics-with-ambulatory-misuse-potential.json",
    "extended-release-opioid-with-ambulatory-misuse-potential.json",
    "non-synthetic-opioid-medications.json",
    "synthetic-opioid-medications.json",
    "fentanyl-type-medications.json",
    "methadone-medications.json",
    "oxycodone-medications.json",
    "buprenorphine-medications.json",
)
CDC_FILES = (
    *CDC_OPIOID_FILES,
    "benzodiazepine-medications.json",
    "barbiturate-medications.json",
    "cns-depressant-medications.json",
)

CANVAS_SYSTEMS = {
    "SNOMEDCT": "http://snomed.info/sct",
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "LOINC": "http://loinc.org",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "CPT": "http://www.ama-assn.org/go/cpt",
}

NSAID = re.compile(
    r"\b(ketorolac|meloxicam|nabumetone|etodolac|piroxicam|sulindac|diclofenac|naproxen|ibuprofen|celecoxib|"
    r"indomethacin|ketoprofen|flurbiprofen|oxaprozin|diflunisal|fenoprofen|mefenamic|meclofenamate|tolmetin)\b",
    re.I,
)
# (file under canvas_sdk/value_set, VALUE_SET_NAME, system, display filter or None for every row)
CANVAS_WANTED: tuple[tuple[str, str, str, re.Pattern[str] | None], ...] = (
    ("v2026/medication.py", "Opioids", "RXNORM", None),
    ("v2026/medication.py", "Opioids, All", "RXNORM", None),
    ("v2026/medication.py", "Schedule II, III and IV Opioid Medications", "RXNORM", None),
    ("v2026/medication.py", "Central Nervous System Depressants", "RXNORM", None),
    ("v2026/medication.py", "Potentially Harmful Pain Medications for Older Adults", "RXNORM", NSAID),
    ("v2022/medication.py", "Ketorolac Tromethamine", "RXNORM", None),
    ("v2022/medication.py", "Indomethacin", "RXNORM", None),
    ("v2022/medication.py", "Chemotherapy for Advanced Cancer", "RXNORM", re.compile(r"\bmethotrexate\b", re.I)),
    ("v2026/medication.py", "Chemotherapy Agents for Advanced Cancer", "RXNORM", re.compile(r"\bmethotrexate\b", re.I)),
    ("v2022/medication.py", "Immunosuppressive Drugs for Urology Care", "RXNORM", re.compile(r"\bleflunomide\b", re.I)),
    ("v2026/medication.py", "Immunosuppressive Drugs for Urology Care", "RXNORM", re.compile(r"\bleflunomide\b", re.I)),
    ("v2026/procedure.py", "Dialysis Services", "SNOMEDCT", None),
    ("v2026/procedure.py", "Dialysis Services", "CPT", None),
    ("v2022/procedure.py", "Hemodialysis", "SNOMEDCT", None),
    ("v2022/procedure.py", "Hemodialysis", "CPT", None),
    ("v2022/procedure.py", "Peritoneal Dialysis", "SNOMEDCT", None),
    ("v2022/procedure.py", "Peritoneal Dialysis", "CPT", None),
    ("v2022/condition.py", "Kidney Failure", "SNOMEDCT", re.compile(r"dialysis", re.I)),
    (
        "v2026/condition.py",
        "Comorbid Conditions for Respiratory Conditions",
        "SNOMEDCT",
        re.compile(
            r"^(?!.*(non-?tubercul|atypical|vaccin|\bBCG\b|history|contact|exposure|screening)).*tubercul", re.I
        ),
    ),
    ("v2026/diagnostic_study.py", "XRay Study", "LOINC", re.compile(r"^MR ")),
)

FHIR_EXAMPLES = (("Observation-f205.json", "33914-3"), ("Bundle-ghp.json", "2000-8"), ("Bundle-ghp.json", "13959-2"))


def _cdc(directory: Path) -> dict[str, object]:
    sets = {}
    for name in CDC_FILES:
        data = json.loads((directory / name).read_text(encoding="utf-8"))
        codes = sorted({(c["code"], c["display"]) for c in data["expansion"]["contains"]}, key=lambda x: int(x[0]))
        sets[name] = {
            "url": data["url"],
            "name": data["name"],
            "title": data["title"],
            "expansion_timestamp": data["expansion"]["timestamp"],
            "publisher": data["publisher"],
            "system": data["expansion"]["contains"][0]["system"],
            "codes": [list(c) for c in codes],
        }
    return {
        "source": "CDC opioid CDS value sets, cqframework/opioid-cds-r4@b29bdcbf input/vocabulary/valueset/",
        "licence": "CC0-1.0",
        "note": "Expansions copied as published; only code and display are kept.",
        "sets": sets,
    }


def _canvas(root: Path) -> dict[str, object]:
    out = []
    for rel, wanted, system, pattern in CANVAS_WANTED:
        path = root / "canvas_sdk" / "value_set" / rel
        current: dict[str, str] = {}
        block = None
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.match(r"class \w+\(ValueSet\)", line):
                current, block = {}, None
            for key in ("VALUE_SET_NAME", "OID", "EXPANSION_VERSION"):
                m = re.match(rf'\s+{key} = "(.*)"', line)
                if m:
                    current[key] = m.group(1)
            m = re.match(r"\s+([A-Z0-9_]+) = \{", line)
            if m:
                block = m.group(1)
            m = re.match(r'\s+"([^"]+)",\s+#\s?(.*)$', line)
            if m and block == system and current.get("VALUE_SET_NAME") == wanted:
                if pattern is None or pattern.search(m.group(2)):
                    rows.append([m.group(1), m.group(2), number])
                    oid, version = current["OID"], current["EXPANSION_VERSION"]
        if not rows:
            raise SystemExit(f"nothing found for {rel} {wanted} {system}")
        out.append(
            {
                "file": f"canvas_sdk/value_set/{rel}",
                "name": wanted,
                "oid": oid,
                "expansion": version,
                "system": CANVAS_SYSTEMS[system],
                "filter": pattern.pattern if pattern else None,
                "codes": rows,
            }
        )
    return {
        "source": "VSAC eCQM value-set expansions as redistributed in PyPI canvas 0.261.0 (codes.md V-A)",
        "note": "Each row: code, display (the package's trailing comment), line in the file.",
        "sets": out,
    }


def _fhir(directory: Path) -> dict[str, object]:
    rows = []
    for name, code in FHIR_EXAMPLES:
        data = json.loads((directory / name).read_text(encoding="utf-8"))
        resources = [e["resource"] for e in data.get("entry", [])] if data["resourceType"] == "Bundle" else [data]
        for r in resources:
            for coding in r.get("code", {}).get("coding", []):
                if coding.get("system") == "http://loinc.org" and coding.get("code") == code:
                    rows.append({"file": name, "resource": f"{r['resourceType']}/{r['id']}", "code": code,
                                 "display": coding["display"]})
                    break
            else:
                continue
            break
        else:
            raise SystemExit(f"{code} not found in {name}")
    return {
        "source": "HL7 FHIR R4 examples, npm hl7.fhir.r4.examples 4.0.1 (HL7-published, CC0-1.0)",
        "codes": rows,
    }


def main() -> None:
    """Write the three extracts."""
    cdc, canvas, fhir = (Path(a) for a in sys.argv[1:4])
    OUT.mkdir(exist_ok=True)
    for name, data in (
        ("cdc-opioid-cds.json", _cdc(cdc)),
        ("vsac-ecqm-canvas.json", _canvas(canvas)),
        ("hl7-fhir-r4-examples.json", _fhir(fhir)),
    ):
        (OUT / name).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
