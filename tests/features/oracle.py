"""Helpers for proving a rewritten pattern equal to the one it replaced: tricky text and span comparison.

The request path matches lower-case patterns, compiled without re.I, against `textfind.fold(text)`. These
helpers generate text that stresses exactly what that rewrite could get wrong: case, the four non-ASCII
characters re.I equates with ASCII letters, word boundaries, hyphens and whitespace between the words.
"""

from __future__ import annotations

import re

from hypothesis import strategies as st

from service.core.textfind import fold

# Characters re.I matches to an ASCII letter besides its two cases (every code point was tried).
RE_I_EXTRAS = {"i": ("\u0130", "\u0131"), "s": ("\u017f",), "k": ("\u212a",)}
SEPARATORS = (" ", "  ", "-", "_", "/", "\n", ", ", ". ", "?", ":", "%", "1", "é", "\u00a0", "")


def words_of(*sources: str) -> list[str]:
    """The literal words and word runs ("no longer") of regex sources, lower-cased: raw material for text."""
    out: set[str] = set()
    for source in sources:
        spaced = re.sub(r"\\s[+*]|\[-\\s\]", " ", source)  # "no\s+longer" -> "no longer"
        plain = re.sub(r"\\[A-Za-z]", " ", spaced)  # drop escapes (\b, \w, \d) before taking words
        out.update(w.lower() for w in re.findall(r"[A-Za-z]{2,}", plain))
        out.update(w.lower() for w in re.findall(r"[A-Za-z]{2,}(?: [A-Za-z]{2,})+", plain))
    return sorted(out)


@st.composite
def _mangled(draw: st.DrawFn, words: list[str]) -> str:
    """One word, possibly cut short, in a random mix of cases and re.I's non-ASCII look-alikes."""
    word = draw(st.sampled_from(words))
    if draw(st.booleans()):
        word = word[: draw(st.integers(1, len(word)))] + draw(st.sampled_from(("", "s", "ed", "x", "1")))
    out = []
    for ch in word:
        choice = draw(st.integers(0, 5))
        if choice == 0:
            out.append(ch.upper())
        elif choice == 1 and ch in RE_I_EXTRAS:
            out.append(draw(st.sampled_from(RE_I_EXTRAS[ch])))
        else:
            out.append(ch)
    return "".join(out)


def texts(words: list[str]) -> st.SearchStrategy[str]:
    """Text made of the pattern's own words (mangled), separators and a little arbitrary text."""
    separator = st.one_of(st.sampled_from(SEPARATORS), st.sampled_from(SEPARATORS), st.text(max_size=2))
    piece = st.tuples(_mangled(words), separator).map("".join)
    return st.lists(piece, max_size=12).map("".join)


def spans(pattern: re.Pattern[str], text: str) -> list[tuple[tuple[int, int], ...]]:
    """Every match's span and its groups' spans, in order."""
    return [(m.span(),) + tuple(m.span(g) for g in range(1, (pattern.groups or 0) + 1)) for m in pattern.finditer(text)]


def same_matches(old: re.Pattern[str], new: re.Pattern[str], text: str) -> bool:
    """True when `new` on fold(text) matches exactly where `old` (re.I) matches on the text."""
    return spans(old, text) == spans(new, fold(text))


def same_truth(old: re.Pattern[str], new: re.Pattern[str], text: str) -> bool:
    """True when `new` finds something in fold(text) exactly when `old` finds something in the text."""
    return (old.search(text) is None) == (new.search(fold(text)) is None)
