"""simple_icd_10_cm, imported without its import-time DeprecationWarning (pytest turns warnings into errors).

simple-icd-10-cm 1.5.0 loads its data with the deprecated `importlib.resources.read_text`; the warning is
the library's, not ours, so it is silenced for the import only.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import simple_icd_10_cm as icd10

__all__ = ["icd10"]
