"""What changed in the rule set, and why: docs/rules.md lists it for the clinical governance group.

One row per change a clinician would notice (which rules fire, what a card says or offers), with the finding
that prompted it. Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    """One change to the rule set: the ids it touches, what changed, and why."""

    ids: str
    what: str
    why: str


RULESET_CHANGES: tuple[Change, ...] = (
    Change("S01-S14", "Every gate that applies reports, not only the one that decided; a gate that makes a drug "
           "class not advised (absolute, or \"avoid\": S05 from 20 weeks, S13 with latent TB or infection) removes "
           "that class from every card, leads the safety cards, and rewrites the pathway summary that recommended it.",
           "At 24 weeks of pregnancy the NSAID stayed one click away behind a missing-eGFR card."),
    Change("S01-S07", "NSAID risks are one safety card, one line per risk; an absolute risk, or "
           "`nsaid.stacked_risks_avoid` (2) relative ones, means no NSAID is offered. Age 65+ counts only with "
           "another risk. S08-S11 likewise share one bone-drug card. The count of 2 is a local default that the "
           "governance group must confirm (not from the seeds or a label).",
           "Three separate NSAID warnings never escalated when risks stacked."),
    Change("S08-S11, S13", "When the preferred IV bisphosphonate waits for a lab, the other drug classes on that card "
           "become text only and the lab orders are the one-click suggestions.",
           "TNF-alpha inhibitors were the only one-click orders for a patient with untreated latent TB."),
    Change("S01, S11", "Dialysis or ESRD (conditions and procedures) makes NSAIDs an absolute S01 concern and applies "
           "S11 to denosumab.", "On dialysis the pathway still recommended an NSAID, with no kidney card."),
    Change("S12", "Fires from coded benzodiazepines and other CNS depressants (CDC and VSAC value sets) with an "
           "opioid.",
           "S12 could never fire from the data."),
    Change("S07", "Indomethacin is no longer suggested at 65 or older, so no card warns about the service's own "
           "suggestion; a clinician's indomethacin draft still gets S07.",
           "S07 warned about indomethacin the service had just suggested."),
    Change("S01-S14 (order hooks)", "Draft-order gates run only with BME or a vertebral fracture on record.",
           "NSAID warnings appeared on order hooks for patients with no BME; the EHR's own drug checks cover them."),
    Change("all", "Informational rules (R05, R14, R19, R23, R25, R28, R31, R35, R36, R37) are folded into the pathway "
           "card as one line each; the card lists every rule id it carries in its `bme-cds-rules` extension, and "
           "feedback on it counts for each of them.",
           "Independent review: 4.4 cards per patient-view (up to 10) in an EHR frame; card-style target one "
           "pathway card per hook."),
    Change("all", "Card detail is Based on / Missing / Safety / Why / Source, at most 900 characters, with short "
           "seed citations; the full basis is the public rule page (`source.url`, /rules/<id>).",
           "Cards averaged 1,366 characters (up to 2,712) with boilerplate, file names and resource ids."),
    Change("R06-R10", "Red-flag summaries keep the seeds' urgency (\"immediate surgical consultation required\", "
           "\"start high-dose dexamethasone now\").",
           "Seed 002 and 000 wording had been softened to \"consider\"."),
    Change("R21, R22", "Whole-vertebral-body BME only when the edema itself is described as diffuse or whole-body; "
           "\"diffuse osteopenia\" in the same sentence no longer counts (conflict C1).",
           "A limited finding was sent to IV bisphosphonate first."),
    Change("R22, R24, R29-R31", "A completed NSAID course of at least `nsaid.trial_min_days` counts as first-line "
           "history: the NSAID trial is not proposed again and the refractory options can appear.",
           "At day 125 after a finished course the service proposed first-line NSAIDs again."),
    Change("R01", "An MRI is on record when a report, ImagingStudy (modality MR) or DocumentReference radiology "
           "report names one, including HTML report text and EHR-internal procedure codes.",
           "R01 asked for an MRI that was on record and quoted."),
    Change("R05", "Quiet when a cause is documented: osteoarthritis, CRPS, TBMES, osteonecrosis, fracture, "
           "malignancy or a cause named in the BME report.",
           "\"No cause documented\" fired next to a documented OA, CRPS or TBMES."),
    Change("R03, R10", "\"Marrow replacement and edema\" reads as BME and as a malignancy warning sign.",
           "A metastatic cord compression case produced no card."),
    Change("R25, R26, R33", "Opioids are every product of the CDC/VSAC opioid value sets (and their ingredient "
           "names in text); parenteral forms from the injectable products.",
           "Only four opioid ingredients were recognised; IV hydromorphone read as \"no opioid\"."),
    Change("R15", "Methotrexate and leflunomide count as conventional DMARDs.",
           "An RA patient on methotrexate was read as having no DMARD."),
    Change("all", "Age from a year-only birth date is the oldest possible age (every age rule is an 'older than' "
           "caution); puerperium codes are not pregnancy; eGFR 33914-3 and calcium 2000-8 / 13959-2 are read and "
           "prefetched.",
           "Real EHR data (Synthea, Epic, Oracle) sent these and they were silently missed."),
)
