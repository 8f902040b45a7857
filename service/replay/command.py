"""`bme-cds replay`: the command line of the replay (service/cli.py delegates here)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import resource
import shutil
import sys
import time
from datetime import UTC
from datetime import date
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from service.config import Settings
from valuesets import DIRECTORY as PACKAGED_VALUESETS

if TYPE_CHECKING:  # the pipeline is imported when a replay runs, not whenever the command line is built
    from service.replay.evaluation import ReplayPlan

_WINDOW = re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The replay's options, exactly as docs/replay.md documents them."""
    parser.add_argument("export_dir", metavar="EXPORT_DIR", help="Bulk FHIR export folder (*.ndjson, *.ndjson.gz)")
    parser.add_argument("--out", required=True, metavar="OUT_DIR", help="folder for the output files")
    parser.add_argument("--engine", choices=("local", "spark"), default="local")
    parser.add_argument("--as-of", metavar="YYYY-MM-DD", help="evaluate everyone once at this date (default today)")
    parser.add_argument("--encounters", metavar="FROM..TO", help="evaluate at each visit in this window")
    parser.add_argument("--policy", metavar="FILE", help="policy file (default: the service's, BME_POLICY_FILE)")
    parser.add_argument("--compare-policy", metavar="FILE", help="what-if: a second policy evaluated in the same pass")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, metavar="N",
        help="processes (local engine; default: every core)",
    )


def _day(text: str) -> str:
    return date.fromisoformat(text).isoformat()


def plan_from(args: argparse.Namespace, settings: Settings) -> ReplayPlan:
    """The plan the options describe. :raises ValueError: on a malformed date or window."""
    from service.replay.evaluation import ReplayPlan
    from service.replay.evaluation import read_policy

    if args.as_of and args.encounters:
        raise ValueError("--as-of and --encounters exclude each other")
    window = None
    if args.encounters:
        match = _WINDOW.fullmatch(args.encounters)
        if match is None:
            raise ValueError(f"--encounters must be FROM..TO as YYYY-MM-DD..YYYY-MM-DD, got {args.encounters!r}")
        window = (_day(match.group(1)), _day(match.group(2)))
        if window[0] > window[1]:
            raise ValueError(f"--encounters window ends before it starts: {args.encounters!r}")
    as_of = None if window else (_day(args.as_of) if args.as_of else datetime.now(UTC).date().isoformat())
    policy_file = Path(args.policy) if args.policy else settings.policy_file
    return ReplayPlan(
        settings=settings,
        policy=read_policy(policy_file),
        compare_policy=read_policy(Path(args.compare_policy)) if args.compare_policy else None,
        as_of=as_of,
        window=window,
        valuesets_packaged=settings.valuesets_dir.resolve() == PACKAGED_VALUESETS.resolve(),
    )


def _import_writers() -> None:
    """Import what the output writers use (pyarrow is a tenth of a second), while the local engine's workers run."""
    import pyarrow.parquet  # noqa: F401


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the replay and print a one-line summary; 2 on a usage error."""
    from service.replay.ndjson import export_files
    from service.replay.outputs import write_all

    try:
        plan = plan_from(args, settings)
    except ValueError as exc:
        print(f"bme-cds replay: {exc}", file=sys.stderr)
        return 2
    if importlib.util.find_spec("pyarrow") is None:  # the replay extra: fail before reading a large export
        print("bme-cds replay: needs pyarrow; install bme-cds[replay]", file=sys.stderr)
        return 2
    export = Path(args.export_dir)
    if not export.is_dir():
        print(f"bme-cds replay: {export} is not a folder", file=sys.stderr)
        return 2
    files = export_files(export)
    names = [p.relative_to(export).as_posix() for p in files]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".replay-work"
    started = time.perf_counter()
    if args.engine == "spark":
        try:
            import pyspark  # noqa: F401

            from service.replay.spark import run as run_spark
        except ImportError:
            print("bme-cds replay: --engine spark needs pyspark; install bme-cds[spark]", file=sys.stderr)
            return 2
        rows, bad = run_spark(plan, files)
    else:
        from service.replay.local import run as run_local

        rows, bad = run_local(plan, files, work, max(1, args.workers), meanwhile=_import_writers)
    try:
        tally, errors = write_all(out, rows, bad, names, plan)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"bme-cds replay: {tally.patients} patients, {tally.evaluations} evaluations, {errors} unusable lines, "
        f"{len(files)} files, {time.perf_counter() - started:.1f} s (CPU: this process "
        f"{own.ru_utime + own.ru_stime:.2f} s, worker processes {workers.ru_utime + workers.ru_stime:.2f} s) -> {out}",
        file=sys.stderr,
    )
    return 0
