"""The shapes of the rule table: predicates, card specs, offers (suggestion builders) and Rule rows.

The knowledge itself lives in service/knowledge/ (rules.py); this module only says what a row is. Pure: no
flask, no requests, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from service.core.features import DraftOrder
from service.core.features import Features
from service.core.findings import Evidence
from service.core.findings import Indicator
from service.core.findings import SuggestionSpec
from service.core.policy import Policy
from service.core.vocabulary import HOOK_ORDER_SELECT
from service.core.vocabulary import HOOK_PATIENT_VIEW

Stage = Literal["A", "B", "C", "D", "E"]
STAGES: tuple[Stage, ...] = ("A", "B", "C", "D", "E")
STAGE_NAMES: dict[str, str] = {
    "A": "Stage A: red flags",
    "B": "Stage B: diagnosis and etiology",
    "C": "Stage C: vertebral BME algorithm",
    "D": "Stage D: refractory BME",
    "E": "Stage E: pitfalls and follow-up",
}

# "{deformity.kyphosis_pct}" in a text is replaced by the policy's current value.
POLICY_PLACEHOLDER = re.compile(r"\{([a-z_]+\.[a-z_.]+)\}")


@dataclass(frozen=True)
class Ctx:
    """What a predicate may look at: the patient's features, the policy, the hook and earlier stages."""

    features: Features
    policy: Policy
    hook: str
    red_flag: bool = False  # a Stage A rule fired
    fired: frozenset[str] = frozenset()  # rule ids fired in earlier stages

    def drafts(self) -> tuple[DraftOrder, ...]:
        """The draft orders this hook acts on: selected ones at order-select, all at order-sign."""
        if self.hook == HOOK_PATIENT_VIEW:
            return ()
        orders = self.features.draft_orders
        if self.hook == HOOK_ORDER_SELECT:
            selected = tuple(o for o in orders if o.selected)
            # Without a marked selection every draft counts, so a missing selection never hides a warning.
            return selected or orders
        return orders


@dataclass(frozen=True)
class Pred:
    """A named condition over (features, policy, context); `describe` is its plain-English reading."""

    name: str
    describe: str  # may hold {policy.key} placeholders
    test: Callable[[Ctx], bool]
    uses: tuple[str, ...] = ()  # Features field names whose sources are the basis of the condition
    draft_kinds: frozenset[str] = frozenset()  # ORDER_* kinds of draft orders the condition reads
    keys: tuple[str, ...] = ()  # policy keys the test reads (its parts' keys included)
    # Set only by all_of/any_of/not_: how `parts` combine, so the engine can resolve static parts once.
    combine: Literal["", "all", "any", "not"] = ""
    parts: tuple[Pred, ...] = ()
    # Reads only the policy and the hook, never the patient: the engine resolves it once per (policy, hook).
    static: bool = False

    def __call__(self, ctx: Ctx) -> bool:
        """Evaluate the condition."""
        return self.test(ctx)

    @property
    def policy_keys(self) -> tuple[str, ...]:
        """Policy keys the condition reads or its description names."""
        return tuple(dict.fromkeys((*self.keys, *POLICY_PLACEHOLDER.findall(self.describe))))


def every(tests: tuple[Callable[[Ctx], bool], ...]) -> Callable[[Ctx], bool]:
    """A test that is true when every test is; stops at the first false one, like all()."""

    def test(ctx: Ctx) -> bool:
        # A plain loop, not all() over a generator: this runs ~100 times per request.
        for part in tests:
            if not part(ctx):
                return False
        return True

    return test


def some(tests: tuple[Callable[[Ctx], bool], ...]) -> Callable[[Ctx], bool]:
    """A test that is true when at least one test is; stops at the first true one, like any()."""

    def test(ctx: Ctx) -> bool:
        for part in tests:
            if part(ctx):
                return True
        return False

    return test


def _combined(preds: tuple[Pred, ...], describe: str | None, combine: Literal["all", "any"]) -> Pred:
    """all_of / any_of: one predicate standing for its parts, with their uses, keys and drafts."""
    joiner = " and " if combine == "all" else " or "
    return Pred(
        name=f"{combine}_of(" + ", ".join(p.name for p in preds) + ")",
        describe=describe or "(" + joiner.join(p.describe for p in preds) + ")",
        test=(every if combine == "all" else some)(tuple(p.test for p in preds)),
        uses=tuple(u for p in preds for u in p.uses),
        draft_kinds=frozenset().union(*(p.draft_kinds for p in preds)),
        keys=tuple(k for p in preds for k in p.policy_keys),
        combine=combine,
        parts=preds,
        static=bool(preds) and all(p.static for p in preds),
    )


def all_of(*preds: Pred, describe: str | None = None) -> Pred:
    """True when every part is true."""
    return _combined(preds, describe, "all")


def any_of(*preds: Pred, describe: str | None = None) -> Pred:
    """True when at least one part is true."""
    return _combined(preds, describe, "any")


def not_(pred: Pred, describe: str) -> Pred:
    """True when the part is false; the caller words the negation (unknown handling differs per fact)."""
    part = pred.test
    return Pred(name=f"not_({pred.name})", describe=describe, test=lambda ctx: not part(ctx), uses=pred.uses,
                draft_kinds=pred.draft_kinds, keys=pred.policy_keys, combine="not", parts=(pred,),
                static=pred.static)


@dataclass(frozen=True)
class CardSpec:
    """The card a rule produces: indicator, a summary phrased as an option, the recommendation, the rule."""

    indicator: Indicator
    summary: str  # < 140 characters once policy values are filled in
    recommendation: str
    rule_text: str
    selection_behavior: Literal["at-most-one", "any"] | None = None
    fold: str = ""  # informational rules: the one line it becomes inside the pathway card ("" = own card)


@dataclass(frozen=True)
class Offer:
    """A suggestion builder: `build` picks suggestions for this patient from `catalogue`."""

    describe: str
    build: Callable[[Ctx], tuple[SuggestionSpec, ...]]
    catalogue: tuple[SuggestionSpec, ...] = ()  # every suggestion it can produce (docs, tests)


def _none(ctx: Ctx) -> tuple[SuggestionSpec, ...]:
    return ()


NO_OFFER = Offer("No order suggestion.", _none)


def fixed(describe: str, *suggestions: SuggestionSpec) -> Offer:
    """An offer that always suggests the same orders."""
    return Offer(describe, lambda ctx: suggestions, suggestions)


@dataclass(frozen=True)
class Rule:
    """One row of the rule table. Rows sharing an id are variants: the first that fires wins."""

    id: str
    title: str
    stage: Stage
    hooks: tuple[str, ...]
    when: tuple[Pred, ...]  # all must be true
    card: CardSpec
    evidence: tuple[Evidence, ...]
    unless: tuple[Pred, ...] = ()  # any true excludes
    offer: Offer = NO_OFFER
    uses: tuple[str, ...] = ()  # more Features fields whose sources go into data_used
    missing: tuple[str, ...] = ()  # Features fields listed as missing when unknown (or stale, for labs)
    notes: tuple[str, ...] = ()  # detail lines; may hold {policy.key} placeholders
    dynamic_notes: Callable[[Ctx], tuple[str, ...]] | None = None
    variant: str = ""  # how this row differs from the rule's other rows
    smart_link: bool = False
    policy_keys: tuple[str, ...] = ()  # keys the offer or notes read that no text names

    def applies(self, ctx: Ctx) -> bool:
        """True when every `when` holds and no `unless` does."""
        return all(p(ctx) for p in self.when) and not any(p(ctx) for p in self.unless)

    def all_policy_keys(self) -> tuple[str, ...]:
        """Every policy key this row reads, in first-use order."""
        texts = (self.card.summary, self.card.recommendation, self.card.rule_text, *self.notes)
        keys = [k for p in (*self.when, *self.unless) for k in p.policy_keys]
        keys += [k for t in texts for k in POLICY_PLACEHOLDER.findall(t)]
        keys += list(self.policy_keys)
        return tuple(dict.fromkeys(keys))


@dataclass(frozen=True)
class Deferral:
    """When rule `trigger` fired, the drug suggestions of `targets` become not recommended, with a note."""

    trigger: str
    targets: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class RuleTable:
    """The knowledge the rule engine runs: the rows, the gates before stages, and the deferrals."""

    rules: tuple[Rule, ...]
    stage_gates: Mapping[str, Pred]  # stage -> condition that must hold before its rows run
    deferrals: tuple[Deferral, ...]
    # Data only worth asking for in some settings: field -> when a card lists it as missing (default: always).
    missing_only_if: Mapping[str, Callable[[Ctx], bool]]


@dataclass(frozen=True)
class Limitation:
    """Something a rule or gate needs that the patient data or the terminology cannot supply yet."""

    item: str
    rules: str  # the rule or gate ids it affects, as docs/rules.md lists them
    reason: str


def format_value(value: object) -> str:
    """A policy value as it reads in text: 15.0 -> '15', True -> 'true'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render(text: str, policy: Policy) -> str:
    """Fill {policy.key} placeholders with the policy's values."""
    return POLICY_PLACEHOLDER.sub(lambda m: format_value(policy[m.group(1)]), text)
