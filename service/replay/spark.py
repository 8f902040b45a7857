"""The Spark engine: the same replay on an Apache Spark cluster through PySpark (local mode in the tests).

Executors read the export's chunks with the same reader as the embedded engine (so bad lines are reported
alike, with file and line), Spark groups the kept lines by patient, and each group goes through the same
`evaluate_patient`. The driver streams the sorted results back into the same output writers: the output files
are identical to the embedded engine's. The executors need this package installed (bme-cds, same version) and
the export where every executor reads it at the same path (a shared or mounted file system).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.replay.evaluation import Evaluation
from service.replay.evaluation import ReplayPlan
from service.replay.evaluation import evaluate_patient
from service.replay.ndjson import BadLine
from service.replay.ndjson import Chunk
from service.replay.ndjson import plan_chunks
from service.replay.ndjson import read_chunk

APP_NAME = "bme-cds-replay"


def _records(chunk: Chunk, visits: bool) -> Iterator[tuple[str, Any]]:
    """A chunk as ("k", (patient, record)) for kept lines and ("b", BadLine) for bad ones."""
    for item in read_chunk(chunk, visits):
        if isinstance(item, BadLine):
            yield "b", item
        else:
            yield "k", (item.patient, (item.file_index, item.line, item.raw, item.is_patient))


def _evaluate_group(plan: ReplayPlan, group: tuple[str, Iterable[tuple[int, int, bytes, bool]]]) -> list[Any]:
    patient, records = group
    rows, bad = evaluate_patient(plan, patient, list(records))
    return [("r", row) for row in rows] + [("b", b) for b in bad]


def session() -> Any:
    """The active SparkSession (spark-submit, Databricks), or a local one with every core of this machine."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName(APP_NAME)
    if "SPARK_MASTER" in os.environ or "MASTER" in os.environ:
        builder = builder.master(os.environ.get("SPARK_MASTER") or os.environ["MASTER"])
    else:  # local mode: the driver's ports on loopback only
        builder = builder.master(f"local[{os.cpu_count() or 1}]")
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    spark = builder.config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run(plan: ReplayPlan, files: Sequence[Path]) -> tuple[Iterable[Evaluation], Iterable[BadLine]]:
    """Replay on Spark; returns the sorted streams of evaluations and bad lines for the output writers."""
    from pyspark import StorageLevel

    spark = session()
    context = spark.sparkContext
    chunks = plan_chunks(list(files))
    parallelism = max(context.defaultParallelism, 1)
    visits = plan.window is not None
    slices = max(min(len(chunks), 10_000), 1)
    records = context.parallelize(chunks, slices).flatMap(lambda chunk: _records(chunk, visits))
    records.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        results = (
            records.filter(lambda r: r[0] == "k")
            .map(lambda r: r[1])
            .groupByKey(numPartitions=max(parallelism * 4, 1))
            .flatMap(lambda group: _evaluate_group(plan, group))
        )
        results.persist(StorageLevel.MEMORY_AND_DISK)
        bad = (
            records.filter(lambda r: r[0] == "b")
            .map(lambda r: r[1])
            .union(results.filter(lambda r: r[0] == "b").map(lambda r: r[1]))
            .sortBy(lambda b: (b.file_index, b.line))
            .collect()
        )
        rows = results.filter(lambda r: r[0] == "r").map(lambda r: r[1]).sortBy(lambda e: (e.patient, e.date))
        return _stream(rows, [records, results]), bad
    except BaseException:
        records.unpersist()
        raise


def _stream(rows: Any, cached: list[Any]) -> Iterator[Evaluation]:
    """The sorted rows, one Spark partition at a time on the driver; the cached data released at the end."""
    try:
        yield from rows.toLocalIterator(prefetchPartitions=True)
    finally:
        for rdd in cached:
            rdd.unpersist()
