"""Radiology-report text detection: bone marrow edema and the findings around it (clinical-rules §1.2-§1.4).

No code exists for bone marrow edema (codes.md A1), so free text is a real source. This module turns one
report's text into `TextFinding`s, sentence by sentence, with negation ("no marrow edema") and request wording
("evaluate for BME") handled per clause. Pure module: only `re`, no FHIR, no flask, no requests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Site values (same strings as service.core.features SITE_*; repeated here so this module stays import-free).
SITE_VERTEBRA = "vertebra"
SITE_HIP = "hip_femoral_head"
SITE_KNEE = "knee"
SITE_FOOT_ANKLE = "foot_ankle"
SITE_SACROILIAC = "sacroiliac"

EXTENT_LIMITED = "limited"
EXTENT_EXTENSIVE = "extensive_full_vertebral_body"

MAX_TEXT_CHARS = 100_000  # a radiology report is a few kB; cap what we scan so a huge blob costs little
QUOTE_CHARS = 120  # Source.via quotes at most this much of the sentence

# Kept: case-insensitive matching at case-sensitive speed (re.I instead costs ~15% of extract on the bench
# bodies). Patterns that run per resource are written in lower case, compiled without re.I and searched in
# fold(text). fold maps exactly the characters re.I equates with a lower-case ASCII letter (A-Z and four others,
# found by trying every code point; tests/features/test_features_fold.py) to that letter, one character for
# one, so a match has the same span in the folded text as re.I gives in the original, and quotes are cut from
# the original.
_FOLD = str.maketrans(
    {chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)}
    | {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}  # İ ı ſ K (Kelvin sign)
)


def fold(text: str) -> str:
    """The text as lower-case patterns compiled without re.I see it: re.I's ASCII-letter equivalents folded."""
    return text.lower() if text.isascii() else text.translate(_FOLD)


def word_alternation(words: Iterable[str]) -> str:
    """A regex alternation matching the same words as '|'.join(longest first), factored by shared prefixes.

    Kept: Python's re tries every branch of a flat alternation at every position; the drug-name matcher's 158
    names cost 6-12 us per medication text flat and a fraction of that factored (docs/benchmarks.md, issue 11).
    A longer continuation is tried before a word ends, so with a trailing \\b the longest name wins, as flat.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}
    return _emit(trie)


def _emit(node: dict[str, Any]) -> str:
    branches = [re.escape(ch) + _emit(child) for ch, child in sorted(node.items()) if ch]
    if "" in node and branches:
        branches.append("")  # the word may end here; tried after every longer continuation
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")" if branches else ""


# The patterns are lower-case and run on fold(text) (above). Whole words share one \b(?:...)\b group, in
# the original order: the same matches as one \b...\b alternative per word, with fewer branches to try.
# clinical-rules.md §1.2 (d): the BME patterns.
_BME = re.compile(r"\b(?:bone\s+marrow\s+o?edema|marrow\s+o?edema|bme|bone\s+marrow\s+lesions?)\b")
# Sentence ends at . ; ! ? or a line break, but not at a decimal point ("1.5 cm").
# A "?" stays with its sentence (zero-width split after it): "Marrow edema at L1?" is a question.
_SENTENCE_END = re.compile(r"\.(?!\d)|(?<!\d)\.|[;!\n\r]+|(?<=\?)")
# A clause boundary stops a negation from reaching across: "No fracture, but marrow edema at L2". A bare comma
# is not one, because "no fracture, dislocation or marrow edema" is the commonest negated list in reports.
_CLAUSE_BREAK = re.compile(
    r"\b(?:but|however|although|though|whereas|while|except|and\s+there\s+(?:is|are)"
    r"|with\s+(?:new|associated|surrounding|adjacent))\b|:"
)
NEGATION_WINDOW = 8  # words from cue to finding: "no evidence of acute fracture, dislocation or BME"
_WORD = re.compile(r"[A-Za-z0-9]+")  # counted in the original text: fold() may join words (İ, ı, ſ, K)
# Negation cues before the finding ("no", "without", "negative for", "no evidence of" ...).
_NEG_BEFORE = re.compile(
    r"\b(?:no|not|without|negative\s+for|absence\s+of|free\s+of|resolved|resolution\s+of|no\s+longer|nor"
    r"|denies)\b"
)
# Negation cues after the finding ("marrow edema has resolved", "... is not seen").
_NEG_AFTER = re.compile(
    r"\b(?:(?:has|have)\s+resolved|resolved|not\s+(?:seen|present|identified|evident|visible|demonstrated)"
    r"|is\s+absent|no\s+longer|is\s+excluded)\b"
)
# Wording of a request or question, not a finding ("evaluate for BME", "r/o marrow edema").
_REQUEST = re.compile(
    r"\?|\b(?:evaluat(?:e|ion)\s+(?:for|of)|rule\s+out|r/o|assess(?:ment)?\s+(?:for|of)|query|to\s+exclude"
    r"|indication|clinical\s+(?:history|question))\b"
)
# "History of BME" / "previous marrow edema": the cue must sit right before the finding, because "prior
# fracture at T12 and marrow edema at L1" still reports current edema.
_HISTORY = re.compile(r"\b(?:history\s+of|prior|previous(?:ly)?)\b")
HISTORY_WINDOW = 1
# Uncertainty: enough for a red-flag suspicion (cord compression), not enough to assert BME.
_UNCERTAIN = re.compile(
    r"\b(?:possible|possibly|probable|suspect(?:ed)?|suspicious\s+for|concern(?:ing)?\s+for"
    r"|cannot\s+be\s+excluded|cannot\s+exclude|may\s+represent|equivocal|questionable)\b"
)

# Vertebral levels; T1/T2 are also MRI sequence names ("T2 hyperintense"), excluded by what follows them.
# "T1"/"T2" are also MRI sequence names ("STIR and T1", "sagittal T1", "T1 and STIR images"): those are not levels.
# The leading lookahead only restates what the group needs (a level letter and a digit): it lets the engine
# drop most positions before trying the eight lookbehinds (5x faster, same matches).
_LEVEL = re.compile(
    r"(?=[clst][1-9])(?<!stir and )(?<!stir, )(?<!stir/)(?<!sagittal )(?<!axial )(?<!coronal )(?<!t2 and )(?<!t1 and )"
    r"\b(c[1-7]|t1[0-2]|t[1-9]|l[1-5]|s1)\b(?!\s*[-/]?\s*(?:weighted|w\b|wi\b|hyper|hypo|signal|"
    r"sequence|image|imaging|stir|fat|fs\b|bright|dark|map|relax|\*|flair))"
    r"(?!\s*(?:and|,|/)\s*(?:stir|t1\b|t2\b|pd\b|fat|dwi|dixon))"
)
_VERTEBRA = re.compile(
    r"\b(?:vertebra(?:e|l)?|vertebral\s+bod(?:y|ies)|(?:lumbar|thoracic|cervical)\s+spine|endplates?|spinous"
    r"|pedicles?)\b"
)
_HIP = re.compile(r"\b(?:hips?|femoral\s+(?:head|neck))\b|\bacetabul\w*|\bproximal\s+femur\b")
_KNEE = re.compile(r"\b(?:knees?|tibial\s+plateau|femoral\s+condyles?)\b|\bpatell\w*|\bproximal\s+tibia\b")
_FOOT = re.compile(
    r"\b(?:foot|feet|ankles?|tal(?:us|ar)|calcane(?:us|al))\b|\bmetatars\w*"
    r"|\b(?:navicular|cuboid|cuneiform|tarsal|midfoot|hindfoot)\b"
)
_SI = re.compile(r"\b(?:sacroiliac|si\s+joints?|sacr(?:um|al))\b")

# Whole-vertebral-body wording. "Diffuse" counts only when it qualifies the edema or its signal ("diffuse
# marrow edema", "diffuse STIR hyperintense signal"), never another finding ("in the setting of diffuse
# osteopenia"): extensive BME must be positively documented (seed 002, conflict C1).
_EXTENSIVE = re.compile(
    r"\b(?:entire|whole|full|complete|throughout\s+the)\b[^.;]{0,40}?\bvertebral\s+bod(?:y|ies)\b"
    r"|\bdiffuse\s+(?:[a-z0-9/-]+\s+){0,3}?(?:o?edema|signal|hyperintens\w*|marrow)"
)
_LIMITED = re.compile(r"\b(?:focal|limited|partial|endplates?|confined|locali[sz]ed)\b")
# Fluid-sensitive signal wording radiologists use for marrow edema ("T2 hyperintense signal", "STIR
# hyperintensity", "increased T2/STIR signal", "hyperintense on STIR"). It is BME only in bone (_BONE nearby,
# no soft tissue named first): "T2 hyperintense signal in the cord" is myelopathy, not marrow edema.
_SIGNAL = re.compile(
    r"\b(?:t2|stir|fat[-\s]?(?:sat(?:urated)?|suppressed)|fluid[-\s]sensitive)(?:\s*/\s*(?:t2|stir))?"
    r"(?:[-\s]?weighted)?[-\s]+(?:hyperintens\w*|bright|high[-\s]signal)"
    r"|\bhyperintens\w*\s+(?:signal\s+)?on\s+(?:t2|stir)\b"
    r"|\b(?:increased|high|bright)\s+(?:t2|stir)(?:\s*/\s*(?:t2|stir))?(?:[-\s]weighted)?\s+signal"
)
# Bare "edema" is BME when a bone follows it in the clause ("edema replacing the whole T11 vertebral body").
_EDEMA = re.compile(r"\bo?edema\b")
_BONE = re.compile(
    r"\b(?:marrow|vertebral\s+bod(?:y|ies)|vertebrae?|endplates?|femoral\s+(?:head|neck|condyles?)|condyles?"
    r"|tibial\s+plateau|plateau|talus|talar|calcane(?:us|al)|navicular|cuboid|cuneiform|metatarsals?"
    r"|acetabul(?:um|ar)|sacrum|sacral|iliac|ilium|patella|bones?|osseous|subchondral)\b"
)
_SOFT = re.compile(
    r"\b(?:cord|discs?|disks?|muscles?|musculature|soft\s+tissues?|ligaments?|tendons?|fluid|effusions?|cysts?"
    r"|nerves?|roots?|collections?|abscess|subcutaneous|paraspinal|prevertebral|bursa|synovi\w*|menisc\w*"
    r"|cartilage|labr\w*|skin|fat\s+pad)\b"
)
BONE_CONTEXT_CHARS = 80  # how far after the wording its bone may be named
# "Marrow replacement" (and "marrow-replacing process") points to infiltration: malignancy until shown otherwise
# (seed 002 malignancy suspicion); with edema it is also BME ("marrow replacement and edema").
_MARROW_REPLACEMENT = re.compile(r"\bmarrow[-\s]replac(?:ement|ing)\b")
_OSTEONECROSIS = re.compile(r"\b(?:osteonecrosis|avascular\s+necrosis|avn)\b")
# Causes of BME a radiologist names (seed 003: traumatic, degenerative, inflammatory, neoplastic, ischaemic,
# infectious, metabolic). Read only when the same report asserts BME, and only asserted: "no fracture" and
# "osteonecrosis cannot be excluded" name no cause. Transient osteoporosis is left out: it is the diagnosis of
# exclusion R14 itself reads ("compatible with transient osteoporosis" must not count as another cause).
_CAUSE = re.compile(
    r"\b(?:fractures?|modic|schmorl|osteoarthriti[cs]|degenerat(?:ive|ion)|spondylosis|arthropathy"
    r"|osteonecrosis|avascular\s+necrosis|osteomyelitis|spondylodiscitis|discitis"
    r"|metasta(?:sis|ses|tic)|myeloma|bone\s+bruise|contusion|stress\s+reaction|sacroiliitis|enthesitis"
    r"|charcot|osteodystrophy)\b"
)
_DEEP_WORD = re.compile(r"\bdeep\b[^.;]{0,40}?(?:>|greater\s+than|more\s+than|over)\s*1(?:\.0)?\s*cm\b")
_DEPTH = re.compile(
    r"(\d+(?:\.\d+)?)\s*(cm|mm)\b[^.;]{0,30}?\b(?:from|beneath|below|deep\s+to)\b[^.;]{0,20}?"
    r"\b(?:articular|joint|subchondral|cortex|cortical|surface)"
)
_ON = re.compile(r"\b(?:rim\s+sign|double[-\s]line|crescent|serpiginous|(?:sclerotic|low[-\s]signal)\s+rim)\b")
_ISCHEMIC = re.compile(r"\bisch(?:a)?emi(?:a|c)\b|\binfarct\w*|\bavascular\b")
_NUM = r"(\d{1,3}(?:\.\d+)?)\s*%"
_KYPHOSIS = re.compile(rf"\bkyphos(?:is|otic)\b[^.;%]{{0,40}}?{_NUM}|{_NUM}\s*(?:of\s+)?(?:kyphosis|kyphotic)")
_HEIGHT_LOSS = re.compile(
    rf"\bheight\s+loss\b[^.;%]{{0,30}}?{_NUM}|{_NUM}\s*(?:vertebral\s+)?(?:body\s+)?height\s+loss"
    rf"|\bloss\s+of\s+{_NUM}\s*(?:of\s+)?(?:the\s+)?(?:vertebral\s+)?(?:body\s+)?height|{_NUM}\s*loss\s+of\s+"
    rf"(?:the\s+)?(?:vertebral\s+)?(?:body\s+)?height"
)
_RETROPULSION = re.compile(r"\bretropuls(?:ion|ed)\b")
_CORD = re.compile(
    r"\b(?:(?:spinal\s+)?cord\s+compression|compress(?:ion|ing)\s+(?:of\s+)?the\s+(?:spinal\s+)?cord"
    r"|cauda\s+equina\s+compression|compression\s+of\s+the\s+cauda\s+equina)\b"
)
_ANKYLOSIS = re.compile(r"\b(?:ankylos(?:is|ed)|bamboo\s+spine)\b")
_SPECT = re.compile(r"\bspect(?:/ct|-ct)?\b")
_DECT = re.compile(r"\b(?:dual[-\s]energy\s+ct|dect)\b")
# Kept: most report text names no finding; this search, once on the whole text and once per sentence, saves
# about a third of extract on the bench's real-patient body. Every pattern in _TRIGGERS (which start every
# finding) needs one of these words; tests/features/test_features_textfind_patterns.py checks they stay in step.
_ANY_KEYWORD = re.compile(
    r"o?edema|\bbme\b|marrow|kyphos|kyphotic|height|retropuls|cord|cauda|rim\b|double|crescent|serpiginous"
    r"|ankylos|bamboo|spect|dual|dect|hyperintens|bright|signal|necrosis|avn|fracture|modic|schmorl|osteoarthriti"
    r"|degenerat|spondylo|arthropathy|osteomyelitis|discitis|metasta|myeloma|bruise|contusion|stress"
    r"|sacroiliitis|enthesitis|charcot|osteodystrophy"
)
_TRIGGERS = (
    _BME, _ON, _KYPHOSIS, _HEIGHT_LOSS, _RETROPULSION, _CORD, _ANKYLOSIS, _SPECT, _DECT, _SIGNAL, _EDEMA,
    _MARROW_REPLACEMENT, _OSTEONECROSIS, _CAUSE,
)


@dataclass(frozen=True)
class TextFinding:
    """What one report said, with the sentence that said it (quoted in Source.via)."""

    kind: str  # one of the KIND_* values
    value: object  # True/False for flags, str for site/level/extent, float for percentages
    quote: str  # the sentence, trimmed to QUOTE_CHARS


KIND_BME = "bme"  # value True (asserted) or False (explicitly negated)
KIND_SITE = "site"
KIND_LEVEL = "level"
KIND_EXTENT = "extent"
KIND_DEEP = "deep_gt_1cm"
KIND_ON = "on_features"
KIND_ISCHEMIC = "ischemic"
KIND_KYPHOSIS = "kyphosis_pct"
KIND_HEIGHT_LOSS = "height_loss_pct"
KIND_RETROPULSION = "retropulsion"
KIND_CORD = "cord_compression"
KIND_ANKYLOSIS = "ankylosis"
KIND_SPECT = "spect_ct"
KIND_DECT = "dual_energy_ct"
KIND_MARROW_REPLACEMENT = "marrow_replacement"
KIND_CAUSE = "cause"  # value: the cause as written ("Schmorl node" -> "schmorl")
KIND_ON_UNSETTLED = "on_unsettled"  # osteonecrosis named as possible: a negated rim sign does not settle it


def quote(sentence: str) -> str:
    """The sentence, whitespace-collapsed and trimmed to QUOTE_CHARS for a Source.via."""
    text = " ".join(sentence.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 3].rstrip() + "..."


def sentences(text: str) -> list[str]:
    """Split report text into sentences (not at decimal points), dropping empty pieces."""
    return [s.strip() for s in _SENTENCE_END.split(text[:MAX_TEXT_CHARS]) if s.strip()]


def _clause_start(low: str, pos: int) -> int:
    """Start of the clause containing `pos`: after the last clause break before it."""
    start = 0
    for m in _CLAUSE_BREAK.finditer(low, 0, pos):
        start = m.end()
    return start


def _clause_end(low: str, pos: int) -> int:
    """End of the clause containing `pos`: the next clause break after it."""
    m = _CLAUSE_BREAK.search(low, pos)
    return m.start() if m else len(low)


def _within_window(cue: re.Pattern[str], before: str, low: str, window: int = NEGATION_WINDOW) -> bool:
    """True when `cue` occurs in `low` (folded `before`) within `window` words before the finding (NegEx)."""
    last: re.Match[str] | None = None
    for m in cue.finditer(low):
        last = m
    if last is None:
        return False
    return len(_WORD.findall(before[last.end() :])) <= window


def _polarity(sentence: str, low: str, start: int, end: int) -> str:
    """'negated', 'request', 'uncertain' or 'asserted' for the match at sentence[start:end], within its clause.

    `low` is fold(sentence).
    """
    c_start = _clause_start(low, start)
    c_end = _clause_end(low, end)
    before, before_low = sentence[c_start:start], low[c_start:start]
    after = low[end:c_end]
    if _within_window(_NEG_BEFORE, before, before_low) or _NEG_AFTER.search(after):
        return "negated"
    if _within_window(_HISTORY, before, before_low, HISTORY_WINDOW):
        return "request"  # "history of BME": a past finding, not a current one
    # A request ("evaluate for BME") can sit anywhere in the sentence, typically an indication line.
    if _REQUEST.search(low[:start]) or _REQUEST.search(after):
        return "request"
    if _UNCERTAIN.search(before_low) or _UNCERTAIN.search(after):
        return "uncertain"
    return "asserted"


_RANK = {"asserted": 3, "uncertain": 2, "request": 1, "negated": 0}


def _strongest(sentence: str, low: str, spans: list[tuple[int, int]]) -> str | None:
    """Polarity of the strongest of these mentions (asserted beats the rest), or None when there is none."""
    best: str | None = None
    for start, end in spans:
        p = _polarity(sentence, low, start, end)
        if p == "asserted":
            return p  # nothing ranks higher: the other mentions need not be judged
        if best is None or _RANK[p] > _RANK[best]:
            best = p
    return best


def _first_polarity(sentence: str, low: str, pattern: re.Pattern[str]) -> str | None:
    """Polarity of the strongest mention of `pattern` in the sentence (asserted beats the rest), or None."""
    return _strongest(sentence, low, [m.span() for m in pattern.finditer(low)])


def _in_bone(low: str, start: int, end: int) -> bool:
    """A bone is named after the wording in its clause (a level counts), with no soft tissue named first."""
    window = low[end : min(_clause_end(low, end), end + BONE_CONTEXT_CHARS)]
    bone = _BONE.search(window)
    level = _LEVEL.search(window)
    first = min((m.start() for m in (bone, level) if m is not None), default=None)
    if first is None:
        return False
    soft = _SOFT.search(window, 0, first)
    before = low[max(_clause_start(low, start), start - 25) : start]
    return soft is None and not _SOFT.search(before)


def _bme_spans(low: str) -> list[tuple[int, int]]:
    """Where the sentence names marrow edema: the BME terms, and signal or edema wording placed in a bone."""
    spans = [m.span() for m in _BME.finditer(low)]
    if "hyperintens" in low or "bright" in low or "signal" in low:
        spans += [m.span() for m in _SIGNAL.finditer(low) if _in_bone(low, m.start(), m.end())]
    if not spans:  # bare "edema" only when no other wording already names the finding
        spans += [m.span() for m in _EDEMA.finditer(low) if _in_bone(low, m.start(), m.end())]
    return spans


def _sites(low: str) -> list[str]:
    """sites_in() of folded text."""
    found: list[str] = []
    # _VERTEBRA first: the cheaper of the two, and either one is enough.
    if _VERTEBRA.search(low) or _LEVEL.search(low):
        found.append(SITE_VERTEBRA)
    if _SI.search(low):
        found.append(SITE_SACROILIAC)
    if _HIP.search(low):
        found.append(SITE_HIP)
    if _KNEE.search(low):
        found.append(SITE_KNEE)
    if _FOOT.search(low):
        found.append(SITE_FOOT_ANKLE)
    return found


def sites_in(text: str) -> list[str]:
    """Body sites named in a piece of text, in a fixed order."""
    return _sites(fold(text))


def _levels(text: str, low: str) -> list[str]:
    """levels_in() of `text`, given `low` = fold(text)."""
    out: list[str] = []
    for m in _LEVEL.finditer(low):
        level = text[m.start(1) : m.end(1)].upper()  # as written, like re.I's match of the original
        if level not in out:
            out.append(level)
    return out


def levels_in(text: str) -> list[str]:
    """Vertebral levels named in the text ("L1", "T12"), upper-cased, in order, without repeats."""
    return _levels(text, fold(text))


def _percent(pattern: re.Pattern[str], low: str) -> float | None:
    """The first percentage the pattern captures in the (folded) sentence, or None."""
    if "%" not in low:  # every percentage pattern needs one; a miss costs these patterns ~8 us per sentence
        return None
    m = pattern.search(low)
    if not m:
        return None
    for g in m.groups():
        if g is not None:
            return float(g)
    return None


def _depth(low: str) -> bool | None:
    """True when BME is described deeper than 1 cm from the articular surface, False when shallower."""
    if _DEEP_WORD.search(low):
        return True
    m = _DEPTH.search(low)
    if not m:
        return None
    value = float(m.group(1)) / (10.0 if m.group(2) == "mm" else 1.0)
    return value > 1.0


def find(text: str) -> list[TextFinding]:
    """All findings in one report's text; BME facts only from sentences that assert BME."""
    if not _ANY_KEYWORD.search(fold(text[:MAX_TEXT_CHARS])):
        return []
    found: list[TextFinding] = []
    all_sentences = [(s, fold(s)) for s in sentences(text)]
    bme_asserted = False
    causes: list[TextFinding] = []
    for sentence, low in all_sentences:
        if not _ANY_KEYWORD.search(low):
            continue
        q = quote(sentence)
        bme = _strongest(sentence, low, _bme_spans(low))
        if bme == "asserted":
            bme_asserted = True
            found.append(TextFinding(KIND_BME, True, q))
            sites = _sites(low)
            for site in sites:
                found.append(TextFinding(KIND_SITE, site, q))
            levels = _levels(sentence, low)
            if levels:
                found.append(TextFinding(KIND_LEVEL, ", ".join(levels), q))
            # Whole-body wording counts only when the sentence is about a vertebra and does not deny it ("not
            # involving the entire vertebral body").
            if SITE_VERTEBRA in sites and _first_polarity(sentence, low, _EXTENSIVE) == "asserted":
                found.append(TextFinding(KIND_EXTENT, EXTENT_EXTENSIVE, q))
            elif _LIMITED.search(low):
                found.append(TextFinding(KIND_EXTENT, EXTENT_LIMITED, q))
            deep = _depth(low)
            if deep is not None:
                found.append(TextFinding(KIND_DEEP, deep, q))
            if _ISCHEMIC.search(low):
                found.append(TextFinding(KIND_ISCHEMIC, True, q))
        elif bme == "negated":
            found.append(TextFinding(KIND_BME, False, q))
        for m in _CAUSE.finditer(low):
            if _polarity(sentence, low, m.start(), m.end()) == "asserted":
                causes.append(TextFinding(KIND_CAUSE, m.group(0), q))
                break
        if _first_polarity(sentence, low, _MARROW_REPLACEMENT) == "asserted":
            found.append(TextFinding(KIND_MARROW_REPLACEMENT, True, q))
        if "necrosis" in low or "avn" in low:
            necrosis = _first_polarity(sentence, low, _OSTEONECROSIS)
            if necrosis in ("uncertain", "request"):  # "early osteonecrosis cannot be excluded"
                found.append(TextFinding(KIND_ON_UNSETTLED, True, q))
            elif necrosis == "asserted":
                found.append(TextFinding(KIND_ON, True, q))
        on = _first_polarity(sentence, low, _ON)
        if on in ("asserted", "uncertain"):
            found.append(TextFinding(KIND_ON, True, q))
        elif on == "negated":  # "without the characteristic rim sign" (seed 001) points to TBMES, not osteonecrosis
            found.append(TextFinding(KIND_ON, False, q))
        kyphosis = _percent(_KYPHOSIS, low)
        if kyphosis is not None:
            found.append(TextFinding(KIND_KYPHOSIS, kyphosis, q))
        height = _percent(_HEIGHT_LOSS, low)
        if height is not None:
            found.append(TextFinding(KIND_HEIGHT_LOSS, height, q))
        retro = _first_polarity(sentence, low, _RETROPULSION)
        if retro == "asserted":
            found.append(TextFinding(KIND_RETROPULSION, True, q))
        elif retro == "negated":
            found.append(TextFinding(KIND_RETROPULSION, False, q))
        cord = _first_polarity(sentence, low, _CORD)
        # A red flag needs suspicion only (clinical-rules §1.4): "possible cord compression" counts.
        if cord in ("asserted", "uncertain"):
            found.append(TextFinding(KIND_CORD, True, q))
        elif cord == "negated":
            found.append(TextFinding(KIND_CORD, False, q))
        if _first_polarity(sentence, low, _ANKYLOSIS) == "asserted":
            found.append(TextFinding(KIND_ANKYLOSIS, True, q))
        if _SPECT.search(low):
            found.append(TextFinding(KIND_SPECT, True, q))
        if _DECT.search(low):
            found.append(TextFinding(KIND_DECT, True, q))
    if bme_asserted:
        found.extend(causes)
    if bme_asserted and not any(f.kind == KIND_SITE for f in found):
        # No site in the BME sentence: fall back to sites named elsewhere in the same report.
        for sentence, low in all_sentences:
            if _strongest(sentence, low, _bme_spans(low)) in ("negated", "request"):
                continue
            for site in _sites(low):
                found.append(TextFinding(KIND_SITE, site, quote(sentence)))
            levels = _levels(sentence, low)
            if levels and not any(f.kind == KIND_LEVEL for f in found):
                found.append(TextFinding(KIND_LEVEL, ", ".join(levels), quote(sentence)))
    return found


def has_spect(text: str) -> bool:
    """True when the text names SPECT or SPECT/CT."""
    return bool(_SPECT.search(fold(text[:MAX_TEXT_CHARS])))


def has_dect(text: str) -> bool:
    """True when the text names dual-energy CT."""
    return bool(_DECT.search(fold(text[:MAX_TEXT_CHARS])))
