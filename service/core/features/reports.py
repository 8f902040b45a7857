"""Imaging: DiagnosticReports, DocumentReferences and ImagingStudies, their report text, and the BME features."""

from __future__ import annotations

import base64
import binascii
import html
import re
from datetime import date
from typing import Any

from service.core import docrefs
from service.core import textfind
from service.core.facts import Fact
from service.core.facts import Source
from service.core.features.codes import CT_SETS
from service.core.features.codes import EXCLUDED_STATUS
from service.core.features.codes import FRACTURE_SETS
from service.core.features.codes import MRI_SETS
from service.core.features.codes import MRI_TEXT
from service.core.features.codes import NOT_DONE_STATUS
from service.core.features.codes import REGION_SITES
from service.core.features.codes import REPORT_SECTIONS
from service.core.features.codes import TEXT_FLAGS
from service.core.features.contract import EXTENT_EXTENSIVE
from service.core.features.contract import EXTENT_LIMITED
from service.core.features.fhirjson import all_text
from service.core.features.fhirjson import concept_text
from service.core.features.fhirjson import dicts
from service.core.features.fhirjson import effective_date
from service.core.features.fhirjson import parse_date
from service.core.features.fhirjson import ref_of
from service.core.features.fhirjson import short
from service.core.features.fhirjson import string
from service.core.features.state import FALSE
from service.core.features.state import UNKNOWN
from service.core.features.state import Extraction
from service.core.features.state import newest
from service.core.valuesets import VS

MAX_PRESENTED_BYTES = 200_000  # presentedForm data larger than this is not decoded (reports are a few kB)


def diagnostic_report(ex: Extraction, r: dict[str, Any]) -> None:
    """A DiagnosticReport: imaging done, coded conclusions and findings in its text."""
    status = string(r.get("status")).lower()
    if status in EXCLUDED_STATUS:
        return
    names = ex.classify(r.get("code"))
    conclusion_codes = dicts(r.get("conclusionCode"))
    text = string(r.get("conclusion"))
    forms = r.get("presentedForm")
    if forms is not None:  # most reports are lab panels without one
        text = "\n".join(p for p in [text, *(_attachment_text(form) for form in dicts(forms))] if p)
    if not (names or conclusion_codes or text):
        return  # most reports (lab panels): no coded study, no conclusion, nothing below would use them
    when = effective_date(r)
    label = concept_text(r.get("code")) or "Diagnostic report"
    src = Source(ref_of(r), short(f"Report: {label}"), when)
    if not names & MRI_SETS and status not in NOT_DONE_STATUS and _names_mri(r, text):
        # An MRI known only by an EHR-internal code or a document title ("MRI LUMBAR SPINE WO CONTRAST").
        names = names | {VS.IMAGING_MRI}
        src = Source(src.reference, src.display, when, via="report title names an MRI")
    imaging(ex, names, when, src)
    for c_names in (ex.classify(cc) for cc in conclusion_codes):
        if VS.BME_PROXY in c_names or VS.TRANSIENT_OSTEOPOROSIS in c_names:
            ex.acc.yes("bme_present", Source(src.reference, src.display, when, via="report conclusion code"))
            if when is not None:
                ex.bme_dates.append(when)
        if c_names & FRACTURE_SETS:
            ex.acc.yes(
                "vertebral_fracture",
                Source(src.reference, src.display, when, via="report conclusion code"),
            )
    if text:
        region = [s for n, s in REGION_SITES.items() if n in names] or textfind.sites_in(label)
        report_text(ex, r, text, when, region_sites=tuple(region))


def _names_mri(r: dict[str, Any], text: str) -> bool:
    """The report's own title names an MRI; a DocumentReference must also read as a radiology report."""
    if not MRI_TEXT.search(textfind.fold(all_text(r.get("code")))):
        return False
    return r.get("resourceType") != "DocumentReference" or bool(REPORT_SECTIONS.search(textfind.fold(text)))


def document_reference(ex: Extraction, r: dict[str, Any]) -> None:
    """An imaging report sent as a DocumentReference (Oracle Health, when no ImagingStudy is available; issue 7)."""
    diagnostic_report(ex, docrefs.as_report(r))


def imaging(ex: Extraction, names: frozenset[str], when: date | None, src: Source) -> None:
    """Imaging done (MRI date, CT, bone scan, WBC scan) from a study's, report's or procedure's codes."""
    if names & MRI_SETS and when is not None:
        if ex.last_mri is None or when > ex.last_mri[0]:
            ex.last_mri = (when, src)
    if names & CT_SETS:
        ex.acc.yes("dect_or_ct_done", src)
    if VS.IMAGING_NM_BONE in names:
        ex.acc.yes("bone_scan_done", src)
    if VS.IMAGING_WBC_SCAN in names:
        ex.acc.yes("wbc_scan_done", src)


def report_text(ex: Extraction, r: dict[str, Any], text: str, when: date | None, region_sites: tuple[str, ...]) -> None:
    """Findings in free text (clinical-rules §1.2 source d); each gets a Source quoting its sentence."""
    found = textfind.find(text)
    if not found:
        return
    ref = ref_of(r)
    kind = string(r.get("resourceType")) or "Resource"
    display = short(f"{kind} text")  # the same for every finding of this text

    def src(q: str) -> Source:
        return Source(ref, display, when, via=f"report text: '{q}'")

    bme = False
    for f in found:
        if f.kind == textfind.KIND_BME:
            if f.value is True:
                bme = True
                ex.acc.yes("bme_present", src(f.quote))
                ex.acc.yes("bme_from_report_text", src(f.quote))
                if when is not None:
                    ex.bme_dates.append(when)
            else:
                ex.acc.no("bme_present", src(f.quote))
        elif f.kind == textfind.KIND_SITE:
            ex.sites.setdefault(str(f.value), []).append(src(f.quote))
        elif f.kind == textfind.KIND_LEVEL:
            ex.levels.append((str(f.value), src(f.quote)))
        elif f.kind == textfind.KIND_EXTENT:
            ex.extent.setdefault(str(f.value), []).append(src(f.quote))
        elif f.kind == textfind.KIND_CAUSE:
            ex.acc.yes("cause_in_report", src(f.quote))
        elif f.kind in TEXT_FLAGS:
            feature = TEXT_FLAGS[f.kind]
            if f.value is True:
                ex.acc.yes(feature, src(f.quote))
            else:
                ex.acc.no(feature, src(f.quote))
        elif f.kind in (textfind.KIND_KYPHOSIS, textfind.KIND_HEIGHT_LOSS):
            feature = "kyphosis_pct" if f.kind == textfind.KIND_KYPHOSIS else "height_loss_pct"
            ex.put_newest(feature, when, float(f.value), src(f.quote))  # type: ignore[arg-type]
    if bme and region_sites and not any(f.kind == textfind.KIND_SITE for f in found):
        # The text names no site: the report's own code says which region was imaged.
        for site in region_sites:
            ex.sites.setdefault(site, []).append(
                Source(ref, short(f"{kind}: imaged region"), when, via="report code (imaged region)")
            )


def imaging_study(ex: Extraction, r: dict[str, Any]) -> None:
    """An ImagingStudy: which imaging was done, by modality, procedure code and description."""
    status = string(r.get("status")).lower()
    if status in EXCLUDED_STATUS:
        return
    when = parse_date(r.get("started"))
    names: set[str] = set()
    for modality in dicts(r.get("modality")):
        names |= ex.classify(modality)
    for series in dicts(r.get("series")):
        names |= ex.classify(series.get("modality"))
    for code in dicts(r.get("procedureCode")):
        names |= ex.classify(code)
    description = string(r.get("description"))
    texts = " ".join([description, *(all_text(c) for c in dicts(r.get("procedureCode")))])
    if not names & MRI_SETS and status not in NOT_DONE_STATUS and MRI_TEXT.search(textfind.fold(texts)):
        names.add(VS.IMAGING_MRI)  # an MRI known only by an EHR-internal procedure code and its words
    label = description or ", ".join(sorted(n.split("-", 1)[-1].upper() for n in names if n.startswith("modality-")))
    src = Source(ref_of(r), short(f"Imaging study: {label or 'imaging'}"), when)
    imaging(ex, frozenset(names), when, src)
    if description:
        if textfind.has_spect(description):
            ex.acc.yes("spect_ct_done", src)
        if textfind.has_dect(description):
            ex.acc.yes("dect_or_ct_done", src)


def bme_features(ex: Extraction) -> dict[str, Any]:
    """bme_present and what the imaging said about it."""
    out: dict[str, Any] = {}
    acc = ex.acc
    positives = acc.true.get("bme_present", [])
    negatives = acc.false.get("bme_present", [])
    newest_pos = newest(positives)
    newest_neg = newest(negatives)
    if positives and not (newest_neg is not None and (newest_pos is None or newest_neg > newest_pos)):
        present: Fact[bool] = Fact(True, tuple(positives), newest_pos)
    elif negatives:
        # Either no positive at all, or a newer report says the edema is gone ("has resolved").
        present = Fact(False, tuple(negatives), newest_neg)
    else:
        present = UNKNOWN
    out["bme_present"] = present
    for feature in (
        "on_features",
        "ischemic_bme",
        "bme_deep_gt_1cm",
        "bone_scan_done",
        "wbc_scan_done",
        "dect_or_ct_done",
        "spect_ct_done",
    ):
        out[feature] = acc.flag(feature)
    if out["on_features"].value is False and "on_features_unsettled" in acc.true:
        out["on_features"] = UNKNOWN  # "no crescent sign ... osteonecrosis cannot be excluded": not settled
    imaging_seen = bool(ex.acc.seen_types & {"ImagingStudy", "DiagnosticReport"})
    for feature in ("bone_scan_done", "wbc_scan_done", "dect_or_ct_done", "spect_ct_done"):
        if not out[feature].known and imaging_seen:
            out[feature] = FALSE
    if ex.last_mri is not None:
        out["last_mri_date"] = Fact(ex.last_mri[0], (ex.last_mri[1],), ex.last_mri[0])
    for feature in ("kyphosis_pct", "height_loss_pct", "ramris_bme_score"):
        if feature in ex.text_values:
            when, value, src = ex.text_values[feature]
            out[feature] = Fact(float(value), (src,), when)
    if not present.true:
        return out
    text = acc.true.get("bme_from_report_text", [])
    out["bme_from_report_text"] = Fact(True, tuple(text)) if text else FALSE
    if ex.sites:
        out["bme_sites"] = Fact(frozenset(ex.sites), tuple(s for v in ex.sites.values() for s in v))
    if ex.levels:
        ordered: list[str] = []
        for level, _ in ex.levels:
            for part in level.split(", "):
                if part not in ordered:
                    ordered.append(part)
        out["bme_vertebral_level"] = Fact(", ".join(ordered), tuple(s for _, s in ex.levels))
    # Unknown extent stays unknown: it must never trigger the extensive pathway (R21).
    if EXTENT_EXTENSIVE in ex.extent:
        out["bme_extent"] = Fact(EXTENT_EXTENSIVE, tuple(ex.extent[EXTENT_EXTENSIVE]))
    elif EXTENT_LIMITED in ex.extent:
        out["bme_extent"] = Fact(EXTENT_LIMITED, tuple(ex.extent[EXTENT_LIMITED]))
    if ex.bme_dates:
        first = min(ex.bme_dates)
        out["bme_first_seen_date"] = Fact(first, tuple(s for s in positives if s.date == first), first)
    return out


_TAG_BREAK = re.compile(r"<\s*(?:br|/p|/div|/li|/h[1-6]|/tr|p|div|li|h[1-6]|tr)\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]*>")
_SCRIPT = re.compile(r"<\s*(script|style)\b.*?<\s*/\s*\1\s*>", re.I | re.S)
_CHARSET = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9._-]+)")


def _attachment_text(form: dict[str, Any]) -> str:
    """Text of a text/plain or text/html attachment (base64 `data`, its charset), capped; else ''."""
    content_type = string(form.get("contentType")).lower()
    is_html = content_type.startswith(("text/html", "application/xhtml"))
    if content_type and not (content_type.startswith("text/plain") or is_html):
        return ""
    data = form.get("data")
    if not isinstance(data, str) or not data or len(data) > MAX_PRESENTED_BYTES * 4 // 3 + 4:
        return ""
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return ""
    charset = _CHARSET.search(content_type)
    try:
        text = raw[:MAX_PRESENTED_BYTES].decode(charset.group(1) if charset else "utf-8", errors="replace")
    except LookupError:  # an unknown charset name: read it as UTF-8
        text = raw[:MAX_PRESENTED_BYTES].decode("utf-8", errors="replace")
    return html_text(text) if is_html or text.lstrip()[:1] == "<" and "</" in text else text


def html_text(markup: str) -> str:
    """The text of an HTML report: block tags become line breaks (sentence ends), entities decoded."""
    text = _SCRIPT.sub(" ", markup)
    text = _TAG_BREAK.sub("\n", text)
    return html.unescape(_TAG.sub(" ", text))
