"""Regenerate tests/scenarios/*/*/expected.json: each request.json through the pipeline, the clock pinned.

Usage: python tools/regenerate_golden.py [--now 2026-11-21T09:00:00Z] [--check] [folder ...]

Uses the Deps `bme-cds evaluate` uses (service.compose.build_deps on the BME_* settings), offline (no FHIR
server). Card uuids derive from the hookInstance, so the output is deterministic. After regenerating,
READ the diff: a golden file is a clinical statement, not a snapshot to accept blindly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "tests" / "scenarios"
NOW_FILE = SCENARIOS / "NOW"


def pinned_now(text: str | None = None) -> datetime:
    """The pinned clock: --now, else the date-time in tests/scenarios/NOW."""
    raw = (text or NOW_FILE.read_text(encoding="utf-8")).strip().replace("Z", "+00:00")
    now = datetime.fromisoformat(raw)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def scenario_folders(root: Path = SCENARIOS) -> list[Path]:
    """Every folder holding a request.json, sorted."""
    return sorted(p.parent for p in root.glob("*/*/request.json"))


def service_for(hook: str) -> str:
    """The service id that answers a hook."""
    from hooks import SERVICES

    return next(s.id for s in SERVICES if s.hook == hook)


def response_for(request: dict[str, Any], deps: Any, now: datetime) -> dict[str, Any]:
    """The pipeline's response body for one request."""
    from service.cds.pipeline import evaluate

    body: dict[str, Any] = evaluate(service_for(request["hook"]), request, deps, now).body
    return body


def dump(value: Any) -> str:
    """JSON as committed: indent 2, UTF-8, trailing newline."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def regenerate(folders: Iterable[Path], now: datetime, *, check: bool = False) -> list[Path]:
    """Write (or with check=True only compare) expected.json; return the folders whose golden file changed."""
    from service.compose import build_deps
    from service.config import load_settings

    deps = build_deps(load_settings())  # as `bme-cds evaluate` builds them: offline, nothing recorded
    changed: list[Path] = []
    for folder in folders:
        request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
        text = dump(response_for(request, deps, now))
        target = folder / "expected.json"
        old = target.read_text(encoding="utf-8") if target.exists() else None
        if old != text:
            changed.append(folder)
            if not check:
                target.write_text(text, encoding="utf-8")
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--now", help="ISO date-time for the clock (default: tests/scenarios/NOW)")
    parser.add_argument("--check", action="store_true", help="only report stale golden files (exit 1)")
    parser.add_argument("folders", nargs="*", type=Path, help="scenario folders (default: all)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    folders = [f.resolve() for f in args.folders] or scenario_folders()
    changed = regenerate(folders, pinned_now(args.now), check=args.check)
    for folder in changed:
        print(f"{'stale' if args.check else 'wrote'} {folder.relative_to(ROOT)}/expected.json")
    print(f"{len(folders)} scenarios, {len(changed)} {'stale' if args.check else 'changed'}", file=sys.stderr)
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
