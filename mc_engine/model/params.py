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


def _parts(layout: Layout) -> list[tuple[str, tuple[str, ...], tuple[ParamSpec, ...]]]:
    """(part, input-name prefixes, specs): ``market`` and ``funding`` (one prefix each), then per kind present
    ``<kind>.company`` (the common funding parameters) and ``<kind>`` (its own, schedules excluded), with one
    prefix per company of the kind."""
    out = [("market", ("market.",), market.PARAMS), ("funding", ("funding.",), funding.PARAMS)]
    for kind, a, b in layout.slices:
        prefixes = tuple(f"companies.{cid}." for cid in layout.ids[a:b])
        out.append((f"{kind}.company", prefixes, funding.COMPANY_PARAMS))
        out.append((kind, prefixes, tuple(s for s in KINDS[kind].params if not s.schedule)))
    return out


def param_blocks(layout: Layout, names: tuple[str, ...], x: jax.Array) -> dict[str, jax.Array]:
    """Gather the input matrix ``x`` (paths, inputs; columns named by ``names``) into one block per model part.

    ``market`` and ``funding`` are (columns, paths); each kind's parts (columns, companies of the kind, paths):
    a parameter per regime takes three consecutive columns (boom, normal, winter). The path axis is last, so
    every array the step streams is contiguous along paths. One gather per part keeps the compiled program small.
    """
    out = {}
    for part, prefixes, specs in _parts(layout):
        cols = [[c for group in _columns(names, prefix, specs) for c in group] for prefix in prefixes]
        if part in ("market", "funding"):  # one prefix: (paths, columns) -> (columns, paths)
            out[part] = x[:, jnp.asarray(cols[0], jnp.int32)].T
        else:  # (paths, companies, columns) -> (columns, companies, paths)
            out[part] = x[:, jnp.asarray(cols, jnp.int32)].transpose(2, 1, 0)
    return out


def split_params(layout: Layout, blocks: dict[str, jax.Array]) -> Params:
    """The named parameters of :func:`param_blocks`' blocks: ``market`` and ``funding`` hold (paths,) arrays
    ((3, paths) per regime); each kind's parts (companies of the kind, paths) ((3, companies, paths) per regime).
    """
    return {part: _unpack(blocks[part], specs) for part, _, specs in _parts(layout)}

