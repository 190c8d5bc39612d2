"""Compile validated priors into a jittable sampler of every scenario input.

One standard normal per uncertain input and path; the correlated ones are mixed
by the copula's factor ``L`` (``z_c <- z_c @ L.T``); each column then goes
through its marginal's quantile function. Point inputs are constants.

Draws are made per fixed block of paths from ``fold_in(key, block)``: path
``i`` gets the same numbers whatever ``n`` is and however the paths are chunked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..engine.keys import DEFAULT_BLOCK_SIZE, block_keys
from .distributions import Dist, flat_params, ppf_from_normal
from .loader import Priors


@dataclass(frozen=True)
class _Layout:
    """Static structure of the sampler (hashable: safe as a jit static argument)."""

    names: tuple[str, ...]
    dists: tuple[Dist, ...]
    offsets: tuple[int, ...]
    sizes: tuple[int, ...]
    normal_col: tuple[int, ...]
    n_normals: int
    corr_cols: tuple[int, ...]
    block_size: int


def _draw(layout: _Layout, n_blocks: int, key: jax.Array, first_block: jax.Array, theta: jax.Array,
          factor: jax.Array) -> dict[str, jax.Array]:
    keys = block_keys(key, first_block, n_blocks)
    z = jax.vmap(lambda k: jax.random.normal(k, (layout.block_size, layout.n_normals)))(keys)
    z = z.reshape(n_blocks * layout.block_size, layout.n_normals)
    if layout.corr_cols:
        cols = jnp.asarray(layout.corr_cols)
        z = z.at[:, cols].set(z[:, cols] @ factor.T)
    out: dict[str, jax.Array] = {}
    n = n_blocks * layout.block_size
    for name, dist, off, size, col in zip(
        layout.names, layout.dists, layout.offsets, layout.sizes, layout.normal_col, strict=True
    ):
        params = theta[off : off + size]
        if col < 0:
            out[name] = jnp.broadcast_to(params[0], (n,))
        else:
            out[name] = ppf_from_normal(dist, params, z[:, col])
    return out


@dataclass(frozen=True)
class Sampler:
    """Jittable sampler of every scalar input of a set of priors.

    Attributes:
        layout: static structure (names, families, parameter offsets, copula columns).
        theta: every distribution number, flat, float32, shape (n_theta,). Enters jit as an array.
        factor: lower-triangular copula factor on the normal scale, shape (k, k).
    """

    layout: _Layout
    theta: np.ndarray
    factor: np.ndarray
    _jitted: Any = field(default=None, repr=False, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        return self.layout.names

    @property
    def block_size(self) -> int:
        return self.layout.block_size

    def draw_blocks(self, key: jax.Array, first_block: int | jax.Array, n_blocks: int,
                    theta: jax.Array | None = None) -> dict[str, jax.Array]:
        """Inputs of blocks ``first_block ..`` (``n_blocks * block_size`` paths), each of shape (paths,)."""
        theta = jnp.asarray(self.theta if theta is None else theta, jnp.float32)
        return self._jitted(n_blocks, key, jnp.uint32(first_block), theta, jnp.asarray(self.factor))

    def sample_inputs(self, key: jax.Array, n: int) -> dict[str, jax.Array]:
        """Draw every input for paths ``0 .. n-1``: a dict of name -> array of shape (n,).

        The first ``k`` paths of an ``n``-path draw equal a ``k``-path draw with the same key.
        """
        n_blocks = max(1, math.ceil(n / self.block_size))
        return {k: v[:n] for k, v in self.draw_blocks(key, 0, n_blocks).items()}


def compile_sampler(priors: Priors, block_size: int = DEFAULT_BLOCK_SIZE) -> Sampler:
    """Build the :class:`Sampler` of ``priors`` (validated already; nothing is checked here)."""
    names, dists, offsets, sizes, cols = [], [], [], [], []
    theta: list[float] = []
    n_normals = 0
    for name, inp in priors.inputs.items():
        flat = flat_params(inp.dist)
        names.append(name)
        dists.append(inp.dist)
        offsets.append(len(theta))
        sizes.append(len(flat))
        theta.extend(flat)
        if inp.is_point:
            cols.append(-1)
        else:
            cols.append(n_normals)
            n_normals += 1
    corr = priors.correlation
    if corr is not None:
        corr_cols = tuple(cols[names.index(n)] for n in corr.inputs)
        from .copula import normal_factor

        factor = normal_factor(corr.pearson).astype(np.float32)
    else:
        corr_cols, factor = (), np.zeros((0, 0), np.float32)
    layout = _Layout(tuple(names), tuple(dists), tuple(offsets), tuple(sizes), tuple(cols), n_normals,
                     corr_cols, block_size)
    jitted = jax.jit(partial(_draw, layout), static_argnums=0)
    return Sampler(layout, np.asarray(theta, np.float32), factor, jitted)
