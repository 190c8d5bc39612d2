"""The economics: market, regime, company kinds, funding and counterparty links.

``KINDS`` maps each company kind to its parameter declarations. A new kind is
one new module here plus a prior template in ``priors/kinds/``.
"""

from __future__ import annotations

from .._params import ParamSpec
from . import funding, hyperscaler, lab, market, neocloud

KINDS: dict[str, tuple[ParamSpec, ...]] = {
    "lab": funding.COMPANY_PARAMS + lab.PARAMS,
    "neocloud": funding.COMPANY_PARAMS + neocloud.PARAMS,
    "hyperscaler": funding.COMPANY_PARAMS + hyperscaler.PARAMS,
}
"""Parameters of every company kind: common funding state first, then the kind's own."""

SECTIONS: dict[str, tuple[ParamSpec, ...]] = {
    "market": market.PARAMS,
    "funding": funding.PARAMS,
}
"""Market-wide sections of a prior file and their parameters."""
