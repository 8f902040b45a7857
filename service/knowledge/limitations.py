"""How the rule table runs, in words, and what the patient data cannot supply yet: docs/rules.md shows both.

Clinical decisions about the table as a whole (stage order, unknown handling, variants) and the limitations of
the data and terminology, kept with the knowledge; the gate rows carry their own limitations
(service/knowledge/gates.py). Pure data.
"""

from __future__ import annotations

from service.core.rulemodel import Limitation

LIMITATIONS: tuple[Limitation, ...] = (
    Limitation("atypical_pain", "R03",
               "Clinician input only: no FHIR source carries it, so R03 fires on it only "
               "when a clinician supplies it."),
    Limitation("neuro_progressive", "R09",
               "Needs serial neurological examinations or clinician input; not "
               "reliably derivable from FHIR. Unknown never fires R09."),
    Limitation("neuro_deficit (unknown)", "R06, Stage C gate",
               "An undocumented neurological examination counts as 'no deficit' for the Stage C gate (the "
               "catalogue's 'neurologically intact'); the pathway cards list it as missing."),
    Limitation("mri_contraindicated", "R01, R02",
               "Flag/Device/clinician input; not reliably derivable. Unknown "
               "counts as not contraindicated, so R01 (MRI) rather than R02 (CT) is offered."),
    Limitation("kyphosis_pct, height_loss_pct", "R08, R26",
               "No LOINC code (codes.md F): a local Observation code "
               "or report text. Unmeasured deformity never fires R08; R26 lists it as missing."),
    Limitation("bme_extent", "R21, R22",
               "No standard code: a local Observation code or report text ('entire/whole/full vertebral "
               "body'). Unknown extent never fires R21; R22 then applies and lists it as missing."),
    Limitation("bme_sites", "R21-R28, R36",
               "A BME finding without a documented site gets no pathway card (no site, no region-specific "
               "order); R05 and R37 still fire."),
    Limitation("fall risk", "R33",
               "No feature carries fall risk: the opioid-order warning uses age >= age.older_adult_years or "
               "an opioid already past opioid.max_short_course_days."),
    Limitation("dmard_active = false", "R15",
               "The features module records DMARD therapy only when present, so the 'no active DMARD' "
               "warning cannot fire yet; R15 warns on a RAMRIS score above 2 and lists DMARD therapy as "
               "missing."),
    Limitation("ramris_bme_score", "R15",
               "No verified LOINC code; a local code only."),
    Limitation("'severe per clinician'", "R29-R31",
               "No field carries it: refractory BME is computed only from "
               "pain persisting >= refractory.after_days despite a documented first-line course."),
    Limitation("nsaid_response_insufficient", "R24",
               "Definition assumed (NOT IN SEEDS): pain reduction below "
               "nsaid.min_pain_reduction_pct or still severe, judged by the features module."),
    Limitation("new_symptoms_or_complication, ischemic_bme, on_features", "R36, R17, R14, R30",
               "Report text "
               "only; no coded source."),
    Limitation("calcitonin code, dose and route", "R23",
               "No verified RxNorm code (codes.md F); the seeds give no "
               "dose or route: ordered as text."),
    Limitation("referral codes (spine surgery, haematology/oncology, rheumatology, orthopaedics, "
               "physiotherapy), offloading", "R06-R13, R14, R15, R17, R28, R32",
               "No verified SNOMED code "
               "(codes.md E4): ordered as text."),
    Limitation("core decompression code", "R17",
               "CPT/HCPCS/SNOMED unverified (codes.md E3): referral as text."),
    Limitation("dual-energy CT code", "R02",
               "No LOINC code for DECT (codes.md F): CT of the region with a "
               "dual-energy note."),
    Limitation("bed-rest code", "R32",
               "SNOMED unverified (codes.md E4): bed rest is detected from order text "
               "or ICD Z74.01."),
    Limitation("vertebral augmentation CPT 22510-22515; 25-OH vitamin D LOINC 62292-8", "R11, R12, R26, R29",
               "V-B only: check once on a terminology server before release."),
    Limitation("doses the seeds omit", "R10, R21, R23, R24, R29, R30",
               "Dexamethasone, denosumab, iloprost, calcitonin "
               "and zoledronic acid carry no dose: institutional protocol (clinical-rules.md §6.3)."),
    Limitation("vertebral fracture without documented BME", "R21-R28",
               "The Stage C rows need vertebra among the BME sites (catalogue §2.3), although seed 002 says "
               "absent BME should not exclude augmentation."),
)

DECISIONS: tuple[str, ...] = (
    "Stage order A, B, C, D, E, then the safety gates (Stage F). A red flag (R06-R10) closes Stages C and D "
    "(R21-R31): their cards are not emitted in any hook. R10's dexamethasone belongs to Stage A and stays.",
    "Stage C runs only with no red flag and no documented neurological deficit; each Stage C row also needs "
    "vertebra among the BME sites, except R22, which is also the generic first line for BME at other sites "
    "('NSAIDs are first-line', seeds 000/001/003) and R24's and R27's order-hook warnings, which need BME at "
    "any site.",
    "Unknown is unknown: a condition on a fact is false when the fact is unknown. Exceptions say so in their "
    "wording ('no ... is documented' is true when the fact is false or unknown). A rule that needs labs to "
    "be safe (R29) fires with lab requests and lists the missing labs.",
    "Rows that share an id are variants (per hook or per tier); the first that fires is the rule's one "
    "Finding.",
    "At order-select the rules read the selected draft orders (all drafts when none is marked selected); at "
    "order-sign all drafts.",
    "Cards are ordered red flags (critical), safety gates, other warnings, the pathway card, then the rest. "
    "One pathway card per hook (issue 12, card burden): each informational rule (R05, R19, R23, R25, R28, "
    "R31, R35, R36, R37 on patient-view) becomes one line of the pathway card (R21/R22/R24/R26/R29; else the "
    "first other info card), which lists every rule it carries in its `bme-cds-rules` extension, its own "
    "first; the folded rules' own orders stay on their rule pages. A card's detail is short (Based on, "
    "Missing, Why, Source) and its source.url is the rule's public page with the full basis.",
    "Red flags keep the seeds' urgency (issue 12): R06-R08 say 'immediate surgical consultation required' "
    "(seed 002), R09 'urgent surgical decompression', R10 'start high-dose dexamethasone now' (seed 000); "
    "they are never phrased as 'consider'.",
    "R11 (myeloma) keeps R21/R22 drug suggestions visible but not recommended, noting 'defer to the myeloma "
    "team'.",
    "R12 and R11 give no augmentation referral while a red flag fires (surgery first, conflict C11).",
)
