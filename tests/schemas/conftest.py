"""Fixtures for the CDS Hooks schema tests: load the small JSON documents in `fixtures/`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def load() -> Callable[[str], Any]:
    """Return a loader that parses `fixtures/<name>` afresh (tests may mutate the result)."""

    def _load(name: str) -> Any:
        return json.loads((FIXTURES / name).read_text(encoding="utf-8"))

    return _load
