"""The strict JSON parser's limits, including the cheap huge-string prefilter (no false negatives)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from service.errors import InvalidRequestError
from service.security import MAX_DEPTH
from service.security import MAX_STRING_CHARS
from service.security import json_problem
from service.security import may_hold_huge_string
from service.security import nests_deeper_than
from service.security import parse_json

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
@given(value=values, ensure_ascii=st.booleans(), indent=st.sampled_from([None, 1]), limit=st.integers(0, 6))
def test_byte_level_depth_check_agrees_with_the_parsed_value(
    value: Any, ensure_ascii: bool, indent: int | None, limit: int
) -> None:
    """Brackets, quotes and backslashes inside strings never fool the byte-level check, either way."""
    raw = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent).encode()
    assert nests_deeper_than(raw, limit) == (depth(value) > limit)
    assert nests_deeper_than(b"\xef\xbb\xbf" + raw, limit) == (depth(value) > limit)  # with a BOM


def test_depth_limit_is_exact() -> None:
    assert json_problem(_nest(MAX_DEPTH)) is None
    assert json_problem(_nest(MAX_DEPTH + 1)) == f"nesting deeper than {MAX_DEPTH} levels"
    for text in (json.dumps(_nest(MAX_DEPTH)), json.dumps({"unit": "mm[Hg]", "v": _nest(MAX_DEPTH - 1)})):
        parse_json(text.encode())
    for text in (json.dumps(_nest(MAX_DEPTH + 1)), json.dumps({"a": "]]]]", "v": _nest(MAX_DEPTH)})):
        with pytest.raises(InvalidRequestError, match="nesting deeper"):
            parse_json(text.encode())


def test_strings_and_keys_over_the_limit() -> None:
    assert json_problem({"a": "x" * (MAX_STRING_CHARS + 1)}) == "a string is too long"
    assert json_problem({"x" * (MAX_STRING_CHARS + 1): 1}) == "a key is too long"
    assert json_problem("x" * (MAX_STRING_CHARS + 1)) == "a string is too long"
    assert json_problem({"a": "x" * MAX_STRING_CHARS}) is None


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
