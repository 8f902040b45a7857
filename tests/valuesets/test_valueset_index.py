"""ValueSetIndex: load checks, membership (exact, dot-insensitive, prefix, exclusion), lookups, junk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from service.core.valuesets import VS
from service.core.valuesets import ValueSetError
from service.core.valuesets import ValueSetIndex
from service.core.valuesets import normalise_icd10cm
from service.core.vocabulary import CPT
from service.core.vocabulary import DCM
from service.core.vocabulary import ICD10CM
from service.core.vocabulary import LOINC
from service.core.vocabulary import RXNORM
from service.core.vocabulary import SNOMED
from tests.valuesets.vs_builders import make_valueset

WriteDir = Callable[[dict[str, Any]], Path]


def _small() -> ValueSetIndex:
    """Two sets: 'frac' (exact codes + an ICD prefix row) and 'rest' (exclusion over a prefix)."""
    frac = make_valueset(
        "frac",
        concepts=((ICD10CM, "M80.08XA"), (SNOMED, "84138006"), (LOINC, "24968-0"), (DCM, "MR")),
        prefixes=("M48.5",),
        expansion=(
            (ICD10CM, "M80.08XA"),
            (SNOMED, "84138006"),
            (LOINC, "24968-0"),
            (DCM, "MR"),
            (ICD10CM, "M48.5"),
        ),
    )
    rest = make_valueset(
        "rest",
        prefixes=("M06", "M48.56"),
        expansion=((ICD10CM, "M06.9"), (ICD10CM, "M06.4")),
        exclude_prefixes=("M06.4",),
    )
    rest["expansion"]["contains"] = rest["expansion"]["contains"][:1]  # M06.4 is excluded, so not listed
    return ValueSetIndex.from_resources({"frac": frac, "rest": rest})


# -- membership --


@pytest.mark.parametrize("code", ["M80.08XA", "M8008XA", "m80.08xa", " M80.08XA ", "M80.08xA"])
def test_icd10cm_is_dot_and_case_insensitive(code: str) -> None:
    assert _small().contains("frac", ICD10CM, code)


@pytest.mark.parametrize("code", ["M48.56XA", "M4856XA", "m48.5", "M48.50", "M48.58XS"])
def test_icd10cm_prefix_rows_admit_every_code_below_them(code: str) -> None:
    assert _small().contains("frac", ICD10CM, code)


@pytest.mark.parametrize("code", ["M48", "M48.6", "M80.08", "M80.08XD", "M8", "", ".", "X"])
def test_icd10cm_codes_outside_the_set_do_not_match(code: str) -> None:
    assert not _small().contains("frac", ICD10CM, code)


@pytest.mark.parametrize(
    ("system", "code", "expected"),
    [
        (SNOMED, "84138006", True),
        (SNOMED, "8413800", False),  # no prefix matching outside ICD-10-CM
        (SNOMED, "84138006 ", False),  # exact means exact
        (LOINC, "24968-0", True),
        (LOINC, "249680", False),  # dots/dashes are only ignored for ICD-10-CM
        (DCM, "MR", True),
        (DCM, "mr", False),
        (ICD10CM, "84138006", False),  # right code, wrong system
        (RXNORM, "24968-0", False),
        ("http://snomed.info/sct/", "84138006", False),
        ("", "84138006", False),
    ],
)
def test_other_systems_match_exactly(system: str, code: str, expected: bool) -> None:
    assert _small().contains("frac", system, code) is expected


def test_exclusion_wins_over_a_prefix_row() -> None:
    index = _small()
    assert index.contains("rest", ICD10CM, "M06.9")
    assert index.contains("rest", ICD10CM, "M06.00")
    assert not index.contains("rest", ICD10CM, "M06.4")
    assert not index.contains("rest", ICD10CM, "m064")
    assert index.names_for(ICD10CM, "M06.4") == frozenset()


def test_exclusion_is_per_set() -> None:
    index = _small()
    # M48.56XA is in 'frac' (M48.5) and 'rest' (M48.56); 'rest' excludes only M06.4.
    assert index.names_for(ICD10CM, "M48.56XA") == frozenset({"frac", "rest"})


def test_names_for_is_the_reverse_of_contains() -> None:
    index = _small()
    assert index.names_for(ICD10CM, "m4856xa") == frozenset({"frac", "rest"})
    assert index.names_for(ICD10CM, "M48.5") == frozenset({"frac"})
    assert index.names_for(SNOMED, "84138006") == frozenset({"frac"})
    assert index.names_for(SNOMED, "0") == frozenset()


@pytest.mark.parametrize(
    ("system", "code"), [(None, "M48.5"), (ICD10CM, None), (ICD10CM, 485), ({}, []), (ICD10CM, "")]
)
def test_names_for_and_contains_tolerate_junk(system: Any, code: Any) -> None:
    index = _small()
    assert index.names_for(system, code) == frozenset()
    assert index.contains("frac", system, code) is False


def test_shipped_names_for_agrees_with_contains_for_every_listed_code(index: ValueSetIndex) -> None:
    names = sorted(index.names())
    keys = {(c.system, c.code) for n in names for c in index.concepts(n)}
    assert len(keys) > 5000
    for system, code in keys:
        expected = frozenset(n for n in names if index.contains(n, system, code))
        assert index.names_for(system, code) == expected, f"{system}|{code}"
        if system == ICD10CM:
            variant = normalise_icd10cm(code).lower()
            assert index.names_for(system, variant) == expected, f"{system}|{variant}"


# -- match --


def test_match_returns_the_first_matching_coding() -> None:
    wanted = {"system": ICD10CM, "code": "M48.56XA", "display": "Collapsed vertebra"}
    other = {"system": SNOMED, "code": "84138006"}
    assert _small().match("frac", [{"system": SNOMED, "code": "1"}, wanted, other]) is wanted


@pytest.mark.parametrize(
    "junk",
    [
        {},
        None,
        "M48.56XA",
        42,
        ["nested"],
        {"system": None, "code": "M48.56XA"},
        {"code": "M48.56XA"},
        {"system": ICD10CM},
        {"system": ICD10CM, "code": 4856},
        {"system": ICD10CM, "code": ""},
        {"system": ["x"], "code": {"y": 1}},
    ],
)
def test_match_skips_junk_codings(junk: Any) -> None:
    good = {"system": SNOMED, "code": "84138006"}
    index = _small()
    assert index.match("frac", [junk, good]) is good
    assert index.match("frac", [junk]) is None


@pytest.mark.parametrize("codings", [None, "M48.5", {"system": ICD10CM, "code": "M48.5"}, [], ()])
def test_match_tolerates_a_non_list(codings: Any) -> None:
    assert _small().match("frac", codings) is None


def test_match_accepts_any_iterable() -> None:
    codings = ({"system": DCM, "code": "MR"} for _ in range(2))
    assert _small().match("frac", codings) == {"system": DCM, "code": "MR"}


# -- display, evidence, concepts, names --


def test_display_and_evidence_of_listed_codes() -> None:
    index = _small()
    assert index.display("frac", ICD10CM, "m8008xa") == "display M80.08XA"
    assert index.evidence("frac", SNOMED, "84138006") == "V-A: test"
    assert index.display("frac", SNOMED, "99") is None
    assert index.evidence("frac", SNOMED, "99") is None


def test_prefix_only_member_has_prefix_evidence_and_no_display() -> None:
    index = _small()
    assert index.display("frac", ICD10CM, "M48.56XA") is None
    assert index.evidence("frac", ICD10CM, "M48.56XA") == "V-A: prefix M48.5"


def test_excluded_code_has_no_display_or_evidence() -> None:
    index = _small()
    assert index.evidence("rest", ICD10CM, "M06.4") is None
    assert index.concept("rest", ICD10CM, "M06.4") is None


def test_concepts_keep_file_order_and_written_form() -> None:
    codes = [c.code for c in _small().concepts("frac")]
    assert codes == ["M80.08XA", "84138006", "24968-0", "MR", "M48.5"]


def test_unknown_value_set_name_is_an_error() -> None:
    index = _small()
    for call in (
        lambda: index.contains("nope", SNOMED, "1"),
        lambda: index.match("nope", []),
        lambda: index.display("nope", SNOMED, "1"),
        lambda: index.evidence("nope", SNOMED, "1"),
        lambda: index.concepts("nope"),
    ):
        with pytest.raises(ValueSetError, match="nope"):
            call()


def test_names_and_title() -> None:
    index = _small()
    assert index.names() == frozenset({"frac", "rest"})
    assert index.title("frac") == "frac"  # no title in the file: falls back to the name


def test_shipped_display_is_kept_for_rules(index: ValueSetIndex) -> None:
    # The rules helper picks order codes by code and shows their display.
    assert index.display(VS.IMAGING_MRI, LOINC, "24968-0") == "MR Lumbar spine"
    assert index.display(VS.RX_NSAID, RXNORM, "5781") == "indomethacin"
    assert index.display(VS.PROC_VERTEBRAL_AUGMENTATION, CPT, "22514") is not None
    evidence = index.evidence(VS.LAB_VITAMIN_D, LOINC, "1989-3")
    assert evidence is not None and evidence.startswith("V-B:")


# -- loading: every broken file names itself --


def test_load_reads_a_directory(write_dir: WriteDir) -> None:
    directory = write_dir({"frac.json": make_valueset("frac", concepts=((SNOMED, "1"),))})
    index = ValueSetIndex.load(directory)
    assert index.names() == frozenset({"frac"})
    assert index.contains("frac", SNOMED, "1")


def _broken(mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    resource = make_valueset("bad", concepts=((SNOMED, "1"), (ICD10CM, "M81.0")), prefixes=("M80.0",))
    resource["expansion"]["contains"].append(
        {"extension": resource["expansion"]["contains"][0]["extension"], "system": ICD10CM, "code": "M80.0"}
    )
    mutate(resource)
    return resource


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(resource: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = resource
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return mutate


_DELETE = object()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set("resourceType", "CodeSystem"), "resourceType"),
        (_set("name", "other"), "is not 'Bme"),
        (_set("name", "rx-nsaid"), "is not 'Bme"),
        (_set("id", "other"), "does not match file name"),
        (_set("expansion.contains.0.system", _DELETE), "missing system"),
        (_set("expansion.contains.0.system", ""), "missing system"),
        (_set("expansion.contains.0.system", "http://example.org/codes"), "unknown system"),
        (_set("expansion.contains.0.code", _DELETE), "missing code"),
        (_set("expansion.contains.0.extension", _DELETE), "no evidence"),
        (_set("expansion.contains.0.extension.0.valueString", " "), "no evidence"),
        (_set("compose.include.0.system", _DELETE), "missing system"),
        (_set("compose.include.0.concept.0.extension", _DELETE), "no evidence"),
        (_set("compose.include.2.filter.0.extension", _DELETE), "no evidence"),
        (_set("compose.include.2.filter.0.op", "regex"), "is-a"),
        (_set("compose.include.2.system", SNOMED), "only supported for ICD-10-CM"),
        (_set("compose.include", []), "no codes"),
        (_set("compose", _DELETE), "compose missing"),
        (_set("expansion", _DELETE), "expansion missing"),
        (_set("expansion.contains", []), "expansion.contains is empty"),
        (_set("expansion.contains", {"not": "a list"}), "must be a list"),
        (_set("expansion.contains.0", "junk"), "not an object"),
        (_set("expansion.contains.0.code", "2"), "not in compose"),
        (_set("expansion.contains.1.code", "M80.01"), "absent from the expansion"),
        (_set("expansion.contains.2.code", "M81.0"), "duplicate"),
    ],
)
def test_broken_file_raises_naming_file_and_problem(
    write_dir: WriteDir, mutate: Callable[[dict[str, Any]], None], message: str
) -> None:
    good = make_valueset("good", concepts=((SNOMED, "1"),))
    directory = write_dir({"good.json": good, "bad.json": _broken(mutate)})
    with pytest.raises(ValueSetError) as caught:
        ValueSetIndex.load(directory)
    assert "bad.json" in str(caught.value)
    assert message in str(caught.value)


def test_the_broken_fixture_is_otherwise_valid(write_dir: WriteDir) -> None:
    # Guards the test above: without a mutation the same file loads.
    directory = write_dir({"bad.json": _broken(lambda r: None)})
    assert ValueSetIndex.load(directory).contains("bad", ICD10CM, "M80.08XA")


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2]", "\ufffe"])
def test_unreadable_or_non_object_json_names_the_file(write_dir: WriteDir, text: str) -> None:
    directory = write_dir({"broken.json": text})
    with pytest.raises(ValueSetError, match=r"broken\.json"):
        ValueSetIndex.load(directory)


def test_excluded_code_listed_in_expansion_is_refused(write_dir: WriteDir) -> None:
    resource = make_valueset(
        "ra",
        prefixes=("M06",),
        expansion=((ICD10CM, "M06.9"), (ICD10CM, "M06.4")),
        exclude_prefixes=("M06.4",),
    )
    with pytest.raises(ValueSetError, match=r"ra\.json.*M06\.4.*excluded"):
        ValueSetIndex.load(write_dir({"ra.json": resource}))


def test_missing_or_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueSetError, match="not found"):
        ValueSetIndex.load(tmp_path / "absent")
    with pytest.raises(ValueSetError, match="no \\*.json"):
        ValueSetIndex.load(tmp_path)


def test_nested_and_abstract_expansion_entries() -> None:
    resource = make_valueset("nest", concepts=((SNOMED, "1"), (SNOMED, "2")))
    first, second = resource["expansion"]["contains"]
    resource["expansion"]["contains"] = [{"abstract": True, "display": "group", "contains": [first, second]}]
    index = ValueSetIndex.from_resources({"nest": resource})
    assert [c.code for c in index.concepts("nest")] == ["1", "2"]
