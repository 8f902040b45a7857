"""The rule table as data: ids, stages, card texts, seed quotes and doses, codes, feature names."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from service.core import vocabulary
from service.core.features import SPECS
from service.core.features import Features
from service.core.findings import SuggestionSpec
from service.core.policy import DEFAULT_POLICY
from service.core.policy import SETTINGS
from service.core.policy import Policy
from service.core.policy import policy_from_mapping
from service.core.rulemodel import POLICY_PLACEHOLDER
from service.core.rulemodel import Rule
from service.core.rulemodel import render
from service.core.vocabulary import HOOKS
from service.knowledge import offers as orders
from service.knowledge.evidence import NO_DOSE_NOTE
from service.knowledge.evidence import SEED_002
from service.knowledge.evidence import SEED_FILES
from service.knowledge.rules import RULES
from service.knowledge.rules import STAGE_GATES
from tests.rules.scenario import SEEDS_DIR
from tests.rules.scenario import seed_text

STAGE_OF: dict[str, str] = {
    **{f"R{n:02d}": "A" for n in range(6, 11)},
    **{f"R{n:02d}": "B" for n in (*range(1, 6), *range(11, 21))},
    **{f"R{n:02d}": "C" for n in range(21, 29)},
    **{f"R{n:02d}": "D" for n in range(29, 32)},
    **{f"R{n:02d}": "E" for n in range(32, 38)},
}
PATHWAY_RULES = {"R21", "R22", "R24", "R26", "R29"}

# Codes the rules may put in a suggestion: codes.md V-A / V-B only (system, code).
RXNORM, LOINC, CPT = vocabulary.RXNORM, vocabulary.LOINC, vocabulary.CPT
ALLOWED_CODES: frozenset[tuple[str, str]] = frozenset(
    {
        *(
            (RXNORM, c)
            for c in (
                "7258",
                "3355",
                "5781",
                "140587",
                "11473",
                "77655",
                "993449",
                "40138",
                "191831",
                "214555",
                "327361",
                "3264",
            )
        ),
        *(
            (LOINC, c)
            for c in (
                "24968-0",
                "24980-5",
                "24935-9",
                "36067-7",
                "36059-4",
                "36031-3",
                "36013-1",
                "24802-1",
                "37222-7",
                "24967-2",
                "24981-3",
                "24937-5",
                "36400-0",
                "30688-6",
                "24803-9",
                "30682-9",
                "24963-1",
                "24978-9",
                "28566-8",
                "36014-9",
                "36037-0",
                "35991-9",
                "25032-4",
                "42700-5",
                "17861-6",
                "1751-7",
                "62292-8",
            )
        ),
        *((CPT, c) for c in ("22510", "22511", "22512", "22513", "22514", "22515")),
    }
)
# Policies that push every number to its widest plausible rendering.
WIDE_POLICY = policy_from_mapping(
    {
        "deformity.kyphosis_pct": 12.5,
        "deformity.height_loss_pct": 22.5,
        "augmentation.consider_after_days": 210,
        "augmentation.offer_after_days": 365,
        "reassess.first_days": 100,
        "followup.mri_after_days": 365,
    }
)
FEATURE_FIELDS = {f.name for f in dataclasses.fields(Features)}


def _all_suggestions() -> list[tuple[str, SuggestionSpec]]:
    return [(r.id, s) for r in RULES for s in r.offer.catalogue]


def test_ids_cover_r01_to_r37_in_their_catalogue_stage() -> None:
    """Every rule id exists, and each row sits in the stage clinical-rules.md §2 gives it."""
    assert {r.id for r in RULES} == set(STAGE_OF)
    for rule in RULES:
        assert rule.stage == STAGE_OF[rule.id], rule.id


def test_table_is_in_stage_order_and_variants_are_adjacent() -> None:
    """Rows run A..E; rows of one id sit together, each variant on its own hooks or labelled."""
    stages = [r.stage for r in RULES]
    assert stages == sorted(stages)
    seen: list[str] = []
    for rule in RULES:
        if seen and seen[-1] != rule.id:
            assert rule.id not in seen, f"{rule.id} rows are split"
        seen.append(rule.id)
    for rule in RULES:
        assert rule.hooks and set(rule.hooks) <= set(HOOKS)
        same = [r for r in RULES if r.id == rule.id and set(r.hooks) & set(rule.hooks)]
        assert len(same) == 1 or all(r.variant or r is same[-1] for r in same), rule.id


@pytest.mark.parametrize("policy", [DEFAULT_POLICY, WIDE_POLICY], ids=["default", "wide"])
def test_summaries_are_under_140_characters_and_phrased_as_options(policy: Policy) -> None:
    """CDS Hooks 2.0: summary < 140 characters, with the policy's numbers filled in; no placeholder left."""
    for rule in RULES:
        summary = render(rule.card.summary, policy)
        assert len(summary) < 140, (rule.id, summary)
        assert "{" not in summary
        text = summary.lower()
        if rule.stage == "A":  # red flags keep the seeds' urgency (seed 002, seed 000): never "consider"
            assert "consider" not in text and any(w in text for w in ("immediate", "urgent", "now")), summary
            continue
        assert any(w in text for w in ("consider", "may", "advises", "avoid", "limit", "must")), (
            rule.id,
            summary,
        )


def test_recommendations_are_phrased_as_options() -> None:
    """Finding.recommendation is an option ('Consider ...'), never an order; red flags keep the seeds' urgency."""
    for rule in RULES:
        text = render(rule.card.recommendation, DEFAULT_POLICY)
        if rule.stage == "A":
            assert not text.startswith("Consider") and ("mmediate" in text or "rgent" in text), (rule.id, text)
            continue
        assert text.startswith(("Consider", "If ")), (rule.id, text)


def test_red_flags_say_what_seed_002_requires() -> None:
    """Seed 002: "Immediate Surgical Consultation Required" for R06-R08; R09 "demands urgent surgical decompression"."""
    from service.knowledge.evidence import SEED_002 as seed
    assert "Immediate Surgical Consultation Required" in seed_text(seed)
    for rule in RULES:
        if rule.id in ("R06", "R07", "R08"):
            assert "immediate surgical consultation required" in render(rule.card.summary, DEFAULT_POLICY)
    assert "demands urgent surgical decompression" in seed_text(seed)
    (r09,) = (r for r in RULES if r.id == "R09")
    assert "urgent surgical decompression is needed" in r09.card.summary


@pytest.mark.parametrize("policy", [DEFAULT_POLICY, WIDE_POLICY], ids=["default", "wide"])
def test_fold_lines_are_short_single_lines(policy: Policy) -> None:
    """An informational rule folded into the pathway card is one short line; red flags and gates never fold."""
    for rule in RULES:
        line = render(rule.card.fold, policy)
        assert len(line) <= 130 and "\n" not in line, (rule.id, line)
        assert not line or (rule.card.indicator == "info" and not rule.smart_link), rule.id


def test_every_placeholder_names_a_policy_key() -> None:
    """Texts and predicate descriptions only name keys Policy has."""
    for rule in RULES:
        texts = [
            rule.card.summary,
            rule.card.recommendation,
            rule.card.rule_text,
            *rule.notes,
            rule.offer.describe,
            *(p.describe for p in (*rule.when, *rule.unless)),
        ]
        for text in texts:
            for key in POLICY_PLACEHOLDER.findall(text):
                assert key in SETTINGS, (rule.id, key)
        for key in rule.all_policy_keys():
            assert key in SETTINGS, (rule.id, key)


def test_evidence_quotes_the_seed_files_verbatim() -> None:
    """Every statement is in the seed file it cites (checked against the copies in tests/rules/seeds)."""
    assert sorted(p.name for p in SEEDS_DIR.glob("*.txt")) == sorted(SEED_FILES)
    for rule in RULES:
        assert rule.evidence, rule.id
        for ev in rule.evidence:
            assert ev.in_seeds and ev.source in SEED_FILES, (rule.id, ev.source)
            assert " ".join(ev.statement.split()) in seed_text(ev.source), (rule.id, ev.statement)


def test_a_misquote_would_fail() -> None:
    """The seed check is not vacuous: a changed dose is not found in seed 002."""
    assert "Naproxen 375-1100 mg/day in two doses" in seed_text(SEED_002)
    assert "Naproxen 375-1000 mg/day in two doses" not in seed_text(SEED_002)


def test_doses_are_the_seed_wording() -> None:
    """Each dose_text, after the drug name, is a verbatim phrase of seed 002; drugs without one say so."""
    text = seed_text(SEED_002)
    drugs = [(rid, s) for rid, s in _all_suggestions() if s.resource_type == "MedicationRequest"]
    assert drugs
    for rule_id, spec in drugs:
        assert spec.drug_class, (rule_id, spec.label)
        if spec.dose_text is None:
            assert spec.note and spec.note.startswith(NO_DOSE_NOTE), (rule_id, spec.label)
        else:
            assert f"{spec.text.capitalize()} {spec.dose_text}" in text, (rule_id, spec.dose_text)


@pytest.mark.parametrize(
    ("spec", "dose"),
    [
        (orders.NAPROXEN, "375-1100 mg/day in two doses"),
        (orders.DICLOFENAC, "75-150 mg/day in divided doses"),
        (orders.INDOMETHACIN, "150 mg/day in divided doses"),
        (orders.CELECOXIB, "200-400 mg/day"),
        (orders.PAMIDRONATE_3_DAYS, "30 mg intravenously on 3 consecutive days, repeated every 3 months"),
        (orders.PAMIDRONATE_MONTHLY, "45-90 mg (or 1 mg/kg) intravenously every month or every 3 months"),
        (orders.INFLIXIMAB, "3-5 mg/kg IV at 0,2,6 weeks then every 6-8 weeks"),
        (orders.ETANERCEPT, "50 mg/week subcutaneously"),
        (orders.ADALIMUMAB, "40 mg every 2 weeks subcutaneously"),
        (orders.DEXAMETHASONE, None),
        (orders.DENOSUMAB, None),
        (orders.ILOPROST, None),
        (orders.CALCITONIN, None),
        (orders.ZOLEDRONIC_ACID, None),
    ],
    ids=lambda v: v.text if isinstance(v, SuggestionSpec) else "",
)
def test_named_doses(spec: SuggestionSpec, dose: str | None) -> None:
    """The doses the brief lists, exactly; the drugs the seeds give no dose for carry none."""
    assert spec.dose_text == dose


def test_codes_come_from_codes_md_verified_rows() -> None:
    """Every coded suggestion uses a V-A/V-B code; calcitonin and referrals are text only."""
    for rule_id, spec in _all_suggestions():
        if spec.code is not None:
            assert (spec.code.system, spec.code.code) in ALLOWED_CODES, (rule_id, spec.code)
        else:
            assert spec.text and spec.note, (rule_id, spec.label)
    assert orders.CALCITONIN.code is None
    assert orders.SPINE_SURGERY_STAT.code is None and orders.PHYSIOTHERAPY.code is None


def test_feature_names_exist_and_missing_ones_have_words() -> None:
    """Rows name only Features fields; every field listed as missing has a label."""
    for rule in RULES:
        names = [*rule.uses, *rule.missing, *(u for p in (*rule.when, *rule.unless) for u in p.uses)]
        for name in names:
            assert name in FEATURE_FIELDS, (rule.id, name)
        for name in rule.missing:
            assert SPECS[name].missing, (rule.id, name)


def test_pathway_cards_offer_the_smart_link() -> None:
    """R21, R22, R24, R26 and R29 rows carry smart_link; others do not."""
    for rule in RULES:
        assert rule.smart_link == (rule.id in PATHWAY_RULES), rule.id


def test_red_flags_are_critical_and_stage_gates_cover_c_and_d() -> None:
    """Stage A cards are critical; the engine gates Stages C and D."""
    assert all(r.card.indicator == "critical" for r in RULES if r.stage == "A")
    assert set(STAGE_GATES) == {"C", "D"}


def test_knowledge_and_core_are_pure() -> None:
    """The tables and the core import neither flask, requests nor sqlalchemy, and never read the seeds."""
    service = Path(__file__).resolve().parents[2] / "service"
    paths = sorted((service / "knowledge").glob("*.py")) + sorted((service / "core").rglob("*.py"))
    assert len(paths) > 10
    for path in paths:
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import|from)\s+(flask|requests|sqlalchemy)\b", source, re.M), path.name
        assert not re.search(r"\bopen\(|seeds/", source), path.name


def test_core_does_not_import_the_knowledge() -> None:
    """Knowledge imports the core, never the other way: the tables reach the engine as compiled arguments."""
    core = Path(__file__).resolve().parents[2] / "service" / "core"
    allowed: set[str] = set()
    for path in sorted(core.rglob("*.py")):
        imports = re.findall(r"^\s*(?:from|import)\s+service\.knowledge\b.*$", path.read_text(encoding="utf-8"), re.M)
        assert set(i.strip() for i in imports) <= allowed, path.name


def test_rule_is_frozen() -> None:
    """Rows cannot be changed at run time."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        RULES[0].id = "X"  # type: ignore[misc]
    assert isinstance(RULES[0], Rule)
