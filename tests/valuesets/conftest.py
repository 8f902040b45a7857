"""Fixtures for the value-set tests: the shipped index, the parsed files, a directory writer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from service.core.valuesets import ValueSetIndex
from valuesets import DIRECTORY

FILES = sorted(DIRECTORY.glob("*.json"))


@pytest.fixture(scope="session")
def index() -> ValueSetIndex:
    """The index over the committed value sets."""
    return ValueSetIndex.load(DIRECTORY)


@pytest.fixture(scope="session")
def resources() -> dict[str, dict[str, Any]]:
    """Every committed ValueSet, parsed, by file stem."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in FILES}


@pytest.fixture
def write_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write {file name: resource dict or raw text} into a fresh directory and return it."""

    def write(files: dict[str, Any]) -> Path:
        for file_name, content in files.items():
            text = content if isinstance(content, str) else json.dumps(content)
            (tmp_path / file_name).write_text(text, encoding="utf-8")
        return tmp_path

    return write
