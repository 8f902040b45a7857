"""textfind.fold and the lower-case patterns: exactly what the re.I patterns they replaced matched.

Each old pattern is kept here only as the oracle. Patterns whose matches are only tested for truth are
compared on truth; patterns whose spans or groups are used are compared span for span.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import settings

from service.core.features import codes as f
from service.core.features.state import build_names
from service.core.textfind import fold
from service.core.valuesets import ValueSetIndex
from tests.features.oracle import RE_I_EXTRAS
from tests.features.oracle import same_matches
from tests.features.oracle import same_truth
from tests.features.oracle import texts
from tests.features.oracle import words_of


def test_fold_maps_exactly_what_re_i_equates_with_an_ascii_letter() -> None:
    letter = re.compile("[a-z]", re.I)  # same set as the 26 single-letter re.I patterns (checked once, slowly)
    expected = {chr(c): chr(c).lower() for c in range(ord("A"), ord("Z") + 1)}
    for code in range(0x80, 0x110000):
        ch = chr(code)
        if letter.fullmatch(ch):
            expected[ch] = next(p for p in "abcdefghijklmnopqrstuvwxyz" if re.fullmatch(p, ch, re.I))
    assert {k: (v,) for k, v in expected.items() if not k.isascii()} == {
        extra: (ascii_letter,) for ascii_letter, extras in RE_I_EXTRAS.items() for extra in extras
    }
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    folded = fold(every)
    assert len(folded) == len(every)
    changed = {a: b for a, b in zip(every, folded, strict=True) if a != b}
    assert changed == {k: v for k, v in expected.items() if k != v}


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("MRI L2", "mri l2"),
        ("", ""),
        ("\u0130V \u017fC \u212aYPHOPLASTY", "iv sc kyphoplasty"),
        ("Ödem İM", "Ödem im"),  # only re.I's ASCII look-alikes change; other letters keep their case
    ],
)
def test_fold_examples(text: str, folded: str) -> None:
    assert fold(text) == folded


# (name, the re.I pattern it replaced, the new pattern): only truth is used for these.
_OLD_TRUTH = [
    (
        "NON_SYSTEMIC",
        r"ophthalmic|\botic\b|topical|cutaneous|cream|ointment|lotion|\bgel\b|inhal|nasal|intra-?articular"
        r"|\bdental\b|\beye\b|\bear\b|\bskin\b",
        f.NON_SYSTEMIC,
    ),
    (
        "PARENTERAL",
        r"intravenous|\bIV\b|intramuscular|\bIM\b|subcutaneous|\bSC\b|\bSQ\b|injection|injectable|infusion"
        r"|prefilled\s+syringe|auto-?injector",
        f.PARENTERAL,
    ),
    (
        "PAIN_REASON",
        r"back\s+pain|bone\s+pain|marrow\s+o?edema|vertebral\s+fracture|compression\s+fracture",
        f.PAIN_REASON,
    ),
    ("BED_REST_WORDS", r"\bbed\s*-?\s*rest\b|\bstrict\s+immobili[sz]ation\b", f.BED_REST_WORDS),
    ("AUGMENTATION", r"vertebroplasty|kyphoplasty|vertebral\s+augmentation", f.AUGMENTATION),
    ("CORE_DECOMPRESSION", r"core\s+decompression", f.CORE_DECOMPRESSION),
    ("OFFLOADING", r"total\s+contact\s+cast|off-?loading", f.OFFLOADING),
    ("CABG", r"coronary\s+artery\s+bypass|\bCABG\b", f.CABG),
    ("MRI_TEXT", r"\bMRI\b|\bMR\b|magnetic\s+resonance", f.MRI_TEXT),
]

_TRICKY = [
    "IV",
    "iv.",
    "IVX",
    "XIV",
    "I.V.",
    "\u0130V push",
    "\u0131m",
    "S\u212a",
    "\u017fQ",
    "sub-cutaneous",
    "Subcutaneous Injection",
    "injectables",
    "Prefilled  Syringe",
    "prefilled\nsyringe",
    "autoinjector",
    "Auto-Injector",
    "auto--injector",
    "Otic",
    "otics",
    "ear drops",
    "Dear",
    "gel",
    "gels",
    "Eye",
    "eyelid",
    "skin-deep",
    "intraarticular",
    "Intra-Articular",
    "bed rest",
    "Bed-rest",
    "bedrest",
    "bed - rest",
    "bed rests",
    "strict immobilisation",
    "strict immobilization.",
    "CABG x3",
    "cabgs",
    "MR",
    "MRI",
    "MRIs",
    "MRA",
    "Magnetic Resonance",
    "Back  Pain",
    "marrow oedema",
    "marrow edema",
    "OFF-LOADING boot",
    "offloading",
    "Total contact cast",
    "Vertebral\taugmentation",
    "KYPHOPLASTY",
    "Core Decompression of hip",
]


@pytest.mark.parametrize(("name", "old", "new"), _OLD_TRUTH, ids=[n for n, _, _ in _OLD_TRUTH])
def test_new_patterns_are_lower_case_without_re_i(name: str, old: str, new: re.Pattern[str]) -> None:
    assert not new.flags & re.I
    assert new.pattern == new.pattern.lower() and new.pattern.isascii()


@pytest.mark.parametrize(("name", "old", "new"), _OLD_TRUTH, ids=[n for n, _, _ in _OLD_TRUTH])
def test_same_truth_on_tricky_text(name: str, old: str, new: re.Pattern[str]) -> None:
    oracle = re.compile(old, re.I)
    hits = 0
    for text in _TRICKY + [t.upper() for t in _TRICKY] + [f"x {t} y" for t in _TRICKY]:
        assert same_truth(oracle, new, text), text
        hits += oracle.search(text) is not None
    assert hits > 0  # the table exercises this pattern


@pytest.mark.parametrize(("name", "old", "new"), _OLD_TRUTH, ids=[n for n, _, _ in _OLD_TRUTH])
def test_same_truth_on_generated_text(name: str, old: str, new: re.Pattern[str]) -> None:
    oracle = re.compile(old, re.I)

    @settings(max_examples=150, deadline=None)
    @given(texts(words_of(old)))
    def check(text: str) -> None:
        assert same_truth(oracle, new, text)

    check()


def _old_names_pattern(index: ValueSetIndex) -> re.Pattern[str]:
    """The ingredient matcher as it was built before: the same names, re.I, on the original text."""
    names = set(build_names(index).classes) | set(f.NAME_SYNONYMS)
    source = r"\b(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")\b"
    return re.compile(source, re.I)


def test_ingredient_names_match_folded_text_like_re_i(valuesets: ValueSetIndex) -> None:
    names = build_names(valuesets)
    assert names.folded and names.pattern is not None
    old = _old_names_pattern(valuesets)
    assert names.pattern.flags & re.I == 0  # factored by prefix (textfind.word_alternation), same matches below
    for text in [
        "Naproxen sodium 220 MG Oral Tablet",
        "ALENDRONIC ACID 70 MG",
        "alendronic  acid",
        "zoledronate/zoledronic acid",
        "\u0130BUPROFEN 200 mg",  # re.I matches; the name as written lower-cases to 'i̇buprofen'
        "ibuprofen\u0131",
        "predni\u017fone",
        "Ibuprofen-Famotidine",
        "",
    ]:
        assert same_matches(old, names.pattern, text), text
        found = [text[m.start(1) : m.end(1)].lower() for m in names.pattern.finditer(fold(text))]
        assert found == [m.group(1).lower() for m in old.finditer(text)]


def test_ingredient_names_on_generated_text(valuesets: ValueSetIndex) -> None:
    names = build_names(valuesets)
    assert names.pattern is not None
    new = names.pattern
    old = _old_names_pattern(valuesets)

    @settings(max_examples=150, deadline=None)
    @given(texts(sorted(set(names.classes) | set(f.NAME_SYNONYMS))))
    def check(text: str) -> None:
        assert same_matches(old, new, text)

    check()
