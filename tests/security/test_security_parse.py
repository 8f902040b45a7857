"""The strict JSON parser's limits, including the cheap huge-string prefilter (no false negatives)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from service.errors import InvalidRequestError
from service.web import jsonin
from service.web.security import MAX_DEPTH
from service.web.security import MAX_STRING_CHARS
from service.web.security import may_hold_huge_string
from service.web.security import parse_json
from service.web.security import string_problem

LIMIT = 8
tricky_text = st.text(
    alphabet=st.sampled_from(['"', "\\", "a", "é", "\n", "{", "]", "[", "}", "\u2028", "\U0001f600"]), max_size=20
)
values = st.recursive(
    st.none() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky_text, inner, max_size=4),
    max_leaves=20,
)


def longest_string(value: Any) -> int:
    """Length of the longest string or key anywhere in a JSON value."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return max([0, *map(len, value), *map(longest_string, value.values())])
    if isinstance(value, list):
        return max([0, *map(longest_string, value)])
    return 0


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(value=values, ensure_ascii=st.booleans(), pad=st.integers(min_value=0, max_value=20))
def test_prefilter_never_misses_a_long_string(value: Any, ensure_ascii: bool, pad: int) -> None:
    raw = (" " * pad + json.dumps({"v": value}, ensure_ascii=ensure_ascii)).encode()
    if longest_string(value) > LIMIT:
        assert may_hold_huge_string(raw, limit=LIMIT)


def test_prefilter_is_quiet_on_ordinary_fhir() -> None:
    resource = {
        "resourceType": "Observation",
        "valueQuantity": {"unit": "mm[Hg]"},
        "note": [{"text": 'a "b" \\ c'}],
    }
    raw = json.dumps({"entry": [{"resource": resource}] * 50_000}).encode()
    assert len(raw) > MAX_STRING_CHARS and not may_hold_huge_string(raw)


def _nest(depth: int) -> Any:
    value: Any = 0
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def depth(value: Any) -> int:
    """Container nesting depth of a JSON value (a scalar is 0, [] is 1)."""
    if isinstance(value, dict):
        return 1 + max([0, *map(depth, value.values())])
    if isinstance(value, list):
        return 1 + max([0, *map(depth, value)])
    return 0


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(value=values, ensure_ascii=st.booleans(), indent=st.sampled_from([None, 1]), limit=st.integers(0, 6),
       bom=st.booleans())
def test_depth_bound_agrees_with_the_parsed_value(
    value: Any, ensure_ascii: bool, indent: int | None, limit: int, bom: bool
) -> None:
    """Brackets, quotes and backslashes inside strings never fool the depth bound, either way."""
    assume(not _big_int(value))  # refused for their size first (tested below)
    raw = (b"\xef\xbb\xbf" if bom else b"") + json.dumps(value, ensure_ascii=ensure_ascii, indent=indent).encode()
    if depth(value) > limit:
        with pytest.raises(jsonin.JsonRefused, match=f"nesting deeper than {limit} levels"):
            jsonin.loads(raw, max_depth=limit)
    else:
        assert jsonin.loads(raw, max_depth=limit) == value


def test_orjson_refuses_documents_deeper_than_the_depth_the_bound_relies_on() -> None:
    """jsonin bounds depth by orjson's own limit; a new orjson with another limit must fail here, not weaken it."""
    limit = jsonin.ORJSON_MAX_DEPTH
    assert orjson.loads(b"[" * limit + b"]" * limit) is not None
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(b"[" * (limit + 1) + b"]" * (limit + 1))


@pytest.mark.parametrize("raw", [b"1], [2", b"1]]]], [[[[2", b"], [", b"", b"  ", b"{}], [{}", b"[1], [2]"])
def test_text_that_is_not_one_json_value_is_refused_even_between_brackets(raw: bytes) -> None:
    with pytest.raises(jsonin.JsonRefused):
        jsonin.loads(raw, max_depth=MAX_DEPTH)


REFUSED = object()
JSON_BYTES = st.sampled_from([b'"', b"\\", b"{", b"}", b"[", b"]", b",", b":", b"0", b"9", b"-", b"e", b".", b" ",
                              b"\xef\xbb\xbf", b"\xff", b"\\ud800", b"NaN", b"Infinity", b"1e400", b"99999999999"])


def _standard_library(raw: bytes) -> Any:
    """What the standard library makes of a body under our rules, or REFUSED."""
    try:
        value = json.loads(raw.decode("utf-8-sig"), parse_constant=_reject, parse_float=_finite)
    except (ValueError, RecursionError):
        return REFUSED
    return REFUSED if _lone(value) else value


def _reject(name: str) -> Any:
    raise ValueError(name)


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value, *(s for v in value.values() for s in _strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _lone(value: Any) -> bool:
    try:
        for text in _strings(value):
            text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _big_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not -(2**63) <= value < 2**64
    if isinstance(value, dict):
        return any(map(_big_int, value.values()))
    if isinstance(value, list):
        return any(map(_big_int, value))
    return False


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(value=values, ensure_ascii=st.booleans(), bom=st.booleans())
def test_parse_json_returns_what_the_standard_library_returns(value: Any, ensure_ascii: bool, bom: bool) -> None:
    raw = (b"\xef\xbb\xbf" if bom else b"") + json.dumps({"v": value}, ensure_ascii=ensure_ascii).encode()
    expected = json.loads(raw.decode("utf-8-sig"))
    if _big_int(expected):  # integers beyond 64 bits are refused with their reason, never read as floats
        with pytest.raises(InvalidRequestError, match="integer is out of range"):
            parse_json(raw)
    else:
        assert parse_json(raw) == expected


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(value=values, edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 2), JSON_BYTES), max_size=3))
def test_parse_json_accepts_only_what_the_standard_library_accepts(
    value: Any, edits: list[tuple[int, int, bytes]]
) -> None:
    """Damaged bodies: the fast parser never accepts what the standard library refuses, nor reads it differently."""
    raw = json.dumps({"v": value}).encode()
    for where, cut, insert in edits:
        at = where % (len(raw) + 1)
        raw = raw[:at] + insert + raw[at + cut :]
    try:
        ours = parse_json(raw)
    except InvalidRequestError:
        ours = REFUSED
    theirs = _standard_library(raw)
    if theirs is REFUSED or _big_int(theirs):  # integers beyond 64 bits are refused too
        assert ours is REFUSED
    else:
        assert ours == theirs


def test_depth_limit_is_exact() -> None:
    for text in (json.dumps(_nest(MAX_DEPTH)), json.dumps({"unit": "mm[Hg]", "v": _nest(MAX_DEPTH - 1)})):
        parse_json(text.encode())
    for text in (json.dumps(_nest(MAX_DEPTH + 1)), json.dumps({"a": "]]]]", "v": _nest(MAX_DEPTH)})):
        with pytest.raises(InvalidRequestError, match="nesting deeper"):
            parse_json(text.encode())


def test_strings_and_keys_over_the_limit() -> None:
    assert string_problem({"a": "x" * (MAX_STRING_CHARS + 1)}) == "a string is too long"
    assert string_problem({"x" * (MAX_STRING_CHARS + 1): 1}) == "a key is too long"
    assert string_problem("x" * (MAX_STRING_CHARS + 1)) == "a string is too long"
    assert string_problem({"a": "x" * MAX_STRING_CHARS}) is None


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps({"a": "\\" * (MAX_STRING_CHARS + 1)}).encode(),  # escapes: raw bytes double, still refused
        json.dumps({"a": '"' * (MAX_STRING_CHARS + 1)}).encode(),
        json.dumps({"a": "é" * (MAX_STRING_CHARS + 1)}, ensure_ascii=False).encode(),
        json.dumps({"a": ["x" * (MAX_STRING_CHARS + 1)]}).encode(),
    ],
)
def test_parse_json_refuses_huge_strings_however_escaped(raw: bytes) -> None:
    with pytest.raises(InvalidRequestError, match="too long"):
        parse_json(raw)


def test_parse_json_accepts_a_bom_and_returns_the_value() -> None:
    assert parse_json(b"\xef\xbb\xbf" + json.dumps({"a": [1, "\U0001f600"]}).encode()) == {
        "a": [1, "\U0001f600"]
    }


@pytest.mark.parametrize("raw", [b'{"a": "\\ud800"}', b'{"\\udfff": 1}', b'["\\uDBFF x"]'])
def test_lone_surrogates_are_refused(raw: bytes) -> None:
    with pytest.raises(InvalidRequestError, match="surrogate"):
        parse_json(raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"egfr": 1e400}', "number is out of range"),
        (b'{"egfr": -1e400}', "number is out of range"),
        (b'{"egfr": NaN}', "NaN is not a JSON number"),
        (b'{"egfr": Infinity}', "Infinity is not a JSON number"),
        (b'{"egfr": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"n": ' + b"9" * 5000 + b"}", "integer has more than 400 digits"),
        (b'{"n": 18446744073709551616}', "integer is out of range"),
        (b'{"n": 1' + b"0" * 500 + b'.5}', "number has more than 400 characters"),
    ],
)
def test_numbers_out_of_range_are_refused_with_their_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidRequestError, match=reason) as refused:
        parse_json(raw)
    assert "UTF-8" not in refused.value.message


def test_numbers_at_the_edges_of_the_range_are_read_exactly() -> None:
    assert parse_json(b'{"a": 18446744073709551615, "b": -9223372036854775808, "c": 1e308}') == {
        "a": 2**64 - 1, "b": -(2**63), "c": 1e308,
    }
    assert parse_json(b'{"id": "12345678901234567890123"}') == {"id": "12345678901234567890123"}


@pytest.mark.parametrize(
    ("raw", "strict_path"),
    [
        (b'{"a": 123456789012345678901}', True),  # a number token orjson would read as a float
        (b"12345678901234567890123", True),  # a bare top-level number
        (b' [1,12345678901234567890123 ]', True),
        (b'{"a":-12345678901234567890.5e3}', True),
        (b'{"a": "Person seed: -7877903654466619471  Population: 1"}', False),  # digits inside text (Synthea)
        (b'{"a": "id 1234567890123456789012345"}', False),
        (b'{"a": 1}', False),
    ],
)
def test_only_long_number_tokens_take_the_strict_path(raw: bytes, strict_path: bool) -> None:
    """Long digit runs inside strings keep orjson's fast path; a long number token is still checked strictly."""
    from service.web import jsonin

    assert jsonin._long_number_outside_strings(raw) is strict_path
