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
import os
import re
import shutil
import zlib
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from service.replay.evaluation import Evaluation
from service.replay.evaluation import Record
from service.replay.evaluation import ReplayPlan
from service.replay.evaluation import Result
from service.replay.evaluation import evaluate_resources
from service.replay.evaluation import preload
from service.replay.ndjson import LEADING_TYPE
from service.replay.ndjson import PARSE
from service.replay.ndjson import BadLine
from service.replay.ndjson import Chunk
from service.replay.ndjson import GzipDamage
from service.replay.ndjson import classify
from service.replay.ndjson import cut_short
from service.replay.ndjson import examine
from service.replay.ndjson import leading_rule
from service.replay.ndjson import passed_over
from service.replay.ndjson import plan_chunks
from service.replay.ndjson import read_blocks
from service.replay.ndjson import routing_key
from service.replay.selection import prefetch_keys

PARTITION_BYTES = 16 * 1024 * 1024  # input bytes per partition: what one task holds in memory at a time
_HELD_BYTES = 8 * 1024 * 1024  # kept lines a pass-1 task gathers before writing them to their partitions
MAX_PARTITIONS = 4096  # pass 2's tasks: past this many, partitions grow instead
_YOUNG_OBJECTS = 10_000  # allocations between two collections of the youngest generation, see `run`


def record_key(patient: str) -> bytes:
    """A patient id as a record's key: UTF-8, with backslash and the record's separators (tab, newline) escaped.

    An id read from a line's bytes holds none of them (`routing_key`), so it is its own key; a parsed one may.
    """
    return patient.encode("utf-8").replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n")


_UNESCAPE = {b"\\": b"\\", b"t": b"\t", b"n": b"\n"}


def key_patient(key: bytes) -> str:
    """The patient id of a record's key (`record_key` undone)."""
    if b"\\" in key:
        key = re.sub(rb"\\(.)", lambda match: _UNESCAPE[match.group(1)], key)
    return key.decode("utf-8")


def partition_of(patient: bytes, partitions: int) -> int:
    """A patient's partition, by its UTF-8 id: stable across processes and runs (unlike hash())."""
    return zlib.crc32(patient) % partitions


@dataclass(frozen=True)
class _Split:
    index: int
    chunk: Chunk
    partitions: int
    work: str
    exact: bool  # parse every line here (the fallback when a routing hint proved wrong)
    visits: bool  # every Encounter is read (--encounters), see selection


@dataclass(frozen=True)
class _Segment:
    """Records of one partition in one chunk's parts file: bytes [start, start + size)."""

    partition: int
    start: int
    size: int


def _split_chunk(task: _Split) -> tuple[int, list[_Segment]]:
    """Pass 1: write the chunk's kept lines to its parts file, a segment per partition, its bad lines to another.

    Returns the chunk's line count and the segments written.

    Line numbers are relative to the chunk (the planner does not count lines: that would read the export once
    more, serially); pass 2 and the merge add each chunk's offset. A line of a kept type goes to its patient's
    partition by `routing_key`, unparsed: the worker parses it once, where it is used. Only lines the scan cannot
    route are parsed here.
    """
    chunk = task.chunk
    partitions = task.partitions
    # Records are gathered per partition and written in a few large writes to one file per chunk: a write per line
    # costs more than the line's routing, and a file per chunk and partition costs an open (and in pass 2 a failed
    # open) for each.
    pending: dict[int, list[bytes]] = {}
    segments: list[_Segment] = []
    held = 0
    lines = 0  # the number of the last line read

    def flush() -> None:
        at = parts.tell()
        for part, records in pending.items():
            data = b"".join(records)
            parts.write(data)
            segments.append(_Segment(part, at, len(data)))
            at += len(data)
        pending.clear()

    def write(key: bytes, number: int, flag: bytes, raw: bytes) -> None:
        nonlocal held
        part = partition_of(key, partitions)
        records = pending.get(part)
        if records is None:
            records = pending[part] = []
        records += (b"%s\t%d\t%s\t" % (key, number, flag), raw, b"\n")
        held += len(raw)
        if held > _HELD_BYTES:
            flush()
            held = 0

    rules: dict[bytes, tuple[str, str]] = {}  # leading resourceType -> (type, leading_rule), decided once
    with (Path(task.work) / "bad" / f"c{task.index:05d}.tsv").open("wb") as bad:
        parts = (Path(task.work) / "parts" / f"c{task.index:05d}.tsv").open("wb")  # opened second: never left open
        try:
            for block, count, look in read_blocks(chunk, task.visits):
                lines = block.first + count - 1
                for number, raw, kind in look:
                    if kind is None:  # a line judged by itself
                        if raw.isspace() or not raw:  # (not raw.strip(): that copies every line)
                            continue  # a blank line (a trailing newline, a CRLF export) carries nothing
                        leading = LEADING_TYPE.match(raw)
                        if leading is not None:
                            rule = rules.get(leading.group(1))
                            if rule is None:
                                name = leading.group(1).decode("ascii")
                                rule = rules[leading.group(1)] = (name, leading_rule(name, task.visits))
                            if passed_over(rule[0], raw, task.visits):  # the test of classify(), without its parse
                                short = cut_short(chunk.file_index, number, raw)
                                if short is not None:
                                    bad.write(_bad_record(short))
                                continue
                            kind = None if rule[1] == PARSE else rule[0]
                    hint = None if task.exact or kind is None else routing_key(kind, raw)
                    if hint is not None:
                        write(hint[0], number, b"u", raw)
                        continue
                    item = classify(chunk.file_index, number, raw, task.visits)
                    if isinstance(item, BadLine):
                        bad.write(_bad_record(item))
                    elif item is not None:
                        write(record_key(item.patient), number, b"p" if item.is_patient else b"k", raw)
        except GzipDamage as damage:
            bad.write(_bad_record(BadLine(chunk.file_index, damage.line, damage.reason)))
        finally:
            try:
                flush()
            finally:
                parts.close()
    return (lines - chunk.first_line + 1 if lines else 0), segments


class Misrouted(Exception):
    """A routing hint named another patient than the parsed line: the replay starts again parsing every line."""


def _bad_record(item: BadLine) -> bytes:
    reason = item.reason.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    return f"{item.file_index}\t{item.line}\t{reason}\n".encode()


def _read_bad(path: Path, offset: int = 0) -> Iterator[BadLine]:
    with path.open("rb") as handle:
        for line in handle:
            file_index, number, reason = line.rstrip(b"\n").decode("utf-8").split("\t", 2)
            yield BadLine(int(file_index), int(number) + offset, reason)


@dataclass(frozen=True)
class _Group:
    partition: int
    # Per segment of the partition: its chunk, the chunk's file index and line number before its first line, the
    # segment's bytes in the chunk's parts file.
    segments: tuple[tuple[int, int, int, int, int], ...]
    work: str
    plan: ReplayPlan


def _evaluate_partition(task: _Group) -> int:
    """Pass 2: parse one partition's lines (once each), group them by patient and evaluate; returns patients seen."""
    work = Path(task.work)
    records: dict[bytes, list[tuple[int, int, bytes, bytes]]] = {}  # by patient id as written (decoded once)
    for chunk, file_index, offset, start, size in task.segments:
        fd = os.open(work / "parts" / f"c{chunk:05d}.tsv", os.O_RDONLY)
        try:
            data = os.pread(fd, size, start)
        finally:
            os.close(fd)
        for line in data.split(b"\n")[:-1]:
            key, number, flag, raw = line.split(b"\t", 3)
            group = records.get(key)
            if group is None:
                group = records[key] = []
            group.append((file_index, int(number) + offset, flag, raw))
    seen = len(records)
    visits = task.plan.window is not None
    bad: list[BadLine] = []
    with (work / "rows" / f"{task.partition:04d}.jsonl").open("wb") as out:
        for patient, key in sorted((key_patient(k), k) for k in records):
            resources: list[Record] = []
            for file_index, line_number, flag, raw in records.pop(key):
                if flag != b"u":
                    resource = orjson.loads(raw)
                    resources.append((file_index, line_number, resource, flag == b"p", prefetch_keys(resource)))
                    continue
                found = examine(file_index, line_number, raw, visits)
                if isinstance(found, BadLine):
                    bad.append(found)
                elif found is not None:
                    if found[0] != patient:
                        raise Misrouted(f"line {line_number} of file {file_index}: {found[0]!r}, routed as {patient!r}")
                    resources.append((file_index, line_number, found[2], found[1], found[3]))
            if not resources:
                continue  # every line of the key was one the replay does not use
            rows, problems = evaluate_resources(task.plan, patient, resources)
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


def _map(workers: int, function: Any, tasks: Sequence[Any], meanwhile: Callable[[], None] = lambda: None) -> list[Any]:
    """Run tasks on a pool of `workers` processes (in this process for one worker); `meanwhile` runs here."""
    # The pipeline and value sets are a large heap that lives as long as the process: keep the cyclic GC off it,
    # so collections do not walk it again and again (and forked children do not copy its pages by touching them).
    # No collection first: after the start-up it finds nothing to free (measured) and walks that heap, 40-50 ms.
    gc.freeze()
    if workers <= 1:
        meanwhile()
        return [function(task) for task in tasks]
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, maxtasksperchild=None) as pool:
        results = pool.imap(function, tasks, chunksize=1)
        meanwhile()
        return list(results)


def run(
    plan: ReplayPlan, files: Sequence[Path], work: Path, workers: int, meanwhile: Callable[[], None] = lambda: None
) -> tuple[Iterable[Evaluation], Iterable[BadLine]]:
    """Replay the export into `work`; returns the sorted streams of evaluations and bad lines (read lazily).

    `meanwhile` is start-up work of the caller's (imports for the outputs) done while the workers run.
    """
    # Every parsed line and request is freed by its reference count, as soon as its patient is done: a collection
    # every 700 allocations (Python's default) finds nothing to free. At 10,000, collections in both passes cost
    # next to nothing instead of 0.14 s of CPU over 5,000 patients (0.03 ms per patient, 1 worker); forked
    # workers inherit the setting.
    threshold = gc.get_threshold()
    gc.set_threshold(_YOUNG_OBJECTS, *threshold[1:])
    try:
        return _run(plan, files, work, workers, meanwhile, exact=False)
    except Misrouted:  # never seen on a real export; correctness over speed
        return _run(plan, files, work, workers, lambda: None, exact=True)
    finally:
        gc.set_threshold(*threshold)


def _run(
    plan: ReplayPlan, files: Sequence[Path], work: Path, workers: int, meanwhile: Callable[[], None], exact: bool
) -> tuple[Iterable[Evaluation], Iterable[BadLine]]:
    shutil.rmtree(work, ignore_errors=True)
    for sub in ("parts", "bad", "rows"):
        (work / sub).mkdir(parents=True)
    chunks = plan_chunks(list(files), numbered=False)
    total = sum(p.stat().st_size for p in files)
    partitions = min(MAX_PARTITIONS, max(4 * workers, math.ceil(total / PARTITION_BYTES)))
    splits = [_Split(i, c, partitions, str(work), exact, plan.window is not None) for i, c in enumerate(chunks)]
    if workers <= 1:
        preload(plan)
        counts = _map(1, _split_chunk, splits)
    else:
        # Pass 1 needs neither the pipeline nor its value sets: its workers are forked before those are loaded, and
        # this process loads them meanwhile (for pass 2's workers to inherit) instead of before, alone on one core.
        # On a small export that load takes longer than pass 1: the caller's `meanwhile` waits for pass 2, when
        # this process only waits. Pass 1's search (pyarrow) is imported first, once, not by each of its workers.
        import pyarrow.compute  # noqa: F401

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            pending = pool.map_async(_split_chunk, splits, chunksize=1)
            preload(plan)
            counts = pending.get()
    offsets: list[tuple[int, int]] = []
    before: dict[int, int] = {}  # lines of each file in its chunks so far
    segments: list[list[tuple[int, int, int, int, int]]] = [[] for _ in range(partitions)]
    for index, (chunk, (count, written)) in enumerate(zip(chunks, counts, strict=True)):
        offsets.append((chunk.file_index, before.get(chunk.file_index, 0)))
        before[chunk.file_index] = before.get(chunk.file_index, 0) + count
        for segment in written:
            segments[segment.partition].append((index, *offsets[index], segment.start, segment.size))
    groups = [_Group(p, tuple(segments[p]), str(work), plan) for p in range(partitions)]
    _map(workers, _evaluate_partition, groups, meanwhile)
    row_files = sorted((work / "rows").glob("*.jsonl"))
    chunk_bad = [_read_bad(work / "bad" / f"c{i:05d}.tsv", offsets[i][1]) for i in range(len(chunks))]
    part_bad = [_read_bad(p) for p in sorted((work / "bad").glob("p*.tsv"))]
    rows = heapq.merge(*(_read_rows(p) for p in row_files), key=lambda r: (r.patient, r.date))
    bad = heapq.merge(*chunk_bad, *part_bad, key=lambda b: (b.file_index, b.line))
    return rows, bad
