"""Validated, frozen priors: :class:`Priors` and the :class:`Input`, :class:`Company` and :class:`Correlation`
records it holds. :func:`mc_engine.inputs.loader.load_priors` makes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .distributions import Dist


@dataclass(frozen=True)
class Input:
    """One scalar scenario input, drawn once per path.

    Attributes:
        name: dotted path, e.g. ``companies.openai.revenue0`` or ``funding.raise_prob.winter``.
        dist: its distribution.
        units: physical units of the parameter.
        doc: what the parameter is.
        source: where the number comes from.
        as_of: date of the source.
        unknown: True when nobody has published the figure (a deliberately wide prior).
        file: the prior file that set it.
    """

    name: str
    dist: Dist
    units: str
    doc: str
    source: str | None
    as_of: dt.date | None
    unknown: bool
    file: Path

    @property
    def is_point(self) -> bool:
        return self.dist.family == "point"


@dataclass(frozen=True)
class Company:
    """A simulated company: ``id`` is its key in the prior file, ``kind`` one of lab/neocloud/hyperscaler."""

    id: str
    name: str
    kind: str
    backer: str | None
    rating: str | None = None
    """Issuer rating as published (e.g. ``"AA-"``), from the company's ``credit`` table, or None."""
    cds_bp: float | None = None
    """Five-year CDS spread in basis points from the ``credit`` table, or None."""
    credit_source: str | None = None
    """Where the rating and spread come from."""


@dataclass(frozen=True)
class Correlation:
    """Rank correlations between named inputs and the normal-scale matrix the copula uses.

    Attributes:
        inputs: names of the correlated inputs.
        spearman: the matrix as written, shape (k, k).
        pearson: normal-scale correlation ``2 sin(pi r / 6)``, repaired to PSD if needed, shape (k, k).
        repair_distance: Frobenius distance the repair moved the normal-scale matrix (0 if none).
    """

    inputs: tuple[str, ...]
    spearman: np.ndarray
    pearson: np.ndarray
    repair_distance: float


@dataclass(frozen=True)
class Priors:
    """Validated, frozen priors: everything the simulator needs, as plain numbers.

    Attributes:
        path: the file loaded.
        files: every file read (the include chain), in merge order.
        name, description: free text from the file.
        as_of: the date the priors describe; the simulation starts the quarter after.
        inputs: every scalar input by dotted name, in file order.
        schedules: yearly vectors (e.g. ``companies.openai.commitments``), USD bn/yr by year.
        companies: the companies in file order.
        regime_initial: starting probabilities of (boom, normal, winter), shape (3,).
        regime_transition: quarterly transition matrix, rows = from, shape (3, 3).
        counterparty: ``W[i, j]`` share of company i's compute spend paid to host j, shape (c, c).
        correlation: the rank-correlation block, or None.
        resolved: the merged prior tree as JSON-ready data (what a run records).
        digest: sha256 of ``resolved``.
    """

    path: Path
    files: tuple[Path, ...]
    name: str
    description: str
    as_of: dt.date
    inputs: Mapping[str, Input]
    schedules: Mapping[str, tuple[float, ...]]
    companies: tuple[Company, ...]
    regime_initial: np.ndarray
    regime_transition: np.ndarray
    counterparty: np.ndarray
    correlation: Correlation | None
    resolved: Mapping[str, Any]
    digest: str

    @property
    def company_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.companies)

    def company_param(self, company: str, param: str) -> str:
        """Input name of a company parameter, e.g. ``companies.openai.revenue0``."""
        return f"companies.{company}.{param}"
