"""The economics: market, regime, company kinds, funding and counterparty links; pure JAX.

Company kinds are plug-ins (:mod:`mc_engine.model.kinds`): each is one module defining a
:class:`~mc_engine.model.kinds.base.CompanyKind` (its parameters, state, shocks by name and quarterly
phases), registered with :func:`~mc_engine.model.kinds.register`, plus a prior template in
``priors/kinds/``. The step (:mod:`mc_engine.model.step`) is generic over the registered kinds.

Importing this package fills the prior-file schema (:mod:`mc_engine._schema`, read by the loader): the market-wide
sections below and every registered kind. ``KINDS`` and ``SECTIONS`` are its live read-only views:
``KINDS`` maps each kind to its parameter declarations (common funding parameters first, then the
kind's own); the kind objects themselves are :data:`mc_engine.model.kinds.KINDS`.
"""

from __future__ import annotations

from .. import _schema as schema
from .._schema import KINDS as KINDS
from .._schema import SECTIONS as SECTIONS
from . import funding, market

schema.register_section("market", market.PARAMS)
schema.register_section("funding", funding.PARAMS)

from . import kinds as kinds  # noqa: E402 - registers the built-in kinds after the sections
