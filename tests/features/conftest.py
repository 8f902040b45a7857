"""Fixtures for the feature-extraction tests: the real value sets, and a one-call `run` helper."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from service.core.features import Features
from service.core.features import extract
from service.core.policy import DEFAULT_POLICY
from service.core.policy import Policy
from service.core.valuesets import ValueSetIndex
from tests.builders import TODAY

VALUESETS_DIR = Path(__file__).resolve().parents[2] / "valuesets"

Run = Callable[..., Features]


@pytest.fixture(scope="session")
def valuesets() -> ValueSetIndex:
    """The committed value sets, loaded once."""
    return ValueSetIndex.load(VALUESETS_DIR)


@pytest.fixture
def run(valuesets: ValueSetIndex) -> Run:
    """extract() over the given resources with today = builders.TODAY and the default policy."""

    def _run(
        *resources: Mapping[str, Any],
        drafts: Sequence[Mapping[str, Any]] = (),
        selections: Sequence[str] = (),
        policy: Policy = DEFAULT_POLICY,
        patient_id: str | None = None,
        index: ValueSetIndex | None = None,
    ) -> Features:
        return extract(
            list(resources),
            today=TODAY,
            valuesets=index or valuesets,
            policy=policy,
            patient_id=patient_id,
            draft_orders=drafts,
            selections=selections,
        )

    return _run
