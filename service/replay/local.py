"""The embedded engine: an on-disk partitioning by patient, then a process pool over the partitions.

Pass 1 reads the export's chunks in parallel and appends each kept line to the partition of its patient
(crc32 of the id); pass 2 evaluates one partition per task, holding only that partition's patients. Memory is
bounded by the partition size, which is fixed, not by the population; the partition count grows instead.
"""

from __future__ import annotations

import gc
import heapq
import math
import multiprocessing
import resource
import shutil
import zlib
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from typing import Any

import orjson

from service.replay.evaluation import Evaluation
from service.replay.evaluation import ReplayPlan
from service.replay.evaluation import Result
from service.replay.evaluation import evaluate_patient
from service.replay.evaluation import preload
from service.replay.ndjson import BadLine
from service.replay.ndjson import Chunk
from service.replay.ndjson import Kept
from service.replay.ndjson import plan_chunks
from service.replay.ndjson import read_chunk

PARTITION_BYTES = 16 * 1024 * 1024  # input bytes per partition: what one task holds in memory at a time
# Each pass-1 task keeps one file open per partition it writes: stay well inside the open-file limit.
MAX_PARTITIONS = max(64, min(4096, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2 - 64))


def partition_of(patient: str, partitions: int) -> int:
    """A patient's partition: stable across processes and runs (unlike hash())."""
    return zlib.crc32(patient.encode("utf-8")) % partitions


@dataclass(frozen=True)
class _Split:
    index: int
    chunk: Chunk
    partitions: int
    work: str


def _split_chunk(task: _Split) -> int:
    """Pass 1: append the chunk's kept lines to per-partition files, its bad lines to one file; returns lines kept."""
    folder = Path(task.work) / "parts" / f"c{task.index:05d}"
    folder.mkdir(parents=True, exist_ok=True)
    handles: dict[int, IO[bytes]] = {}
    kept = 0
    with (Path(task.work) / "bad" / f"c{task.index:05d}.tsv").open("wb") as bad:
        try:
            for item in read_chunk(task.chunk):
                if isinstance(item, BadLine):
                    bad.write(_bad_record(item))
                    continue
                part = partition_of(item.patient, task.partitions)
                handle = handles.get(part)
                if handle is None:
                    handle = handles[part] = (folder / f"{part:04d}.tsv").open("wb")
                handle.write(_kept_record(item))
                kept += 1
        finally:
            for handle in handles.values():
                handle.close()
    return kept


def _kept_record(item: Kept) -> bytes:
    head = f"{item.patient}\t{item.file_index}\t{item.line}\t{int(item.is_patient)}\t".encode()
    return head + item.raw + b"\n"


def _bad_record(item: BadLine) -> bytes:
    reason = item.reason.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    return f"{item.file_index}\t{item.line}\t{reason}\n".encode()


def _read_bad(path: Path) -> Iterator[BadLine]:
    with path.open("rb") as handle:
        for line in handle:
            file_index, number, reason = line.rstrip(b"\n").decode("utf-8").split("\t", 2)
            yield BadLine(int(file_index), int(number), reason)


@dataclass(frozen=True)
class _Group:
    partition: int
    chunks: int
    work: str
    plan: ReplayPlan


def _evaluate_partition(task: _Group) -> int:
    """Pass 2: group one partition's lines by patient and evaluate each; returns the patients seen."""
    work = Path(task.work)
    patients: dict[str, list[tuple[int, int, bytes, bool]]] = {}
    for chunk in range(task.chunks):
        path = work / "parts" / f"c{chunk:05d}" / f"{task.partition:04d}.tsv"
        if not path.exists():
            continue
        with path.open("rb") as handle:
            for line in handle:
                key, file_index, number, is_patient, raw = line.rstrip(b"\n").split(b"\t", 4)
                patients.setdefault(key.decode("utf-8"), []).append(
                    (int(file_index), int(number), raw, is_patient == b"1")
                )
    seen = len(patients)
    bad: list[BadLine] = []
    with (work / "rows" / f"{task.partition:04d}.jsonl").open("wb") as out:
        for patient in sorted(patients):
            rows, problems = evaluate_patient(task.plan, patient, patients.pop(patient))
            bad.extend(problems)
            for row in rows:
                out.write(orjson.dumps(_encode(row)) + b"\n")
    bad.sort(key=lambda b: (b.file_index, b.line))
    with (work / "bad" / f"p{task.partition:04d}.tsv").open("wb") as handle:
        handle.writelines(_bad_record(b) for b in bad)
    return seen


def _encode(row: Evaluation) -> list[Any]:
    compare = row.compare
    other = None if compare is None else [list(compare.rules), compare.cards, compare.suggestions]
    return [row.patient, row.date, list(row.result.rules), row.result.cards, row.result.suggestions, other]


def _decode(values: list[Any]) -> Evaluation:
    other = values[5]
    compare = None if other is None else Result(tuple(other[0]), other[1], other[2])
    return Evaluation(values[0], values[1], Result(tuple(values[2]), values[3], values[4]), compare)


def _read_rows(path: Path) -> Iterator[Evaluation]:
    with path.open("rb") as handle:
        for line in handle:
            yield _decode(orjson.loads(line))


def _map(workers: int, function: Any, tasks: Sequence[Any]) -> list[Any]:
    """Run tasks on a pool of `workers` processes (in this process for one worker)."""
    if workers <= 1:
        return [function(task) for task in tasks]
    # Children forked from a large heap (pipeline, value sets): keep the cyclic GC off those inherited objects, so
    # collections neither walk them nor copy their pages (copy-on-write) in every worker.
    gc.collect()
    gc.freeze()
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, maxtasksperchild=None) as pool:
        return list(pool.imap_unordered(function, tasks, chunksize=1))


def run(
    plan: ReplayPlan, files: Sequence[Path], work: Path, workers: int
) -> tuple[Iterable[Evaluation], Iterable[BadLine]]:
    """Replay the export into `work`; returns the sorted streams of evaluations and bad lines (read lazily)."""
    shutil.rmtree(work, ignore_errors=True)
    for sub in ("parts", "bad", "rows"):
        (work / sub).mkdir(parents=True)
    # Value sets and policies loaded here are inherited by the forked workers instead of loaded in each.
    preload(plan)
    chunks = plan_chunks(list(files))
    total = sum(p.stat().st_size for p in files)
    partitions = min(MAX_PARTITIONS, max(4 * workers, math.ceil(total / PARTITION_BYTES)))
    _map(workers, _split_chunk, [_Split(i, c, partitions, str(work)) for i, c in enumerate(chunks)])
    _map(workers, _evaluate_partition, [_Group(p, len(chunks), str(work), plan) for p in range(partitions)])
    row_files = sorted((work / "rows").glob("*.jsonl"))
    bad_files = sorted((work / "bad").glob("*.tsv"))
    rows = heapq.merge(*(_read_rows(p) for p in row_files), key=lambda r: (r.patient, r.date))
    bad = heapq.merge(*(_read_bad(p) for p in bad_files), key=lambda b: (b.file_index, b.line))
    return rows, bad
