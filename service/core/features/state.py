"""The scratchpad of one extraction: what the resource handlers found, before `finish` turns it into Features."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from service.core import facts
from service.core import textfind
from service.core.facts import Fact
from service.core.facts import Source
from service.core.features.codes import CONDITION_ONLY
from service.core.features.codes import NAME_SYNONYMS
from service.core.features.codes import NO_SETS
from service.core.features.codes import NON_SYSTEMIC
from service.core.features.codes import PARENTERAL
from service.core.features.codes import RX_CALCITONIN
from service.core.features.codes import RX_SETS
from service.core.features.fhirjson import codings_of
from service.core.policy import Policy
from service.core.valuesets import VS
from service.core.valuesets import ValueSetIndex

UNKNOWN: Fact[Any] = facts.UNKNOWN  # typed Any: it stands for an unknown Fact of any value type
FALSE: Fact[Any] = Fact(False)  # the sourceless False ("searched, nothing found")


class Acc:
    """Mutable scratchpad for one extraction; `build` freezes it into Features."""

    def __init__(self) -> None:
        self.true: dict[str, list[Source]] = {}
        self.false: dict[str, list[Source]] = {}
        self.values: dict[str, Fact[Any]] = {}
        self.seen_types: set[str] = set()

    def yes(self, name: str, source: Source) -> None:
        """Positive evidence for a boolean feature."""
        self.true.setdefault(name, []).append(source)

    def no(self, name: str, source: Source) -> None:
        """Explicit negative evidence (e.g. 'no retropulsion'); loses to any positive evidence."""
        self.false.setdefault(name, []).append(source)

    def flag(self, name: str) -> Fact[bool]:
        """The boolean Fact so far: True with its sources, False with its sources, or unknown."""
        if name in self.true:
            return Fact(True, tuple(self.true[name]), newest(self.true[name]))
        if name in self.false:
            return Fact(False, tuple(self.false[name]), newest(self.false[name]))
        return UNKNOWN


def newest(sources: list[Source]) -> date | None:
    """The latest date among the sources, or None when none is dated."""
    dates = [s.date for s in sources if s.date is not None]
    return max(dates) if dates else None


@dataclass(frozen=True)
class Med:
    """One medication order/statement/administration, classified."""

    source: Source
    classes: frozenset[str]  # value-set names (rx-*) and RX_CALCITONIN
    ingredients: frozenset[str]  # ingredient names found in the text or the IN displays
    active: bool
    given: bool
    start: date | None
    route: str  # route wording, folded (textfind.fold)
    drug: str  # the drug's display, folded
    resolved: bool  # False: the drug could not be identified (unresolved reference, no code, no text)
    course_days: int | None = None  # a finished course (completed, or stopped with both ends dated): its length


    # Route checks are read only for opioids (parenteral) and glucocorticoids (systemic), so they are worked
    # out when read rather than for every order: two regex scans of the drug text each.
    @property
    def parenteral(self) -> bool:
        """Given by injection or infusion, by its route or its drug's wording."""
        return (VS.RX_OPIOID_PARENTERAL in self.classes
                or bool(PARENTERAL.search(self.route) or PARENTERAL.search(self.drug)))

    @property
    def systemic(self) -> bool:
        """Not an eye, skin, inhaled, nasal or joint form (by route or drug wording)."""
        return not (NON_SYSTEMIC.search(self.route) or NON_SYSTEMIC.search(self.drug))


@dataclass(frozen=True)
class Lab:
    """The newest candidate observation for one lab feature."""

    when: date | None
    resource: dict[str, Any]


@dataclass(frozen=True)
class Names:
    """What extraction needs from the value-set index beyond code lookups: ingredient names, loaded sets."""

    pattern: re.Pattern[str] | None
    folded: bool  # the pattern is lower-case without re.I: search textfind.fold(text), not the text
    classes: dict[str, frozenset[str]]  # canonical ingredient name -> value-set names
    ingredient_of_code: dict[tuple[str, str], str]  # (RXNORM, IN code) -> ingredient name
    loaded: frozenset[str]  # valuesets.names()
    condition_only_loaded: frozenset[str]  # CONDITION_ONLY features whose value sets are all loaded


# RxNorm writes a product's ingredient in lower case right before its strength ("12 HR hydrocodone bitartrate
# 10 MG Extended Release Oral Capsule"); capitalised words before it are qualifiers ("Abuse-Deterrent", "HR").
_PRODUCT_INGREDIENT = re.compile(r"(?:^|\s)([a-z][a-z-]*(?:\s+[a-z][a-z-]*)*)\s+\d[\d.,]*\s*(?:MG|MCG|ML|UNT|MEQ|%)")
# Salt, ester and form words RxNorm appends to an ingredient (its precise-ingredient names); the base name is
# what an order's free text says ("hydromorphone 2 mg", "ketorolac 30 mg IV").
SALT_WORDS = frozenset({
    "hydrochloride", "hcl", "bitartrate", "tartrate", "phosphate", "sulfate", "napsylate", "citrate", "liposomal",
    "tincture", "tromethamine", "sodium", "potassium", "acetate", "mesylate", "maleate", "besylate", "succinate",
    "bromide", "hydrobromide", "polistirex", "monohydrate", "anhydrous",
})


def product_ingredient(display: str) -> str:
    """The base ingredient of a single-ingredient RxNorm product display, or '' (combinations, packs)."""
    if " / " in display or display.startswith("{"):
        return ""  # a combination's other ingredient (acetaminophen) is not of the class
    m = _PRODUCT_INGREDIENT.search(display)
    if not m:
        return ""
    words = m.group(1).split()
    while len(words) > 1 and words[-1] in SALT_WORDS:
        words.pop()
    return " ".join(words)


# Kept: building this costs ~60 us, 16% of extract on the bench's real-patient body; the index is immutable.
@functools.lru_cache(maxsize=4)
def build_names(valuesets: ValueSetIndex) -> Names:
    """The ingredient-name matcher and loaded-set facts of this value-set index."""
    classes: dict[str, set[str]] = {}
    of_code: dict[tuple[str, str], str] = {}
    loaded = valuesets.names()
    for name in RX_SETS:
        if name not in loaded:
            continue
        for concept in valuesets.concepts(name):
            display = (concept.display or "").strip().lower()
            # Ingredient (IN) rows have a bare name as display; a single-ingredient product row (SCD/SBD,
            # "hydromorphone hydrochloride 2 MG Oral Tablet") names its ingredient before the strength.
            if display and not any(ch.isdigit() for ch in display):
                classes.setdefault(display, set()).add(name)
                of_code[(concept.system, concept.code)] = display
            else:
                ingredient = product_ingredient(concept.display or "")
                if ingredient:
                    classes.setdefault(ingredient, set()).add(name)
    classes.setdefault(RX_CALCITONIN, set()).add(RX_CALCITONIN)
    all_names = set(classes) | set(NAME_SYNONYMS)
    # Lower-case ASCII names match folded text exactly as re.I matches the original (textfind.fold); a name
    # with other characters (none so far) keeps re.I, whose Unicode case rules fold does not reproduce.
    folded = all(n.isascii() for n in all_names)
    source = r"\b(" + textfind.word_alternation(all_names) + r")\b"
    pattern = re.compile(source, 0 if folded else re.I) if all_names else None
    return Names(
        pattern,
        folded,
        {k: frozenset(v) for k, v in classes.items()},
        of_code,
        loaded,
        frozenset(f for f, sets in CONDITION_ONLY.items() if all(name in loaded for name in sets)),
    )


class Extraction:
    """One extraction run: what the handlers found so far, and the value-set lookups they share."""

    def __init__(self, today: date, valuesets: ValueSetIndex, policy: Policy) -> None:
        self.today = today
        self.vs = valuesets
        self.policy = policy
        self.names = build_names(valuesets)
        self.loaded = self.names.loaded
        self.acc = Acc()
        self.medications: dict[str, dict[str, Any]] = {}  # Medication resources by id
        self.pending_meds: list[dict[str, Any]] = []  # med orders, resolved after the pass
        self.meds: list[Med] = []
        self.labs: dict[str, Lab] = {}
        self.pain: list[tuple[date, int, Source]] = []
        self.temperature: Lab | None = None
        self.encounters: list[tuple[dict[str, Any], bool, tuple[str, ...]]] = []
        self.conditions_by_id: dict[str, frozenset[str]] = {}
        self.bme_dates: list[date] = []
        self.fracture_keys: dict[tuple[str, str], Source] = {}
        self.fracture_dates: list[tuple[date, Source]] = []
        self.text_values: dict[str, tuple[date | None, Any, Source]] = {}  # newest text value per feature
        self.sites: dict[str, list[Source]] = {}
        self.levels: list[tuple[str, Source]] = []
        self.extent: dict[str, list[Source]] = {}
        self.gestation: tuple[int, Source] | None = None
        self.last_mri: tuple[date, Source] | None = None
        self.patient: dict[str, Any] | None = None

    def classify(self, concept: Any) -> frozenset[str]:
        """Every value set any coding of `concept` belongs to."""
        return self.classify_codings(codings_of(concept))

    def classify_codings(self, codings: list[dict[str, Any]]) -> frozenset[str]:
        """Every value set any of these codings belongs to (one names_for call per coding)."""
        # Most codings are in no value set and most concepts have one coding: keep the index's own frozenset
        # instead of building a set and freezing a copy per call.
        found: frozenset[str] = NO_SETS
        for coding in codings:
            system = coding.get("system")
            code = coding.get("code")
            if isinstance(system, str) and isinstance(code, str) and code:
                hits = self.vs.names_for(system, code)
                if hits:
                    found = found | hits if found else hits
        return found

    def put_newest(self, feature: str, when: date | None, value: Any, src: Source) -> None:
        """Keep the newest value for a numeric feature from text or local observations."""
        current = self.text_values.get(feature)
        if current is None or later(when, current[0]):
            self.text_values[feature] = (when, value, src)


def later(a: date | None, b: date | None) -> bool:
    """True when `a` is newer than `b`; a dated value beats an undated one."""
    if a is None:
        return False
    return b is None or a > b


def min_date(*facts: Any) -> date | None:
    """The earliest date among date Facts (unknowns skipped)."""
    dates = [f.value for f in facts if isinstance(f, Fact) and isinstance(f.value, date)]
    return min(dates) if dates else None
