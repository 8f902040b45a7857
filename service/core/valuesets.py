"""Value-set index: loads `valuesets/*.json` (FHIR R4 ValueSets) once and answers code membership fast.

Owns every read of the value-set files; no other module opens them. Pure: imports neither flask nor
requests, keeps no module state; the app builds one `ValueSetIndex` at start-up and passes it in.

File conventions (written by `tools/build_valuesets.py`; the loader refuses anything else):

- File `valuesets/<name>.json` holds one ValueSet whose `id` is `<name>` and whose `name` is
  `computable_name(<name>)` (FHIR vsd-0: a computable identifier, e.g. `BmeRxNsaid`).
- `expansion.contains` is the complete, flat list of member codes. ICD-10-CM prefix rows are expanded
  offline with `simple_icd_10_cm.get_descendants()`, so the expansion alone answers most lookups.
- `compose.include[].concept[]` lists the codes that codes.md names one by one.
- `compose.include[].filter[]` with `property=concept`, `op=is-a`, system ICD-10-CM, records a codes.md
  row marked "prefix". At run time `is-a` is answered by *prefix matching* on the normalised code
  (upper-case, dots removed): every ICD-10-CM descendant starts with its ancestor's code, so this also
  admits codes newer than the committed expansion. Prefix matching is only defined for ICD-10-CM.
- `compose.exclude[]` (concept or the same is-a filter) removes codes; an exclusion always wins.
- Every member carries its verification evidence (codes.md level V-A or V-B and the source) as an
  extension `EVIDENCE_EXTENSION_URL` with `valueString`, on each `expansion.contains` entry, each
  `compose.include.concept` entry and each prefix filter. A member without evidence is refused.

Matching: ICD-10-CM codes are normalised (`M80.08XA` == `m8008xa`); every other system is exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Final

from service.core.vocabulary import CPT
from service.core.vocabulary import DCM
from service.core.vocabulary import ICD10CM
from service.core.vocabulary import LOINC
from service.core.vocabulary import RXNORM
from service.core.vocabulary import SNOMED
from service.core.vocabulary import UCUM

# Code systems (codes.md §0.2)
KNOWN_SYSTEMS: Final = frozenset({SNOMED, ICD10CM, LOINC, RXNORM, CPT, DCM, UCUM})

EVIDENCE_EXTENSION_URL: Final = "https://bme-cds.example.org/fhir/StructureDefinition/evidence"
VALUESET_URL_BASE: Final = "https://bme-cds.example.org/fhir/ValueSet/"

_EMPTY: Final[frozenset[str]] = frozenset()


class VS:
    """Value-set names (file stem and ValueSet.id); code against these, not strings."""

    # Conditions
    VERTEBRAL_FRACTURE: Final = "vertebral-fracture"
    VERTEBRAL_FRACTURE_UNSTABLE: Final = "vertebral-fracture-unstable"
    FRACTURE_NEEDS_SPINE_SITE: Final = "fracture-needs-spine-site"
    PATHOLOGIC_FRACTURE_NEOPLASTIC: Final = "pathologic-fracture-neoplastic"
    OSTEOPOROSIS: Final = "osteoporosis"
    TRANSIENT_OSTEOPOROSIS: Final = "transient-osteoporosis"
    BME_PROXY: Final = "bme-proxy"
    OSTEONECROSIS: Final = "osteonecrosis"
    RHEUMATOID_ARTHRITIS: Final = "rheumatoid-arthritis"
    AXIAL_SPONDYLOARTHRITIS: Final = "axial-spondyloarthritis"
    PSORIATIC_ARTHRITIS: Final = "psoriatic-arthritis"
    CNO: Final = "cno"
    MULTIPLE_MYELOMA: Final = "multiple-myeloma"
    BONE_METASTASIS: Final = "bone-metastasis"
    MALIGNANCY: Final = "malignancy"
    MALIGNANCY_HISTORY: Final = "malignancy-history"
    CHARCOT: Final = "charcot"
    DIABETES: Final = "diabetes"
    OSTEOMYELITIS: Final = "osteomyelitis"
    FOOT_ULCER_INFECTION: Final = "foot-ulcer-infection"
    NEURO_DEFICIT: Final = "neuro-deficit"
    CORD_COMPRESSION: Final = "cord-compression"
    CKD_4_5: Final = "ckd-4-5"
    CKD_STAGE_UNSPECIFIED: Final = "ckd-stage-unspecified"
    GI_BLEED_ULCER: Final = "gi-bleed-ulcer"
    GI_BLEED_ACTIVE: Final = "gi-bleed-active"
    HEART_FAILURE: Final = "heart-failure"
    PREGNANCY: Final = "pregnancy"
    GESTATION_WEEKS: Final = "gestation-weeks"
    ONJ: Final = "onj"
    DENTAL_DISEASE: Final = "dental-disease"
    HYPOCALCEMIA: Final = "hypocalcemia"
    VITAMIN_D_DEFICIENCY: Final = "vitamin-d-deficiency"
    WEIGHT_LOSS: Final = "weight-loss"
    FEVER: Final = "fever"
    IMPAIRED_MOBILITY: Final = "impaired-mobility"
    BED_CONFINEMENT: Final = "bed-confinement"
    BONE_PAIN: Final = "bone-pain"
    LONG_TERM_ANTICOAGULANT: Final = "long-term-anticoagulant"
    LONG_TERM_ANTIPLATELET: Final = "long-term-antiplatelet"
    LONG_TERM_NSAID: Final = "long-term-nsaid"
    LONG_TERM_GLUCOCORTICOID: Final = "long-term-glucocorticoid"
    LONG_TERM_BISPHOSPHONATE: Final = "long-term-bisphosphonate"
    LONG_TERM_OPIOID: Final = "long-term-opioid"
    LONG_TERM_BIOLOGIC: Final = "long-term-biologic"
    LATENT_TUBERCULOSIS: Final = "latent-tuberculosis"
    ACTIVE_TUBERCULOSIS: Final = "active-tuberculosis"
    PUERPERIUM: Final = "puerperium"
    DIALYSIS: Final = "dialysis"
    OSTEOARTHRITIS: Final = "osteoarthritis"
    CRPS: Final = "crps"
    # Labs and observations (LOINC)
    LAB_EGFR: Final = "lab-egfr"
    LAB_CREATININE: Final = "lab-creatinine"
    LAB_CALCIUM: Final = "lab-calcium"
    LAB_CALCIUM_IONIZED: Final = "lab-calcium-ionized"
    LAB_ALBUMIN: Final = "lab-albumin"
    LAB_VITAMIN_D: Final = "lab-vitamin-d"
    OBS_PAIN_NRS: Final = "obs-pain-nrs"
    OBS_BODY_TEMPERATURE: Final = "obs-body-temperature"
    # Imaging
    IMAGING_MRI: Final = "imaging-mri"
    IMAGING_CT: Final = "imaging-ct"
    IMAGING_NM_BONE: Final = "imaging-nm-bone"
    IMAGING_WBC_SCAN: Final = "imaging-wbc-scan"
    IMAGING_REGION_SPINE: Final = "imaging-region-spine"
    IMAGING_REGION_LUMBAR_SPINE: Final = "imaging-region-lumbar-spine"
    IMAGING_REGION_THORACIC_SPINE: Final = "imaging-region-thoracic-spine"
    IMAGING_REGION_CERVICAL_SPINE: Final = "imaging-region-cervical-spine"
    IMAGING_REGION_WHOLE_SPINE: Final = "imaging-region-whole-spine"
    IMAGING_REGION_SACROILIAC: Final = "imaging-region-sacroiliac"
    IMAGING_REGION_HIP: Final = "imaging-region-hip"
    IMAGING_REGION_KNEE: Final = "imaging-region-knee"
    IMAGING_REGION_FOOT_ANKLE: Final = "imaging-region-foot-ankle"
    MODALITY_MR: Final = "modality-mr"
    MODALITY_CT: Final = "modality-ct"
    MODALITY_NM: Final = "modality-nm"
    MODALITY_XR: Final = "modality-xr"
    MODALITY_PT: Final = "modality-pt"
    MODALITY_BMD: Final = "modality-bmd"
    # Drugs (RxNorm ingredients)
    RX_NSAID: Final = "rx-nsaid"
    RX_INDOMETHACIN: Final = "rx-indomethacin"
    RX_IV_BISPHOSPHONATE: Final = "rx-iv-bisphosphonate"
    RX_ZOLEDRONIC_ACID: Final = "rx-zoledronic-acid"
    RX_PAMIDRONATE: Final = "rx-pamidronate"
    RX_BISPHOSPHONATE: Final = "rx-bisphosphonate"
    RX_DENOSUMAB: Final = "rx-denosumab"
    RX_TNFI: Final = "rx-tnfi"
    RX_OPIOID: Final = "rx-opioid"
    RX_OPIOID_PARENTERAL: Final = "rx-opioid-parenteral"
    RX_BENZODIAZEPINE: Final = "rx-benzodiazepine"
    RX_CNS_DEPRESSANT: Final = "rx-cns-depressant"
    RX_CONVENTIONAL_DMARD: Final = "rx-conventional-dmard"
    RX_SYSTEMIC_GLUCOCORTICOID: Final = "rx-systemic-glucocorticoid"
    RX_DEXAMETHASONE: Final = "rx-dexamethasone"
    RX_ANTICOAGULANT: Final = "rx-anticoagulant"
    RX_ILOPROST: Final = "rx-iloprost"
    RX_OSTEOPOROSIS_THERAPY: Final = "rx-osteoporosis-therapy"
    # Procedures
    PROC_VERTEBRAL_AUGMENTATION: Final = "proc-vertebral-augmentation"
    PROC_MRI: Final = "proc-mri"

    @classmethod
    def all(cls) -> frozenset[str]:
        """Every value-set name defined above."""
        return frozenset(v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str))


def computable_name(stem: str) -> str:
    """ValueSet.name for a file stem: `Bme` + PascalCase, an identifier (FHIR vsd-0): `rx-nsaid` -> `BmeRxNsaid`."""
    return "Bme" + "".join(part[:1].upper() + part[1:] for part in stem.split("-"))


class ValueSetError(Exception):
    """A value-set file is unusable (the app must refuse to start), or an unknown value set was asked for."""


@dataclass(frozen=True)
class Concept:
    """One member of a value set: the code as written in the file, its display and its evidence."""

    system: str
    code: str
    display: str | None
    evidence: str


def normalise_icd10cm(code: str) -> str:
    """ICD-10-CM code in comparison form: trimmed, upper-case, without dots (`m80.08xa` -> `M8008XA`)."""
    return code.strip().upper().replace(".", "")


def _key(system: str, code: str) -> str:
    # ICD-10-CM is compared dot- and case-insensitively (codes.md §0.3); every other system exactly.
    return normalise_icd10cm(code) if system == ICD10CM else code


@dataclass(frozen=True)
class _Set:
    """One loaded value set, in lookup form."""

    name: str
    title: str
    concepts: Mapping[tuple[str, str], Concept]  # (system, key) -> member, expansion order
    prefixes: Mapping[str, str]  # normalised ICD-10-CM prefix -> evidence
    excluded: frozenset[str]  # normalised ICD-10-CM codes (and codes of other systems as "system|code")
    excluded_prefixes: frozenset[str]  # normalised ICD-10-CM prefixes

    def is_excluded(self, system: str, key: str) -> bool:
        """True if the code is removed by compose.exclude."""
        if system != ICD10CM:
            return f"{system}|{key}" in self.excluded
        if key in self.excluded:
            return True
        return any(key[:i] in self.excluded_prefixes for i in range(1, len(key) + 1))

    def prefix_evidence(self, key: str) -> str | None:
        """Evidence of the longest prefix row that admits this normalised ICD-10-CM code."""
        for i in range(len(key), 0, -1):
            evidence = self.prefixes.get(key[:i])
            if evidence is not None:
                return evidence
        return None


class ValueSetIndex:
    """All value sets, loaded once; membership, display, evidence and reverse lookups."""

    __slots__ = ("_sets", "_exact", "_prefix", "_max_prefix", "_with_exclusions")

    def __init__(self, sets: Mapping[str, _Set]) -> None:
        """Build the reverse indexes; use `load` or `from_resources` rather than calling this directly."""
        self._sets: dict[str, _Set] = dict(sets)
        exact: dict[tuple[str, str], set[str]] = {}
        prefix: dict[str, set[str]] = {}
        for vs in self._sets.values():
            for system, key in vs.concepts:
                exact.setdefault((system, key), set()).add(vs.name)
            for p in vs.prefixes:
                prefix.setdefault(p, set()).add(vs.name)
        self._exact: dict[tuple[str, str], frozenset[str]] = {k: frozenset(v) for k, v in exact.items()}
        self._prefix: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in prefix.items()}
        self._max_prefix: int = max((len(p) for p in self._prefix), default=0)
        self._with_exclusions: frozenset[str] = frozenset(
            vs.name for vs in self._sets.values() if vs.excluded or vs.excluded_prefixes
        )

    @classmethod
    def load(cls, directory: Path) -> ValueSetIndex:
        """Read and check every `*.json` in `directory`; raise ValueSetError naming the bad file."""
        if not directory.is_dir():
            raise ValueSetError(f"{directory}: value-set directory not found")
        paths = sorted(directory.glob("*.json"))
        if not paths:
            raise ValueSetError(f"{directory}: no *.json value sets found")
        resources: dict[str, Any] = {}
        for path in paths:
            try:
                resources[path.stem] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ValueSetError(f"{path.name}: cannot read JSON: {exc}") from exc
        return cls.from_resources(resources, origin={p.stem: p.name for p in paths})

    @classmethod
    def from_resources(
        cls, resources: Mapping[str, Any], origin: Mapping[str, str] | None = None
    ) -> ValueSetIndex:
        """Build from parsed ValueSet dicts keyed by expected name (tests, or `load`)."""
        sets: dict[str, _Set] = {}
        for name, resource in resources.items():
            label = (origin or {}).get(name, f"{name}.json")
            sets[name] = _parse(name, resource, label)
        return cls(sets)

    # -- queries (hot path: called for every coding of every prefetched resource) --

    def names(self) -> frozenset[str]:
        """Names of all loaded value sets."""
        return frozenset(self._sets)

    def contains(self, name: str, system: str, code: str) -> bool:
        """True if (system, code) is a member of value set `name`; ICD-10-CM is dot/case-insensitive."""
        vs = self._get(name)
        if not isinstance(system, str) or not isinstance(code, str) or not code:
            return False
        key = _key(system, code)
        if vs.is_excluded(system, key):
            return False
        if (system, key) in vs.concepts:
            return True
        return system == ICD10CM and vs.prefix_evidence(key) is not None

    def match(self, name: str, codings: Iterable[object]) -> Mapping[str, Any] | None:
        """The first FHIR Coding dict in `codings` that is in value set `name`; junk items are skipped."""
        self._get(name)
        if codings is None or isinstance(codings, (str, bytes, Mapping)):
            return None
        for coding in codings:
            if not isinstance(coding, Mapping):
                continue
            system = coding.get("system")
            code = coding.get("code")
            if isinstance(system, str) and isinstance(code, str) and self.contains(name, system, code):
                return coding
        return None

    def names_for(self, system: str, code: str) -> frozenset[str]:
        """Every value set that (system, code) belongs to; one call classifies a coding for all sets."""
        if not isinstance(system, str) or not isinstance(code, str) or not code:
            return _EMPTY
        key = _key(system, code)
        hits = self._exact.get((system, key), _EMPTY)
        if system != ICD10CM:
            return hits
        found = set(hits)
        for i in range(1, min(len(key), self._max_prefix) + 1):
            more = self._prefix.get(key[:i])
            if more:
                found |= more
        if not found:
            return _EMPTY
        if found.isdisjoint(self._with_exclusions):
            return frozenset(found)
        # Exclusions are rare (a couple of sets); check them only on the sets that matched.
        return frozenset(n for n in found if not self._sets[n].is_excluded(system, key))

    def display(self, name: str, system: str, code: str) -> str | None:
        """Display recorded for this member, or None (not a member, or admitted only by a prefix row)."""
        concept = self.concept(name, system, code)
        return concept.display if concept is not None else None

    def evidence(self, name: str, system: str, code: str) -> str | None:
        """Why this code is in the set (codes.md level and source), or None if it is not a member."""
        if not self.contains(name, system, code):
            return None
        vs = self._sets[name]
        key = _key(system, code)
        concept = vs.concepts.get((system, key))
        if concept is not None:
            return concept.evidence
        return vs.prefix_evidence(key)

    def concept(self, name: str, system: str, code: str) -> Concept | None:
        """The listed member for (system, code), or None."""
        vs = self._get(name)
        if not isinstance(system, str) or not isinstance(code, str):
            return None
        key = _key(system, code)
        if vs.is_excluded(system, key):
            return None
        return vs.concepts.get((system, key))

    def concepts(self, name: str) -> tuple[Concept, ...]:
        """Every listed member of value set `name`, in file (expansion) order."""
        return tuple(self._get(name).concepts.values())

    def title(self, name: str) -> str:
        """Human-readable title of value set `name`."""
        return self._get(name).title

    def _get(self, name: str) -> _Set:
        vs = self._sets.get(name)
        if vs is None:
            # A misspelt set name is a programming error; failing loudly beats silently matching nothing.
            raise ValueSetError(f"unknown value set {name!r}")
        return vs


# -- parsing and structural checks (start-up only) --


def _fail(label: str, problem: str) -> ValueSetError:
    return ValueSetError(f"{label}: {problem}")


def _evidence_of(entry: Mapping[str, Any]) -> str | None:
    extensions = entry.get("extension")
    if not isinstance(extensions, list):
        return None
    for ext in extensions:
        if isinstance(ext, Mapping) and ext.get("url") == EVIDENCE_EXTENSION_URL:
            value = ext.get("valueString")
            if isinstance(value, str) and value.strip():
                return value
    return None


def _system_of(entry: Mapping[str, Any], label: str, where: str) -> str:
    system = entry.get("system")
    if not isinstance(system, str) or not system:
        raise _fail(label, f"{where}: missing system")
    if system not in KNOWN_SYSTEMS:
        raise _fail(label, f"{where}: unknown system {system!r}")
    return system


def _code_of(entry: Mapping[str, Any], label: str, where: str) -> str:
    code = entry.get("code")
    if not isinstance(code, str) or not code.strip():
        raise _fail(label, f"{where}: missing code")
    return code


def _list_of(value: object, label: str, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(label, f"{where} must be a list")
    return value


def _walk_contains(entries: list[Any], label: str, where: str) -> Iterator[tuple[Mapping[str, Any], str]]:
    for i, entry in enumerate(entries):
        here = f"{where}[{i}]"
        if not isinstance(entry, Mapping):
            raise _fail(label, f"{here} is not an object")
        nested = _list_of(entry.get("contains"), label, f"{here}.contains")
        # Abstract entries only group others (FHIR ValueSet.expansion.contains.abstract); not members.
        if entry.get("abstract") is not True:
            yield entry, here
        yield from _walk_contains(nested, label, f"{here}.contains")


def _prefix_filter(flt: object, system: str, label: str, where: str) -> str:
    if not isinstance(flt, Mapping):
        raise _fail(label, f"{where} is not an object")
    if flt.get("property") != "concept" or flt.get("op") != "is-a":
        raise _fail(label, f"{where}: only property=concept op=is-a filters are supported")
    if system != ICD10CM:
        raise _fail(label, f"{where}: is-a (prefix) filters are only supported for ICD-10-CM")
    value = flt.get("value")
    if not isinstance(value, str) or not normalise_icd10cm(value):
        raise _fail(label, f"{where}: filter value missing")
    return normalise_icd10cm(value)


def _parse(name: str, resource: object, label: str) -> _Set:
    if not isinstance(resource, Mapping):
        raise _fail(label, "top level is not a JSON object")
    if resource.get("resourceType") != "ValueSet":
        raise _fail(label, f"resourceType is {resource.get('resourceType')!r}, expected 'ValueSet'")
    if resource.get("name") != computable_name(name):
        raise _fail(label, f"name {resource.get('name')!r} is not {computable_name(name)!r} (file {name!r})")
    if resource.get("id") != name:
        raise _fail(label, f"id {resource.get('id')!r} does not match file name {name!r}")
    title = resource.get("title")
    title = title if isinstance(title, str) and title else name

    compose = resource.get("compose")
    if not isinstance(compose, Mapping):
        raise _fail(label, "compose missing")
    listed: set[tuple[str, str]] = set()
    prefixes: dict[str, str] = {}
    for i, include in enumerate(_list_of(compose.get("include"), label, "compose.include")):
        where = f"compose.include[{i}]"
        if not isinstance(include, Mapping):
            raise _fail(label, f"{where} is not an object")
        system = _system_of(include, label, where)
        for j, concept in enumerate(_list_of(include.get("concept"), label, f"{where}.concept")):
            cwhere = f"{where}.concept[{j}]"
            if not isinstance(concept, Mapping):
                raise _fail(label, f"{cwhere} is not an object")
            code = _code_of(concept, label, cwhere)
            if _evidence_of(concept) is None:
                raise _fail(label, f"{cwhere} ({code}): no evidence extension")
            listed.add((system, _key(system, code)))
        for j, flt in enumerate(_list_of(include.get("filter"), label, f"{where}.filter")):
            fwhere = f"{where}.filter[{j}]"
            prefix = _prefix_filter(flt, system, label, fwhere)
            evidence = _evidence_of(flt) if isinstance(flt, Mapping) else None
            if evidence is None:
                raise _fail(label, f"{fwhere} ({prefix}): no evidence extension")
            prefixes[prefix] = evidence
    if not listed and not prefixes:
        raise _fail(label, "compose.include lists no codes")

    excluded: set[str] = set()
    excluded_prefixes: set[str] = set()
    for i, exclude in enumerate(_list_of(compose.get("exclude"), label, "compose.exclude")):
        where = f"compose.exclude[{i}]"
        if not isinstance(exclude, Mapping):
            raise _fail(label, f"{where} is not an object")
        system = _system_of(exclude, label, where)
        for j, concept in enumerate(_list_of(exclude.get("concept"), label, f"{where}.concept")):
            if not isinstance(concept, Mapping):
                raise _fail(label, f"{where}.concept[{j}] is not an object")
            key = _key(system, _code_of(concept, label, f"{where}.concept[{j}]"))
            excluded.add(key if system == ICD10CM else f"{system}|{key}")
        for j, flt in enumerate(_list_of(exclude.get("filter"), label, f"{where}.filter")):
            excluded_prefixes.add(_prefix_filter(flt, system, label, f"{where}.filter[{j}]"))

    expansion = resource.get("expansion")
    if not isinstance(expansion, Mapping):
        raise _fail(label, "expansion missing")
    entries = _list_of(expansion.get("contains"), label, "expansion.contains")
    if not entries:
        raise _fail(label, "expansion.contains is empty")
    probe = _Set(name, title, {}, prefixes, frozenset(excluded), frozenset(excluded_prefixes))
    concepts: dict[tuple[str, str], Concept] = {}
    for entry, where in _walk_contains(entries, label, "expansion.contains"):
        system = _system_of(entry, label, where)
        code = _code_of(entry, label, where)
        evidence = _evidence_of(entry)
        if evidence is None:
            raise _fail(label, f"{where} ({code}): no evidence extension")
        key = _key(system, code)
        if probe.is_excluded(system, key):
            raise _fail(label, f"{where} ({code}): listed in the expansion but excluded by compose")
        if (system, key) not in listed and not (system == ICD10CM and probe.prefix_evidence(key)):
            raise _fail(label, f"{where} ({code}): in the expansion but not in compose")
        if (system, key) in concepts:
            raise _fail(label, f"{where} ({code}): duplicate code")
        display = entry.get("display")
        concepts[(system, key)] = Concept(
            system, code, display if isinstance(display, str) else None, evidence
        )
    missing = sorted(f"{s}|{c}" for s, c in listed if (s, c) not in concepts)
    if missing:
        raise _fail(label, f"compose lists codes absent from the expansion: {', '.join(missing[:5])}")
    return _Set(name, title, concepts, prefixes, frozenset(excluded), frozenset(excluded_prefixes))
