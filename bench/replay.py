"""Replay benchmark (issue 15): `python -m bench.replay` measures the replay's targets and writes its section
of docs/benchmarks.md (between the replay markers; `python -m bench` keeps that section when it rewrites the file).

Every number is a ratio taken in one run on one machine: replay against the in-process pipeline on the same
patients, 2 workers against 1, 5x the patients against 1x, peak memory at 10x against 1x, Spark against the
embedded engine.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.data import REPO
from bench.population import ANCHOR
from bench.population import write_population
from bench.report import INFO
from bench.report import Row
from bench.report import machine
from bench.report import not_run
from bench.report import table
from bench.report import verdict

BEGIN = "<!-- replay benchmark: begin (python -m bench.replay) -->"
END = "<!-- replay benchmark: end -->"
DEFAULT_OUT = REPO / "docs" / "benchmarks.md"
PER_PATIENT_ROUNDS = 3  # the per-patient row is the median of this many interleaved rounds (odd)


def keep_section(path: Path, text: str) -> str:
    """`text` with the replay section of the file at `path` appended (when the file has one)."""
    try:
        old = path.read_text(encoding="utf-8")
    except OSError:
        return text
    if BEGIN not in old or END not in old:
        return text
    section = old[old.index(BEGIN): old.index(END) + len(END)]
    return text.rstrip("\n") + "\n\n" + section + "\n"


def _replace_section(path: Path, section: str) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{BEGIN}\n{section.rstrip()}\n{END}"
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + block + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(new, encoding="utf-8")


def _tree_rss(root: int) -> int:
    """Resident memory (bytes) of a process and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            statm = Path(f"/proc/{entry}/statm").read_text().split()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(statm[1]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total


@dataclass(frozen=True)
class Run:
    """One replay process: wall time, CPU time of its whole process tree, peak memory of that tree."""

    wall: float
    cpu: float
    peak: int
    serial_cpu: float  # CPU of the replay process itself (planning, merging, writing): what workers cannot share
    worker_cpu: float


def run_replay(export: Path, out: Path, *options: str) -> Run:
    """`bme-cds replay` as a fresh process, measured."""
    command = [sys.executable, "-m", "service.cli", "replay", str(export), "--out", str(out), "--as-of", ANCHOR,
               *options]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = process.communicate()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise RuntimeError(f"replay failed: {err.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    split = re.search(r"this process ([0-9.]+) s, worker processes ([0-9.]+) s", err.decode())
    serial, workers = (float(split.group(1)), float(split.group(2))) if split else (cpu, 0.0)
    return Run(elapsed, cpu, peak, serial, workers)


def pipeline_floor(export: Path) -> tuple[float, int]:
    """In-process pipeline CPU time for the same patients: json.loads(request) + evaluate + json.dumps, summed.

    Each patient's request is built beforehand from the export (every prefetched resource known at the as-of
    date), so only what `bme-cds evaluate` does per request is timed.
    """
    from datetime import UTC
    from datetime import datetime

    from service.config import load_settings
    from service.replay.evaluation import ReplayPlan
    from service.replay.evaluation import _deps
    from service.replay.evaluation import request_for
    from service.replay.evaluation import run_patient_view
    from service.replay.ndjson import Kept
    from service.replay.ndjson import export_files
    from service.replay.ndjson import plan_chunks
    from service.replay.ndjson import read_chunk
    from service.replay.selection import select

    settings = load_settings()
    plan = ReplayPlan(settings, None, None, ANCHOR, None, True)
    deps = _deps(plan, None)
    patients: dict[str, list[bytes]] = {}
    for chunk in plan_chunks(export_files(export)):
        for item in read_chunk(chunk, False):
            if isinstance(item, Kept):
                patients.setdefault(item.patient, []).append(item.raw)
    now = datetime.fromisoformat(f"{ANCHOR}T00:00:00+00:00").astimezone(UTC)
    texts = [orjson.dumps(request_for(p, ANCHOR, select(orjson.loads(r) for r in raws), None))
             for p, raws in patients.items()]
    del patients
    import json

    started = time.process_time()
    for text in texts:
        json.dumps(run_patient_view(deps, json.loads(text), now))
    return time.process_time() - started, len(texts)


def measure(sizes: Sequence[int], memory_sizes: Sequence[int], spark: bool, workdir: Path) -> list[Row]:
    """Every replay measurement; rows in table order."""
    rows: list[Row] = []
    exports: dict[int, Path] = {}

    def export(n: int) -> Path:
        if n not in exports:
            exports[n] = workdir / f"export-{n}"
            done = exports[n] / ".complete"  # a kept --workdir reuses a finished export (the generator is seeded)
            if not done.exists():
                print(f"bench.replay: generating {n} patients", file=sys.stderr)
                write_population(n, exports[n])
                done.touch()
        return exports[n]

    base = sizes[0]
    one = run_replay(export(base), workdir / "out", "--workers", "1")
    floor, patients = pipeline_floor(export(base))
    empty = workdir / "export-0"
    empty.mkdir(exist_ok=True)
    start_up = run_replay(empty, workdir / "out", "--workers", "1").cpu
    whole = Row("5 replay", f"CPU per patient, 1 worker, {base:,} patients, whole process (start-up included)",
                f"{one.cpu / patients * 1000:.2f} ms", f"{floor / patients * 1000:.2f} ms (pipeline)",
                f"{one.cpu / floor:.2f}x", "", INFO,
                f"not the target ({'the row above is' if len(sizes) > 1 else 'give two --sizes for it'}): CPU of "
                "the whole `bme-cds replay` process over the floor's, "
                f"with the start-up every run pays once, {start_up:.2f} s (CPU of a replay of an empty export: "
                f"interpreter, the pipeline's imports and value sets, pyarrow), {start_up / patients * 1000:.2f} ms "
                f"per patient at {base:,}; wall {one.wall:.1f} s")
    two = run_replay(export(base), workdir / "out", "--workers", "2")
    # With a larger size too, the 2-core target is judged on throughput, start-up excluded (below), as the per-patient
    # target is: at the base size the start-up both runs pay once, which no second core shortens, is a third of the
    # 1-worker run.
    judged = len(sizes) == 1
    speedup = one.wall / two.wall
    rows.append(Row("5 replay", f"2 workers vs 1, {base:,} patients (wall)", f"{two.wall:.1f} s", f"{one.wall:.1f} s",
                    f"{speedup:.2f}x faster", ">= 1.6x" if judged else "", verdict(speedup >= 1.6) if judged else INFO,
                    ("" if judged else f"shown, not judged: the start-up ({start_up:.2f} s of CPU) is "
                     f"{start_up / one.cpu:.0%} of the 1-worker run's CPU; ")
                    + f"CPU {two.cpu:.1f} s vs {one.cpu:.1f} s; load average {os.getloadavg()[0]:.1f} on "
                    f"{os.cpu_count()} cores after the runs (shared machine)"))
    runs = {base: two}
    # Linearity is judged on CPU per patient without the start-up every run pays once: with it, the larger run's
    # share of start-up is smaller, and a cost per patient growing by half would still pass.
    start_two = run_replay(empty, workdir / "out", "--workers", "2").cpu

    def linearity(small: int, large: int, run_small: Run, run_large: Run, where: str) -> Row:
        per_small, per_large = (run_small.cpu - start_two) / small, (run_large.cpu - start_two) / large
        return Row("5 replay", f"linearity {small:,} -> {large:,} patients, 2 workers (CPU per patient, start-up "
                   "excluded)", f"{per_large * 1000:.2f} ms", f"{per_small * 1000:.2f} ms",
                   f"{per_large / per_small:.2f}", "<= 1.2 (linear)", verdict(per_large / per_small <= 1.2),
                   f"{where}start-up {start_two:.2f} s of CPU (a 2-worker replay of an empty export); wall "
                   f"{run_large.wall:.1f} s for {large:,} vs {run_small.wall:.1f} s for {small:,}")

    for n in sizes[1:]:
        runs[n] = run_replay(export(n), workdir / "out", "--workers", "2")
        rows.append(linearity(base, n, runs[base], runs[n], ""))
    if len(sizes) > 1:  # the wall-time speedup again where start-up weighs less
        n = sizes[1]
        single = run_replay(export(n), workdir / "out", "--workers", "1")
        rows.append(Row("5 replay", f"2 workers vs 1, {n:,} patients (wall)", f"{runs[n].wall:.1f} s",
                        f"{single.wall:.1f} s", f"{single.wall / runs[n].wall:.2f}x faster", ">= 1.6x",
                        verdict(single.wall / runs[n].wall >= 1.6),
                        f"CPU {runs[n].cpu:.1f} s vs {single.cpu:.1f} s; load average {os.getloadavg()[0]:.1f} "
                        f"on {os.cpu_count()} cores after the runs (shared machine)"))
        # Throughput: the wall time each engine adds for the extra patients, so the start-up both pay once is out.
        added_one, added_two = single.wall - one.wall, runs[n].wall - runs[base].wall
        if added_two <= 0 or added_one <= 0:  # equal sizes, or a run disturbed beyond measuring
            rows.append(not_run("5 replay", "2 workers vs 1, throughput",
                                f"no time added from {base:,} to {n:,} patients "
                                f"({added_one:.1f} s, {added_two:.1f} s)"))
        else:
            rows.append(Row("5 replay", f"2 workers vs 1, throughput ({base:,} -> {n:,} patients, start-up excluded)",
                            f"{(n - base) / added_two:.0f} patients/s", f"{(n - base) / added_one:.0f} patients/s",
                            f"{added_one / added_two:.2f}x faster", ">= 1.6x", verdict(added_one / added_two >= 1.6),
                            f"the 2-core target: wall time added for the {n - base:,} extra patients, "
                            f"{added_two:.1f} s with 2 workers vs {added_one:.1f} s with 1"))
        # Per patient without the start-up both runs pay once: the CPU the 1-worker replay adds for the extra
        # patients over the floor's for the same extra patients. One round of the four measurements varied by up to
        # a tenth from the next on this shared machine (1.42x to 1.57x), so the row is the median of interleaved
        # rounds, each round's replay and floor measured together.
        floor_n, patients_n = pipeline_floor(export(n))
        rounds = [(single.cpu - one.cpu, floor_n - floor)]
        for _ in range(PER_PATIENT_ROUNDS - 1):
            small = run_replay(export(base), workdir / "out", "--workers", "1")
            large = run_replay(export(n), workdir / "out", "--workers", "1")
            rounds.append((large.cpu - small.cpu, pipeline_floor(export(n))[0] - pipeline_floor(export(base))[0]))
        ratios = [extra / extra_floor for extra, extra_floor in rounds]
        extra, extra_floor = sorted(rounds, key=lambda r: r[0] / r[1])[len(rounds) // 2]
        ratio = extra / extra_floor
        rows[:0] = [Row("5 replay", f"CPU per patient, 1 worker ({base:,} -> {n:,} patients, start-up excluded)",
                        f"{extra / (patients_n - patients) * 1000:.2f} ms",
                        f"{extra_floor / (patients_n - patients) * 1000:.2f} ms (pipeline)", f"{ratio:.2f}x",
                        "<= 1.5x", verdict(ratio <= 1.5),
                        f"the per-patient target, median of {len(rounds)} interleaved rounds "
                        f"({', '.join(f'{r:.2f}x' for r in ratios)}): CPU the replay adds for the "
                        f"{patients_n - patients:,} extra patients (reading every line of their export, partitioning, "
                        "the pipeline, outputs) over what the floor (json.loads + evaluate + json.dumps of each "
                        "patient's prefetch request) adds for the same patients"), whole]
    else:
        rows.insert(0, whole)
    largest = max(runs)
    last = runs[largest]
    # The machine is shared: with every core already busy, a second worker gets little more CPU, and wall time
    # cannot show the speedup. What the engine itself allows is Amdahl's bound from its serial share of CPU.
    total = last.serial_cpu + last.worker_cpu
    bound = total / (last.serial_cpu + last.worker_cpu / 2) if last.worker_cpu else 1.0
    rows.append(Row("5 replay", f"2 workers: speedup the engine allows, {largest:,} patients", f"{bound:.2f}x", "",
                    "", ">= 1.6x", verdict(bound >= 1.6),
                    f"Amdahl bound from the 2-worker run's CPU: {last.serial_cpu:.2f} s in the main process "
                    f"(start-up, which overlaps pass 1, planning, merging, writing outputs: all counted as serial, "
                    f"so the bound is low), {last.worker_cpu:.2f} s in the workers"))
    if len(memory_sizes) == 2:
        small, large = memory_sizes
        run_small = run_replay(export(small), workdir / "out", "--workers", "2")
        run_large = run_replay(export(large), workdir / "out", "--workers", "2")
        rows.append(linearity(small, large, run_small, run_large, "the memory runs below; "))
        ratio = run_large.peak / run_small.peak
        rows.append(Row("5 replay", f"peak memory {large:,} vs {small:,} patients, 2 workers",
                        f"{run_large.peak / 2**20:.0f} MB", f"{run_small.peak / 2**20:.0f} MB", f"{ratio:.2f}x",
                        "<= 1.2x", verdict(ratio <= 1.2),
                        "sum of VmRSS over the replay's process tree, sampled every 0.1 s"))
    if spark:
        local_out, spark_out = workdir / "local", workdir / "spark"
        local = run_replay(export(base), local_out, "--workers", "2")
        on_spark = run_replay(export(base), spark_out, "--engine", "spark")
        same = all((local_out / f).read_bytes() == (spark_out / f).read_bytes()
                   for f in ("patients.csv", "patients.parquet", "rules.csv", "errors.csv", "report.html"))
        rows.append(Row("5 replay", f"Spark local[2] vs embedded on 2 cores, {base:,} patients (wall)",
                        f"{on_spark.wall:.1f} s", f"{local.wall:.1f} s", f"{on_spark.wall / local.wall:.2f}x",
                        "identical outputs", verdict(same),
                        f"PySpark local mode including JVM start-up; CPU {on_spark.cpu:.1f} s vs {local.cpu:.1f} s; "
                        "outputs compared byte for byte"))
    return rows


NOTES = (
    "Population: `python -m bench.population N` (Synthea records and patient-view scenario patients with fresh "
    "ids and shifted dates; every resource type of the Synthea records, as a full `$export` holds them).",
    "Each replay is a fresh `python -m service.cli replay EXPORT --as-of ANCHOR` process; its time includes "
    "interpreter and value-set start-up. The floor of the per-patient rows is the in-process pipeline "
    "(`service.cds.pipeline.evaluate` through `service/replay/evaluation.run_patient_view`) on the very same "
    "patients' prefetch requests, built beforehand.",
    "The per-patient target is judged on the CPU per additional patient (first row): what the replay adds per "
    "patient from the smaller to the larger population, over what the floor adds for the same patients. The "
    "whole-process row divides the start-up every run pays once (measured on an empty export) by the patients of "
    "the smaller run as well; it is shown, not judged.",
    "The 2-core target is judged on throughput: the wall time each engine adds for the patients beyond the "
    "smaller population, so the start-up both runs pay once is out, as for the per-patient target. The whole-run "
    "speedups are shown too; the one at the smaller size, where that start-up is a third of the 1-worker run, is "
    "not judged.",
    "The machine is shared by other jobs: the 2-worker speedup and Spark's overhead move with their load.",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bench.replay`."""
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__)
    parser.add_argument("--sizes", default="1000,5000", help="patients: the first is the base of every ratio")
    parser.add_argument("--memory", default="2000,20000", help="two population sizes for the peak-memory ratio")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark comparison")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown file whose replay section to write")
    parser.add_argument("--workdir", type=Path, help="keep exports and outputs here (default: a temporary folder)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    memory = [int(s) for s in args.memory.split(",")] if args.memory else []
    info = machine()
    with tempfile.TemporaryDirectory(prefix="bme-replay-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            rows = measure(sizes, memory, not args.no_spark, workdir)
        finally:
            if args.workdir is None:
                shutil.rmtree(workdir, ignore_errors=True)
    command = "python -m bench.replay" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    section = "\n".join([
        "## Replay (issue 15)", "", "Command:", "", "```sh", command, "```", "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), "", table(rows), "",
        *(f"- {note}" for note in NOTES),
    ])
    print(table(rows))
    _replace_section(args.out, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
