"""One module per CDS hook; each exports SERVICE. `SERVICES` is the registry's content, in discovery order."""

from __future__ import annotations

from hooks.order_select import SERVICE as ORDER_SELECT
from hooks.order_sign import SERVICE as ORDER_SIGN
from hooks.patient_view import SERVICE as PATIENT_VIEW

SERVICES = (PATIENT_VIEW, ORDER_SELECT, ORDER_SIGN)
