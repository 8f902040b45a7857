"""DocumentReferences as report-like dicts, so report text in them reaches the radiology text finder.

Oracle Health offers no ImagingStudy (ehr-and-smart.md §2.3): imaging findings arrive as DiagnosticReports or
as DocumentReferences whose attachment holds the report text. `as_report` maps a DocumentReference onto the
DiagnosticReport fields the features extractor reads (status, code, date, presentedForm), keeping its own
resourceType and id so every card cites the real resource. Only inline `text/plain` data is read; an
attachment given by `url` (a Binary) is not fetched. Inline text/plain and text/html are read (HTML is reduced to
its text by the reader). Pure: plain dict access, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import Final

# DiagnosticReport status the extractor skips; used for documents that must not count.
EXCLUDED: Final = "entered-in-error"
_UNUSABLE_STATUS: Final = frozenset({"entered-in-error", "superseded"})  # DocumentReference.status
_UNUSABLE_DOC_STATUS: Final = frozenset({"entered-in-error"})  # DocumentReference.docStatus
_TEXT_TYPES: Final = ("text/plain", "text/html", "application/xhtml")


def as_report(document: Mapping[str, Any]) -> dict[str, Any]:
    """A DiagnosticReport-shaped view of a DocumentReference (same resourceType and id, for provenance)."""
    report: dict[str, Any] = {"resourceType": document.get("resourceType", "DocumentReference")}
    if isinstance(document.get("id"), str):
        report["id"] = document["id"]
    status = document.get("status")
    doc_status = document.get("docStatus")
    if status in _UNUSABLE_STATUS or doc_status in _UNUSABLE_DOC_STATUS:
        # A superseded document has a newer version; counting both would double its findings.
        report["status"] = EXCLUDED
        return report
    report["status"] = doc_status if isinstance(doc_status, str) else "final"
    concept = document.get("type")
    if isinstance(concept, dict):
        report["code"] = concept
    elif isinstance(document.get("description"), str) and document["description"].strip():
        report["code"] = {"text": document["description"]}
    context = document.get("context")
    period = context.get("period") if isinstance(context, dict) else None
    if isinstance(period, dict):
        report["effectivePeriod"] = period  # when the study was done
    if isinstance(document.get("date"), str):
        report["issued"] = document["date"]  # when the document was written
    forms = [content["attachment"] for content in _dicts(document.get("content"))
             if isinstance(content.get("attachment"), dict) and _is_plain_text(content["attachment"])]
    if forms:
        report["presentedForm"] = forms
    return report


def _is_plain_text(attachment: Mapping[str, Any]) -> bool:
    """Inline text/plain or text/html data (the report reader strips HTML; PDF and RTF are not parsed)."""
    content_type = attachment.get("contentType")
    return (isinstance(content_type, str) and content_type.lower().startswith(_TEXT_TYPES)
            and isinstance(attachment.get("data"), str))


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
