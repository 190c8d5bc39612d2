"""Turn the sampler's flat draws (name -> (paths,)) into the arrays each model part reads."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._paramspec import REGIMES, ParamSpec
from . import funding, market
from .kinds import KINDS
from .state import Layout

Params = dict[str, dict[str, jax.Array]]


def _columns(names: tuple[str, ...], prefix: str, specs: tuple[ParamSpec, ...]) -> list[list[int]]:
    """Input columns of each parameter: one, or three (boom, normal, winter) per regime."""
    index = {n: i for i, n in enumerate(names)}
    out = []
    for spec in specs:
        if spec.per_regime:
            out.append([index[f"{prefix}{spec.name}.{r}"] for r in REGIMES])
        else:
            out.append([index[f"{prefix}{spec.name}"]])
    return out


def _unpack(block: jax.Array, specs: tuple[ParamSpec, ...]) -> dict[str, jax.Array]:
    """Split a gathered block (columns, ...) into named parameters (leading axis 3 when per regime)."""
    out, j = {}, 0
    for spec in specs:
        width = 3 if spec.per_regime else 1
        out[spec.name] = block[j : j + width] if spec.per_regime else block[j]
        j += width
    return out


def build_params(layout: Layout, names: tuple[str, ...], x: jax.Array) -> Params:
    """Group the input matrix ``x`` (paths, inputs; columns named by ``names``) by model part.

    ``market`` and ``funding`` hold (paths,) arrays ((3, paths) per regime). Each kind present has
    ``<kind>.company`` (the common funding parameters) and ``<kind>`` (its own parameters, schedules
    excluded), each (companies of the kind, paths) ((3, companies, paths) per regime): the path axis is
    last, so every array the step streams is contiguous along paths. One gather per part keeps the
    compiled program small.
    """
    out: Params = {}
    for part, specs in (("market", market.PARAMS), ("funding", funding.PARAMS)):
        cols = [c for group in _columns(names, f"{part}.", specs) for c in group]
        out[part] = _unpack(x[:, jnp.asarray(cols, jnp.int32)].T, specs)
    parts = []
    for kind, a, b in layout.slices:
        parts.append((f"{kind}.company", layout.ids[a:b], funding.COMPANY_PARAMS))
        parts.append((kind, layout.ids[a:b], tuple(s for s in KINDS[kind].params if not s.schedule)))
    for part, ids, specs in parts:
        cols = [[c for group in _columns(names, f"companies.{cid}.", specs) for c in group] for cid in ids]
        out[part] = _unpack(x[:, jnp.asarray(cols, jnp.int32)].transpose(2, 1, 0), specs)
    return out
