"""Facts: a feature value together with the patient data it was derived from.

Owns the provenance types every card uses to show its basis. Imports neither flask nor requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Generic
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Source:
    """One piece of patient data a fact rests on: which resource, when, and what it said."""

    reference: str  # relative reference, e.g. "Observation/egfr-1"; "" when the resource had no id
    display: str  # human-readable value, e.g. "eGFR 25 mL/min/1.73m2" or "Condition: Osteoporosis (M81.0)"
    date: date | None = None  # clinically relevant date (effective, onset, authored, issued)
    via: str = ""  # how it was derived when not a coded match, e.g. "report text: 'marrow edema at L1'"


@dataclass(frozen=True)
class Fact(Generic[T]):
    """A feature value; `value is None` means unknown (no data), never 'normal' or 'absent'."""

    value: T | None = None
    sources: tuple[Source, ...] = ()
    as_of: date | None = None  # date of the newest data behind the value (labs: for staleness checks)

    @property
    def known(self) -> bool:
        """True when the data told us something (including a definite False)."""
        return self.value is not None

    @property
    def true(self) -> bool:
        """True only when the value is positively True; unknown counts as not true."""
        return self.value is True


UNKNOWN: Fact[object] = Fact()
