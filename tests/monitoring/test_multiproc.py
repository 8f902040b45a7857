"""prometheus-client's multiprocess folder: fresh for every start of `bme-cds serve`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.obs import multiproc


def test_a_folder_is_made_per_start_and_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(multiproc.ENV, raising=False)
    first = multiproc.prepare(tmp_path)
    monkeypatch.delenv(multiproc.ENV)
    second = multiproc.prepare(tmp_path)
    assert first != second and first.parent == tmp_path and first.name.startswith("metrics-")
    assert os.environ[multiproc.ENV] == str(second)
    multiproc.remove(first)
    assert not first.exists() and second.exists()


def test_an_operators_folder_is_emptied_of_the_last_runs_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = tmp_path / "prom"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"stale")
    (given / "keep.txt").write_text("not ours")
    monkeypatch.setenv(multiproc.ENV, str(given))
    assert multiproc.prepare(tmp_path / "data") == given
    assert [p.name for p in given.iterdir()] == ["keep.txt"]
