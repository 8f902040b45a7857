"""textfind's lower-case patterns on fold(text): span for span what the re.I patterns they replaced matched.

The old patterns live here only, as oracles. Also checks the per-sentence keyword pre-check in find(): a
sentence is skipped only when no pattern find() applies to a sentence could match it.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import settings

from service.core import textfind as t
from service.core.textfind import fold
from tests.features.oracle import same_matches
from tests.features.oracle import texts
from tests.features.oracle import words_of

# The patterns as they were (compiled with re.I, run on the original text).
OLD: dict[str, str] = {
    "_BME": (
        r"\bbone\s+marrow\s+o?edema\b|\bmarrow\s+o?edema\b|\bBME\b|\bbone\s+marrow\s+lesions?\b"
    ),
    "_CLAUSE_BREAK": (
        r"\bbut\b|\bhowever\b|\balthough\b|\bthough\b|\bwhereas\b|\bwhile\b|\bexcept\b|\band\s+there"
        r"\s+(?:is|are)\b|\bwith\s+(?:new|associated|surrounding|adjacent)\b|:"
    ),
    "_NEG_BEFORE": (
        r"\bno\b|\bnot\b|\bwithout\b|\bnegative\s+for\b|\babsence\s+of\b|\bfree\s+of\b|\bresolved\b|"
        r"\bresolution\s+of\b|\bno\s+longer\b|\bnor\b|\bdenies\b"
    ),
    "_NEG_AFTER": (
        r"\b(?:has|have)\s+resolved\b|\bresolved\b|\bnot\s+(?:seen|present|identified|evident|visibl"
        r"e|demonstrated)\b|\bis\s+absent\b|\bno\s+longer\b|\bis\s+excluded\b"
    ),
    "_REQUEST": (
        r"\bevaluat(?:e|ion)\s+(?:for|of)\b|\brule\s+out\b|\br/o\b|\bassess(?:ment)?\s+(?:for|of)\b|"
        r"\bquery\b|\bto\s+exclude\b|\?|\bindication\b|\bclinical\s+(?:history|question)\b"
    ),
    "_HISTORY": (
        r"\bhistory\s+of\b|\bprior\b|\bprevious(?:ly)?\b"
    ),
    "_UNCERTAIN": (
        r"\bpossible\b|\bpossibly\b|\bprobable\b|\bsuspect(?:ed)?\b|\bsuspicious\s+for\b|\bconcern(?"
        r":ing)?\s+for\b|\bcannot\s+be\s+excluded\b|\bcannot\s+exclude\b|\bmay\s+represent\b|\bequiv"
        r"ocal\b|\bquestionable\b"
    ),
    "_LEVEL": (
        r"(?<!stir and )(?<!stir, )(?<!stir/)(?<!sagittal )(?<!axial )(?<!coronal )(?<!t2 and )(?<!t"
        r"1 and )\b(C[1-7]|T1[0-2]|T[1-9]|L[1-5]|S1)\b(?!\s*[-/]?\s*(?:weighted|w\b|wi\b|hyper|hypo|"
        r"signal|sequence|image|imaging|stir|fat|fs\b|bright|dark|map|relax|\*|flair))(?!\s*(?:and|,"
        r"|/)\s*(?:stir|t1\b|t2\b|pd\b|fat|dwi|dixon))"
    ),
    "_VERTEBRA": (
        r"\bvertebra(?:e|l)?\b|\bvertebral\s+bod(?:y|ies)\b|\b(?:lumbar|thoracic|cervical)\s+spine\b"
        r"|\bendplates?\b|\bspinous\b|\bpedicles?\b"
    ),
    "_HIP": (
        r"\bhips?\b|\bfemoral\s+(?:head|neck)\b|\bacetabul\w*|\bproximal\s+femur\b"
    ),
    "_KNEE": (
        r"\bknees?\b|\btibial\s+plateau\b|\bfemoral\s+condyles?\b|\bpatell\w*|\bproximal\s+tibia\b"
    ),
    "_FOOT": (
        r"\bfoot\b|\bfeet\b|\bankles?\b|\btal(?:us|ar)\b|\bcalcane(?:us|al)\b|\bmetatars\w*|\bnavicu"
        r"lar\b|\bcuboid\b|\bcuneiform\b|\btarsal\b|\bmidfoot\b|\bhindfoot\b"
    ),
    "_SI": (
        r"\bsacroiliac\b|\bSI\s+joints?\b|\bsacr(?:um|al)\b"
    ),
    "_EXTENSIVE": (
        # issue 12: "diffuse" only when it qualifies the edema or its signal (not "diffuse osteopenia")
        r"\b(?:entire|whole|full|complete|throughout\s+the)\b[^.;]{0,40}?\bvertebral\s+bod(?:y|ies)\b"
        r"|\bdiffuse\s+(?:[a-z0-9/-]+\s+){0,3}?(?:o?edema|signal|hyperintens\w*|marrow)"
    ),
    "_LIMITED": (
        r"\bfocal\b|\blimited\b|\bpartial\b|\bendplates?\b|\bconfined\b|\blocali[sz]ed\b"
    ),
    "_DEEP_WORD": (
        r"\bdeep\b[^.;]{0,40}?(?:>|greater\s+than|more\s+than|over)\s*1(?:\.0)?\s*cm\b"
    ),
    "_DEPTH": (
        r"(\d+(?:\.\d+)?)\s*(cm|mm)\b[^.;]{0,30}?\b(?:from|beneath|below|deep\s+to)\b[^.;]{0,20}?\b("
        r"?:articular|joint|subchondral|cortex|cortical|surface)"
    ),
    "_ON": (
        r"\brim\s+sign\b|\bdouble[-\s]line\b|\bcrescent\b|\bserpiginous\b|\b(?:sclerotic|low[-\s]sig"
        r"nal)\s+rim\b"
    ),
    "_ISCHEMIC": (
        r"\bisch(?:a)?emi(?:a|c)\b|\binfarct\w*|\bavascular\b"
    ),
    "_KYPHOSIS": (
        r"\bkyphos(?:is|otic)\b[^.;%]{0,40}?(\d{1,3}(?:\.\d+)?)\s*%|(\d{1,3}(?:\.\d+)?)\s*%\s*(?:of\s+)?(?:kyphosis|kyphotic)"
    ),
    "_HEIGHT_LOSS": (
        r"\bheight\s+loss\b[^.;%]{0,30}?(\d{1,3}(?:\.\d+)?)\s*%|(\d{1,3}(?:\.\d+)?)\s*%\s*(?:vertebr"
        r"al\s+)?(?:body\s+)?height\s+loss|\bloss\s+of\s+(\d{1,3}(?:\.\d+)?)\s*%\s*(?:of\s+)?(?:the\s+)?(?:vertebral\s+)?(?:body\s+)?height|(\d{1,3}(?:\.\d+)?)\s*%\s*loss\s+of\s+(?:the\s+)?("
        r"?:vertebral\s+)?(?:body\s+)?height"
    ),
    "_RETROPULSION": (
        r"\bretropuls(?:ion|ed)\b"
    ),
    "_CORD": (
        r"\b(?:spinal\s+)?cord\s+compression\b|\bcompress(?:ion|ing)\s+(?:of\s+)?the\s+(?:spinal\s+)"
        r"?cord\b|\bcauda\s+equina\s+compression\b|\bcompression\s+of\s+the\s+cauda\s+equina\b"
    ),
    "_ANKYLOSIS": (
        r"\bankylos(?:is|ed)\b|\bbamboo\s+spine\b"
    ),
    "_SPECT": (
        r"\bSPECT(?:/CT|-CT)?\b"
    ),
    "_ANY_KEYWORD": (
        r"o?edema|\bbme\b|marrow|kyphos|kyphotic|height|retropuls|cord|cauda|rim\b|double|crescent|s"
        r"erpiginous|ankylos|bamboo|spect|dual|dect|hyperintens|bright|signal|necrosis|avn|fracture|"
        r"modic|schmorl|osteoarthriti|degenerat|spondylo|arthropathy|osteomyelitis|discitis|metasta|"
        r"myeloma|bruise|contusion|stress|sacroiliitis|enthesitis|charcot|osteodystrophy"
    ),
    "_DECT": (
        r"\bdual[-\s]energy\s+CT\b|\bDECT\b"
    ),
    "_SIGNAL": (  # issue 12
        r"\b(?:t2|stir|fat[-\s]?(?:sat(?:urated)?|suppressed)|fluid[-\s]sensitive)(?:\s*/\s*(?:t2|st"
        r"ir))?(?:[-\s]?weighted)?[-\s]+(?:hyperintens\w*|bright|high[-\s]signal)|\bhyperintens\w*\s"
        r"+(?:signal\s+)?on\s+(?:t2|stir)\b|\b(?:increased|high|bright)\s+(?:t2|stir)(?:\s*/\s*(?:t2"
        r"|stir))?(?:[-\s]weighted)?\s+signal"
    ),
    "_EDEMA": (  # issue 12
        r"\bo?edema\b"
    ),
    "_MARROW_REPLACEMENT": (  # issue 12
        r"\bmarrow[-\s]replac(?:ement|ing)\b"
    ),
    "_OSTEONECROSIS": (  # issue 12
        r"\b(?:osteonecrosis|avascular\s+necrosis|avn)\b"
    ),
    "_CAUSE": (  # issue 12
        r"\b(?:fractures?|modic|schmorl|osteoarthriti[cs]|degenerat(?:ive|ion)|spondylosis|arthropat"
        r"hy|osteonecrosis|avascular\s+necrosis|osteomyelitis|spondylodiscitis|discitis|metasta(?:si"
        r"s|ses|tic)|myeloma|bone\s+bruise|contusion|stress\s+reaction|sacroiliitis|enthesitis|charc"
        r"ot|osteodystrophy)\b"
    ),
}
NEW: dict[str, re.Pattern[str]] = {name: getattr(t, name) for name in OLD}
ALL_WORDS = words_of(*OLD.values())

# What find() applies to each sentence that passes the keyword pre-check (the rest need a _BME match first).
PER_SENTENCE = (
    "_BME", "_ON", "_KYPHOSIS", "_HEIGHT_LOSS", "_RETROPULSION", "_CORD", "_ANKYLOSIS", "_SPECT", "_DECT",
    "_SIGNAL", "_EDEMA", "_MARROW_REPLACEMENT", "_OSTEONECROSIS", "_CAUSE",
)


def test_the_triggers_are_the_per_sentence_patterns() -> None:
    assert t._TRIGGERS == tuple(NEW[name] for name in PER_SENTENCE)

TRICKY = [
    "MRI lumbar spine: bone marrow edema involving the entire L2 vertebral body, with a mild compression",
    "STIR and T1: marrow oedema at L1",
    "Sagittal T2 hyperintense signal at T12, T1 and STIR images",
    "\u017f1 and L5; \u0130schemic infarction; \u212ayphosis 30%",
    "No evidence of acute fracture, dislocation or BME.",
    "marrow edema has resolved, but new BME at L3 though possibly not",
    "Evaluate for bone marrow lesions? r/o cord compression",
    "loss of 40% of the vertebral body height; 25 % height loss; height loss of 20%",
    "3 mm beneath the articular surface; deep, more than 1.0 cm",
    "Rim sign, double-line, low-signal rim, SPECT/CT, DECT, dual-energy CT, bamboo spine, ankylosed",
    "acetabulum, patellar, metatarsals, SI joints, sacral, femoral condyle, tibial plateau, talar dome",
    "compressing the spinal cord; compression of the cauda equina",
    "history of prior previously BME; clinical question; assessment of; to exclude; query",
    "focal, limited or partial edema at the endplates; retropulsion; retropulsed; 20% kyphotic",
    "no longer seen; not present; is absent; is excluded; have resolved; free of; absence of; negative for; nor",
    "T2/STIR hyperintense signal; increased STIR signal; hyperintense on T2; marrow replacement; AVN; oedema",
    "Schmorl node, Modic change, compression fracture, facet arthropathy, metastatic disease, bone bruise",
]


@pytest.mark.parametrize("name", list(OLD))
def test_new_pattern_is_lower_case_without_re_i(name: str) -> None:
    new = NEW[name]
    assert not new.flags & re.I
    assert new.pattern == new.pattern.lower() and new.pattern.isascii()


@pytest.mark.parametrize("name", list(OLD))
def test_same_matches_on_tricky_text(name: str) -> None:
    old = re.compile(OLD[name], re.I)
    hits = 0
    for text in TRICKY + [x.upper() for x in TRICKY] + [x.swapcase() for x in TRICKY]:
        assert same_matches(old, NEW[name], text), text
        hits += old.search(text) is not None
    assert hits > 0  # the table exercises this pattern


@pytest.mark.parametrize("name", list(OLD))
def test_same_matches_on_generated_text(name: str) -> None:
    old = re.compile(OLD[name], re.I)
    words = words_of(OLD[name]) or ALL_WORDS

    @settings(max_examples=100, deadline=None)
    @given(texts(words))
    def check(text: str) -> None:
        assert same_matches(old, NEW[name], text)

    check()


@settings(max_examples=300, deadline=None)
@given(texts(ALL_WORDS))
def test_keyword_precheck_covers_every_per_sentence_pattern(text: str) -> None:
    low = fold(text)
    if any(NEW[name].search(low) for name in PER_SENTENCE):
        assert t._ANY_KEYWORD.search(low)


@pytest.mark.parametrize(
    "text",
    [
        "Marrow edema at L1",
        "BME",
        "double line sign",
        "sclerotic rim",
        "kyphosis of 30%",
        "30% kyphotic",
        "15% height loss",
        "retropulsed fragment",
        "cauda equina compression",
        "bamboo spine",
        "SPECT-CT",
        "dual energy CT",
    ],
)
def test_keyword_precheck_passes_each_finding(text: str) -> None:
    assert t.find(text)  # each of these is a finding, so the pre-check must let its sentence through
    assert t._ANY_KEYWORD.search(fold(text))
