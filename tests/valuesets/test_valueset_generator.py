"""The committed value-set JSON is exactly what tools/build_valuesets.py generates from its table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.valuesets.icd10 import icd10  # noqa: F401  (imports simple_icd_10_cm without its warning first)
from valuesets import DIRECTORY

GENERATOR = Path(__file__).resolve().parents[2] / "tools" / "build_valuesets.py"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """tools/build_valuesets.py, imported from its path (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("build_valuesets", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


def test_committed_files_match_the_generator(generator: ModuleType) -> None:
    expected: dict[str, str] = generator.build()
    committed = {p.name: p.read_text(encoding="utf-8") for p in DIRECTORY.glob("*.json")}
    assert sorted(committed) == sorted(expected), "run: python tools/build_valuesets.py"
    stale = sorted(name for name, text in expected.items() if committed[name] != text)
    assert not stale, f"stale value-set files (run: python tools/build_valuesets.py): {stale}"


def test_generator_refuses_an_unknown_icd10cm_code(generator: ModuleType) -> None:
    with pytest.raises(SystemExit, match="M99.999"):
        generator.icd("M99.999", "A0")


def test_generator_refuses_duplicate_names(generator: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator, "SPECS", (*generator.SPECS, generator.SPECS[0]))
    with pytest.raises(SystemExit, match="duplicate"):
        generator.build()
