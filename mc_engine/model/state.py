"""State carried through the quarterly scan, and the static layout of a compiled model.

Companies are held internally grouped by kind (labs, then neoclouds, then
hyperscalers) so each kind's equations run on one contiguous slice; the layout
maps back to the prior file's order when results are assembled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import jax
import numpy as np

if TYPE_CHECKING:
    from ..inputs.loader import Priors

DT: float = 0.25
"""Years per quarter."""
HOURS: float = 2190.0
"""Hours in a quarter (8760 / 4)."""
RUNWAY_CAP: float = 100.0
"""Runway reported (and used) when burn <= 0: cash lasts 'forever', capped for statistics."""
EPS: float = 1e-9
"""Floor of denominators (USD bn): revenue and plan ratios of a company with none."""
KIND_ORDER: tuple[str, ...] = ("lab", "neocloud", "hyperscaler")


class MarketState(NamedTuple):
    """Market state of every path, each shape (paths,).

    Logs of H, E, R, P, the rent markup m = G / H, D and capacity K; logit of U; the trend
    rates in force (annual log rates h, a, r and the price-war drift w); the regime.
    """

    ln_h: jax.Array
    ln_e: jax.Array
    ln_r: jax.Array
    ln_p: jax.Array
    ln_m: jax.Array
    ln_d: jax.Array
    x_u: jax.Array
    ln_k: jax.Array
    rate_h: jax.Array
    rate_a: jax.Array
    rate_r: jax.Array
    rate_w: jax.Array
    regime: jax.Array  # int32: 0 boom, 1 normal, 2 winter


class CompanyState(NamedTuple):
    """Per-company state, each shape (paths, companies) in internal (kind-grouped) order.

    Amounts are USD bn; ``fleet``/``fleet_c`` thousand GPUs; ``book`` thousand-GPU x USD/hr.
    Kind-specific fields are carried for every column and used only by their kind.
    """

    cash: jax.Array
    debt: jax.Array
    status: jax.Array  # int32: 0 alive, 1 defaulted, 2 acquired
    cause: jax.Array  # int32: 0 alive, then 1-based funding.CAUSES (cash, covenant, maturity, acquisition)
    rounds: jax.Array
    rescues: jax.Array
    rescued: jax.Array  # USD bn put in by the strategic backer so far
    down_rounds: jax.Array
    raised: jax.Array
    v_last: jax.Array
    age: jax.Array
    gq: jax.Array
    rev_prev: jax.Array
    runway: jax.Array
    cumburn: jax.Array
    base_last: jax.Array  # labs: last payment owed to hosts
    breach: jax.Array  # neoclouds: consecutive covenant breaches
    ebitda_ltm: jax.Array  # neoclouds: trailing four-quarter EBITDA (smoothed), USD bn
    host_share: jax.Array  # hosts: share c_j of own revenue the modelled clients account for
    ln_s: jax.Array  # labs, hyperscalers: log market share
    premium: jax.Array  # labs, hyperscalers: log price premium over the market
    ln_f: jax.Array  # hyperscalers: log core FCF index
    fleet: jax.Array  # neoclouds
    fleet_c: jax.Array  # neoclouds
    book: jax.Array  # neoclouds
    power_book: jax.Array  # neoclouds: power cost of the installed fleet, thousand-GPU x USD/hr


class State(NamedTuple):
    market: MarketState
    company: CompanyState


@dataclass(frozen=True)
class Layout:
    """Static facts of a compiled model (hashable parts only are used as jit statics).

    Attributes:
        ids: company ids in internal order (grouped by kind).
        kinds: kind of each, internal order.
        order: ``order[k]`` = internal index of the k-th company of the prior file.
        slices: (start, stop) of each kind in internal order.
    """

    ids: tuple[str, ...]
    kinds: tuple[str, ...]
    order: tuple[int, ...]
    slices: tuple[tuple[str, int, int], ...]
    n_schedule_years: int

    @property
    def n_companies(self) -> int:
        return len(self.ids)

    def slice_of(self, kind: str) -> slice:
        for k, a, b in self.slices:
            if k == kind:
                return slice(a, b)
        return slice(0, 0)


def make_layout(priors: Priors) -> Layout:
    """Internal company order (kinds grouped) and slices for ``priors``."""
    internal = sorted(range(len(priors.companies)), key=lambda i: (KIND_ORDER.index(priors.companies[i].kind), i))
    ids = tuple(priors.companies[i].id for i in internal)
    kinds = tuple(priors.companies[i].kind for i in internal)
    order = tuple(internal.index(k) for k in range(len(internal)))
    slices = []
    for kind in KIND_ORDER:
        idx = [j for j, k in enumerate(kinds) if k == kind]
        if idx:
            slices.append((kind, idx[0], idx[-1] + 1))
    years = max((len(v) for v in priors.schedules.values()), default=0)
    return Layout(ids, kinds, order, tuple(slices), years)


def internal_matrix(priors: Priors, layout: Layout) -> np.ndarray:
    """Counterparty matrix W in internal order, shape (companies, companies)."""
    perm = [priors.company_ids.index(c) for c in layout.ids]
    return np.asarray(priors.counterparty)[np.ix_(perm, perm)]
