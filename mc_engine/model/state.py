"""State carried through the quarterly scan, and the static layout of a compiled model.

Companies are held internally grouped by kind (kinds in registration order: labs,
neoclouds, hyperscalers, then any plug-in) so each kind's equations run on its own
block; the layout maps back to the prior file's order when results are assembled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

DT: float = 0.25
"""Years per quarter."""
HOURS: float = 2190.0
"""Hours in a quarter (8760 / 4)."""
RUNWAY_CAP: float = 100.0
"""Runway reported (and used) when burn <= 0: cash lasts 'forever', capped for statistics."""
EPS: float = 1e-9
"""Floor of denominators (USD bn): revenue and plan ratios of a company with none."""


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
    """State every company carries whatever its kind, each shape (companies of one kind, paths).

    Amounts are USD bn. A kind's own state is its own NamedTuple (:mod:`mc_engine.model.kinds`); these are
    the funding history and the counterparty links every kind shares.
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
    paid_out: jax.Array  # USD bn returned to shareholders so far (section 4, step 11)
    v_last: jax.Array
    age: jax.Array
    gq: jax.Array
    rev_prev: jax.Array
    runway: jax.Array
    cumburn: jax.Array
    base_last: jax.Array  # clients: last payment owed to hosts (0 for kinds that pay none)
    host_share: jax.Array  # hosts: share c_j of own revenue the modelled clients account for (0 otherwise)


class State(NamedTuple):
    """The market state and one block per kind present, in the layout's order.

    Each block is a :class:`mc_engine.model.kinds.base.Block`: the kind's companies' :class:`CompanyState`
    and the kind's own state, each array (companies of the kind, paths).
    """

    market: MarketState
    kinds: tuple

    @property
    def company(self) -> CompanyState:
        """The common company state of every company, (companies, paths) in internal order (outside hot code)."""
        blocks = [b.company for b in self.kinds]
        return CompanyState(*(jnp.concatenate(fields, axis=0) for fields in zip(*blocks, strict=True)))


@dataclass(frozen=True)
class Layout:
    """Static facts of a compiled model (hashable: used as a jit static).

    Attributes:
        ids: company ids in internal order (grouped by kind, kinds in registration order).
        kinds: kind of each, internal order.
        order: ``order[k]`` = internal index of the k-th company of the prior file.
        slices: (kind, start, stop) of each kind present, in internal order.
    """

    ids: tuple[str, ...]
    kinds: tuple[str, ...]
    order: tuple[int, ...]
    slices: tuple[tuple[str, int, int], ...]

    @property
    def n_companies(self) -> int:
        return len(self.ids)

    def slice_of(self, kind: str) -> slice:
        for k, a, b in self.slices:
            if k == kind:
                return slice(a, b)
        return slice(0, 0)


def make_layout(ids: tuple[str, ...], kinds: tuple[str, ...], kind_order: tuple[str, ...]) -> Layout:
    """Internal company order for companies ``ids`` of ``kinds`` (prior-file order): grouped by kind in
    ``kind_order``, file order within a kind."""
    internal = sorted(range(len(ids)), key=lambda i: (kind_order.index(kinds[i]), i))
    order = tuple(internal.index(k) for k in range(len(internal)))
    inner_kinds = tuple(kinds[i] for i in internal)
    slices = []
    for kind in kind_order:
        idx = [j for j, k in enumerate(inner_kinds) if k == kind]
        if idx:
            slices.append((kind, idx[0], idx[-1] + 1))
    return Layout(tuple(ids[i] for i in internal), inner_kinds, order, tuple(slices))


def internal_matrix(counterparty: np.ndarray, ids: tuple[str, ...], layout: Layout) -> np.ndarray:
    """Counterparty matrix W (prior-file order, rows and columns ``ids``) in internal order, (companies, companies)."""
    perm = [ids.index(c) for c in layout.ids]
    return np.asarray(counterparty)[np.ix_(perm, perm)]
