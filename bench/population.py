"""A synthetic Bulk FHIR export for replay tests and benchmarks: `python -m bench.population N OUT_DIR`.

Each patient is a copy of one of the five Synthea records in tests/data/synthea, of one of the patient-view
scenario patients in tests/scenarios (the BME cases the rules are about), or of both at once (a BME episode on
top of a Synthea history). Every copy gets fresh resource ids (references rewritten to match) and its dates
shifted so its newest datum falls in the 120 days (scenario) or the year (Synthea) before the anchor date, the
scenarios' pinned clock by default. Output: one NDJSON file per resource type, split every --per-file lines
(`Observation.000.ndjson`, ...), as a Bulk Data `$export` writes them; --gzip compresses them.
"""

from __future__ import annotations

import argparse
import gzip
import random
import re
import uuid
from collections.abc import Iterator
from datetime import date
from datetime import timedelta
from pathlib import Path
from typing import IO
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
SYNTHEA = ROOT / "tests" / "data" / "synthea"
SCENARIOS = ROOT / "tests" / "scenarios"
ANCHOR = (SCENARIOS / "NOW").read_text(encoding="utf-8").strip()[:10]
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})((?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)")

Resource = dict[str, Any]


def _bundle_resources(bundle: Any) -> list[Resource]:
    entries = bundle.get("entry", [])
    return [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]


def synthea_templates() -> list[list[Resource]]:
    """The Synthea records, every resource of each (a full export holds every type)."""
    return [_bundle_resources(orjson.loads(p.read_bytes())) for p in sorted(SYNTHEA.glob("*.json"))]


def scenario_templates() -> list[list[Resource]]:
    """The patient-view scenario patients: each request's prefetched resources."""
    out = []
    for path in sorted(SCENARIOS.glob("*/*/request.json")):
        request = orjson.loads(path.read_bytes())
        if request.get("hook") != "patient-view":
            continue
        resources: list[Resource] = []
        for value in request.get("prefetch", {}).values():
            if isinstance(value, dict) and value.get("resourceType") == "Bundle":
                resources += _bundle_resources(value)
            elif isinstance(value, dict):
                resources.append(value)
        out.append(resources)
    return out


def _dates(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _dates(item)
    elif isinstance(value, list):
        for item in value:
            yield from _dates(item)
    elif isinstance(value, str) and _DATE.fullmatch(value):
        yield value[:10]


def newest_date(resources: list[Resource]) -> date:
    """The newest full date in the resources (birth dates included: they are never the newest)."""
    return date.fromisoformat(max(d for r in resources for d in _dates(r)))


def _rewrite(value: Any, days: int, ids: dict[str, str]) -> Any:
    """A copy with every full date moved by `days` and every reference to a renamed resource renamed."""
    if isinstance(value, dict):
        out = {k: _rewrite(v, days, ids) for k, v in value.items()}
        ref = out.get("reference")
        if isinstance(ref, str):
            target = ref[len("urn:uuid:"):] if ref.startswith("urn:uuid:") else ref.split("/")[-1]
            if target in ids:
                out["reference"] = ids[target]
        return out
    if isinstance(value, list):
        return [_rewrite(v, days, ids) for v in value]
    if isinstance(value, str) and days:
        match = _DATE.fullmatch(value)
        if match:
            return (date.fromisoformat(match.group(1)) + timedelta(days=days)).isoformat() + match.group(2)
    return value


def _copy(resources: list[Resource], days: int, rng: random.Random, patient: str) -> list[Resource]:
    """Fresh ids for every resource (the Patient gets `patient`), references and dates rewritten."""
    ids: dict[str, str] = {}
    fresh: dict[int, str] = {}
    for index, resource in enumerate(resources):
        kind = resource["resourceType"]
        new = patient if kind == "Patient" else str(uuid.UUID(int=rng.getrandbits(128), version=4))
        fresh[index] = new
        if "id" in resource:
            ids[str(resource["id"])] = f"{kind}/{new}"
    out = []
    for index, resource in enumerate(resources):
        copy = _rewrite(resource, days, ids)
        copy["id"] = fresh[index]
        for element in ("subject", "patient"):
            if isinstance(copy.get(element), dict) and str(copy[element].get("reference", "")).startswith("Patient/"):
                copy[element] = {"reference": f"Patient/{patient}"}
        out.append(copy)
    return out


class Population:
    """The templates with their newest dates, drawn from by patient number."""

    def __init__(self, anchor: str = ANCHOR, seed: int = 15) -> None:
        self.anchor = date.fromisoformat(anchor)
        self.seed = seed
        self.synthea = [(t, newest_date(t)) for t in synthea_templates()]
        self.scenarios = [(t, newest_date(t)) for t in scenario_templates()]

    def patient(self, number: int) -> list[Resource]:
        """Patient `number`'s resources (the same for the same number, seed and anchor)."""
        rng = random.Random(f"{self.seed}/{number}")
        patient = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        draw = rng.random()
        out: list[Resource] = []
        if draw < 0.6:  # scenario alone (0-0.3) or on a Synthea history (0.3-0.6)
            template, newest = rng.choice(self.scenarios)
            days = (self.anchor - timedelta(days=rng.randrange(0, 120)) - newest).days
            out += _copy(template, days, rng, patient)
        if draw >= 0.3:
            template, newest = rng.choice(self.synthea)
            days = (self.anchor - timedelta(days=rng.randrange(0, 365)) - newest).days
            history = _copy(template, days, rng, patient)
            if out:  # the scenario's Patient (age, sex as the scenario needs) stands; drop Synthea's
                history = [r for r in history if r["resourceType"] != "Patient"]
            out += history
        return out


class _Writer:
    """One NDJSON file per resource type, a new file every `per_file` lines."""

    def __init__(self, out_dir: Path, per_file: int, compress: bool) -> None:
        self.out_dir, self.per_file, self.compress = out_dir, per_file, compress
        self.files: dict[str, tuple[IO[bytes], int, int]] = {}  # type -> (handle, file number, lines in it)

    def write(self, resource: Resource) -> None:
        kind = resource["resourceType"]
        handle, number, lines = self.files.get(kind, (None, -1, self.per_file))
        if lines >= self.per_file:
            if handle is not None:
                handle.close()
            number += 1
            name = f"{kind}.{number:03d}.ndjson" + (".gz" if self.compress else "")
            path = self.out_dir / name
            handle = gzip.open(path, "wb") if self.compress else path.open("wb")
            lines = 0
        assert handle is not None
        handle.write(orjson.dumps(resource) + b"\n")
        self.files[kind] = (handle, number, lines + 1)

    def close(self) -> None:
        for handle, _, _ in self.files.values():
            handle.close()


def write_population(
    count: int, out_dir: Path, *, per_file: int = 100_000, compress: bool = False, anchor: str = ANCHOR,
    seed: int = 15, types: frozenset[str] | None = None,
) -> Population:
    """Write `count` patients as a Bulk FHIR export into `out_dir`; `types` restricts it as `_type=` does."""
    out_dir.mkdir(parents=True, exist_ok=True)
    population = Population(anchor, seed)
    writer = _Writer(out_dir, per_file, compress)
    try:
        for number in range(count):
            for resource in population.patient(number):
                if types is None or resource["resourceType"] in types:
                    writer.write(resource)
    finally:
        writer.close()
    return population


def main(argv: list[str] | None = None) -> int:
    """Command line: python -m bench.population N OUT_DIR [--gzip] [--per-file L] [--types A,B] [--seed S]."""
    parser = argparse.ArgumentParser(prog="python -m bench.population", description=__doc__.split("\n")[0])
    parser.add_argument("count", type=int, metavar="N")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    parser.add_argument("--gzip", action="store_true", help="write .ndjson.gz files")
    parser.add_argument("--per-file", type=int, default=100_000, help="lines per file before a new one")
    parser.add_argument("--types", help="comma-separated resource types to write (like $export's _type)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--anchor", default=ANCHOR, help="newest data fall before this date (YYYY-MM-DD)")
    args = parser.parse_args(argv)
    types = frozenset(args.types.split(",")) if args.types else None
    write_population(args.count, args.out_dir, per_file=args.per_file, compress=args.gzip, anchor=args.anchor,
                     seed=args.seed, types=types)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
