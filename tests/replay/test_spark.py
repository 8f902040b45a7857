"""The Spark engine (PySpark local mode) writes the very same files as the embedded engine."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.replay.conftest import AS_OF
from tests.replay.conftest import replay
from tests.replay.test_inputs import damaged_export

OUTPUTS = ("patients.csv", "patients.parquet", "rules.csv", "errors.csv", "compare.csv", "report.html")


@pytest.fixture(scope="module")
def spark_available() -> Iterator[None]:
    """PySpark and Java, or a skip (a failure where tools/test.sh installed them: BME_TEST_REQUIRE_SPARK=1)."""
    reason = None
    try:
        import pyspark  # noqa: F401
    except ImportError:
        reason = "pyspark is not installed (pip install bme-cds[spark])"
    if reason is None and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        reason = "no Java runtime for Spark"
    if reason is not None:
        if os.environ.get("BME_TEST_REQUIRE_SPARK") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    yield
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


def test_spark_outputs_equal_the_embedded_engine(spark_available: None, tmp_path: Path) -> None:
    damaged_export(tmp_path / "export")
    policy = tmp_path / "what-if.json"
    policy.write_text(json.dumps({"labs.max_age_days": 3650}), encoding="utf-8")
    # Every visit since 2000 (a few hundred evaluations), the what-if policy beside the default one.
    options = ("--encounters", f"2000-01-01..{AS_OF}", "--compare-policy", str(policy))
    assert replay(tmp_path / "export", tmp_path / "local", *options, "--workers", "2") == 0
    assert replay(tmp_path / "export", tmp_path / "spark", *options, "--engine", "spark") == 0
    for name in OUTPUTS:
        assert (tmp_path / "spark" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    assert len((tmp_path / "local" / "patients.csv").read_bytes().splitlines()) > 100
    assert len((tmp_path / "local" / "errors.csv").read_bytes().splitlines()) == 8
