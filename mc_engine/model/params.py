"""Turn the sampler's flat draws (name -> (paths,)) into the arrays each model part reads."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._params import REGIMES, ParamSpec
from . import funding, hyperscaler, lab, market, neocloud
from .state import Layout

KIND_PARAMS: dict[str, tuple[ParamSpec, ...]] = {
    "lab": lab.PARAMS,
    "neocloud": neocloud.PARAMS,
    "hyperscaler": hyperscaler.PARAMS,
}
Params = dict[str, dict[str, jax.Array]]


def _scalar(draws: dict[str, jax.Array], name: str, spec: ParamSpec) -> jax.Array:
    """(paths,) or, per regime, (paths, 3)."""
    if spec.per_regime:
        return jnp.stack([draws[f"{name}.{r}"] for r in REGIMES], axis=-1)
    return draws[name]


def _companies(draws: dict[str, jax.Array], ids: tuple[str, ...], spec: ParamSpec) -> jax.Array:
    """(paths, len(ids)) or, per regime, (paths, len(ids), 3)."""
    return jnp.stack([_scalar(draws, f"companies.{cid}.{spec.name}", spec) for cid in ids], axis=1)


def build_params(layout: Layout, draws: dict[str, jax.Array]) -> Params:
    """Group draws by model part: ``market``, ``funding`` (market-wide), ``company`` (all companies,
    internal order) and one entry per kind present (that kind's slice of companies)."""
    out: Params = {
        "market": {s.name: _scalar(draws, f"market.{s.name}", s) for s in market.PARAMS},
        "funding": {s.name: _scalar(draws, f"funding.{s.name}", s) for s in funding.PARAMS},
        "company": {s.name: _companies(draws, layout.ids, s) for s in funding.COMPANY_PARAMS},
    }
    for kind, a, b in layout.slices:
        ids = layout.ids[a:b]
        out[kind] = {s.name: _companies(draws, ids, s) for s in KIND_PARAMS[kind] if not s.schedule}
    return out
