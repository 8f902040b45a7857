"""textfind.word_alternation: the prefix-factored drug-name matcher finds exactly what the flat one finds."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from service.core.textfind import word_alternation

WORDS = st.sets(st.text(alphabet="ab c-.", min_size=1, max_size=6).map(str.strip).filter(bool), min_size=1, max_size=8)


def _flat(words: set[str]) -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b")


@settings(max_examples=800, deadline=None, derandomize=True, database=None)
@given(words=WORDS, text=st.text(alphabet="ab c-.x", max_size=24))
def test_factored_alternation_matches_the_flat_one(words: set[str], text: str) -> None:
    factored = re.compile(r"\b(" + word_alternation(words) + r")\b")
    assert [m.span(1) for m in factored.finditer(text)] == [m.span(1) for m in _flat(words).finditer(text)]


def test_the_longest_name_wins_where_names_share_a_prefix() -> None:
    pattern = re.compile(r"\b(" + word_alternation(["co", "codeine", "codeine phosphate"]) + r")\b")
    assert [m.group(1) for m in pattern.finditer("codeine phosphate 30 mg, co-codamol, codeine")] == [
        "codeine phosphate", "co", "codeine"]
