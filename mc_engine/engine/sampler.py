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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..inputs.copula import normal_factor
from ..inputs.distributions import Dist, flat_params, n_flat, structure
from ..inputs.families import FAMILY
from ..inputs.loader import Priors
from .keys import DEFAULT_BLOCK_SIZE, block_keys
from .ppf import ppf_from_normal


@dataclass(frozen=True)
class _Layout:
    """Static structure of the sampler (hashable: safe as a jit static argument).

    Inputs are grouped by distribution structure (family tree, which bounds are finite): each group is
    one vectorised quantile call, so the compiled program stays small however many inputs there are.
    """

    names: tuple[str, ...]
    groups: tuple[tuple[Dist, tuple[int, ...], tuple[tuple[int, ...], ...], tuple[int, ...]], ...]
    """(structure, input indices, theta indices per input, normal columns per input)."""
    point_inputs: tuple[int, ...]
    point_theta: tuple[int, ...]
    n_normals: int
    corr_cols: tuple[int, ...]
    block_size: int
    order: tuple[int, ...]
    """Permutation from (points, group 1, group 2, ...) column order to input order."""


class DrawArrays(NamedTuple):
    """The copula factor with every tabulated group's quantile table, built once per run (:func:`draw_arrays`).

    Passed where :func:`draw_matrix` takes ``factor``: the tables are then not rebuilt for every chunk."""

    factor: jax.Array
    tables: tuple[jax.Array | None, ...]
    """Per group of ``_Layout.groups``: its (TABLE_POINTS, inputs) table, None for closed-form groups."""


def quantile_tables(layout: _Layout, theta: jax.Array) -> tuple[jax.Array | None, ...]:
    """Every tabulated group's quantile table at ``theta`` (None for closed-form groups)."""
    return tuple(None if _closed_form(template) else _table(template, theta[jnp.asarray(theta_idx, jnp.int32)])
                 for template, _, theta_idx, _ in layout.groups)


def draw_array_shapes(layout: _Layout, factor_shape: tuple[int, ...]) -> DrawArrays:
    """The shapes and dtypes of :func:`draw_arrays`' result, without building it (to compile against)."""
    def f32(*shape: int) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct(shape, jnp.float32)

    return DrawArrays(f32(*factor_shape), tuple(None if _closed_form(template) else f32(TABLE_POINTS, len(members))
                                                for template, members, _, _ in layout.groups))


def draw_arrays(layout: _Layout, theta: jax.Array, factor: jax.Array) -> DrawArrays:
    """``factor`` and the quantile tables at ``theta`` (jit it once per run: see :class:`DrawArrays`)."""
    return DrawArrays(jnp.asarray(factor), quantile_tables(layout, theta))


def draw_matrix(layout: _Layout, n_blocks: int, key: jax.Array, first_block: jax.Array, theta: jax.Array,
                factor: jax.Array | DrawArrays) -> jax.Array:
    """Every input of ``n_blocks`` blocks: shape (n_blocks * block_size, inputs), columns in ``layout.names``.

    ``factor``: the copula factor, or a :class:`DrawArrays` whose quantile tables were built from ``theta``
    beforehand (the same numbers, without building the tables again)."""
    tables = factor.tables if isinstance(factor, DrawArrays) else quantile_tables(layout, theta)
    factor = factor.factor if isinstance(factor, DrawArrays) else factor
    keys = block_keys(key, first_block, n_blocks)
    n = n_blocks * layout.block_size
    z = jax.vmap(lambda k: jax.random.normal(k, (layout.block_size, layout.n_normals)))(keys)
    z = z.reshape(n, layout.n_normals)
    if layout.corr_cols:
        cols = jnp.asarray(layout.corr_cols)
        z = z.at[:, cols].set(_correlate(z[:, cols].T, factor).T)
    parts = [jnp.broadcast_to(theta[jnp.asarray(layout.point_theta, jnp.int32)][None, :], (n, len(layout.point_theta)))]
    for (template, _, theta_idx, zcols), table in zip(layout.groups, tables, strict=True):
        zg = z[:, jnp.asarray(zcols, jnp.int32)]
        if table is None:
            draw = jax.vmap(partial(ppf_from_normal, template), in_axes=(0, 1), out_axes=1)
            parts.append(draw(theta[jnp.asarray(theta_idx, jnp.int32)], zg))
        else:
            parts.append(_interpolate(table, zg))
    return jnp.concatenate(parts, axis=1)[:, jnp.asarray(layout.order, jnp.int32)]


def _correlate(zc: jax.Array, factor: jax.Array) -> jax.Array:
    """``factor @ zc`` for independent normals ``zc`` (k, paths), summed column by column in a fixed order.

    Not a dot: XLA's dot kernel is chosen by the array sizes, and with it the order of the sums, so a path's
    correlated inputs moved in the last bit with the number of paths in its chunk (measured: 20 of 1,536
    paths' ``contract_price`` of the last correlated company).
    """
    def add(i: jax.Array, acc: jax.Array) -> jax.Array:
        return acc + jax.lax.dynamic_slice_in_dim(factor, i, 1, axis=1) * jax.lax.dynamic_slice_in_dim(zc, i, 1)

    return jax.lax.fori_loop(0, zc.shape[0], add, jnp.zeros_like(zc))


TABLE_Z: float = 5.3
"""Normal-score range of quantile tables; beyond it ppf clips anyway (u within 2**-24 of 0 or 1)."""
TABLE_POINTS: int = 4097
"""Knots per quantile table: spacing 0.0026 in z; linear interpolation error is measured in
tests/test_sampler.py (KS against the exact CDF)."""


def _closed_form(template: Dist) -> bool:
    """Families whose quantile function is cheap to evaluate per path."""
    untruncated = all(math.isinf(b) for b in template.bounds)
    return FAMILY[template.family].closed_form and untruncated


def _table(template: Dist, thetas: jax.Array) -> jax.Array:
    """Quantile table over normal scores of ``k`` inputs of one structure: ``thetas`` (k, n_flat) -> (points, k).

    Beta/PERT inverses and mixtures need an iterative inversion; doing it once per input on a fixed grid of
    ``TABLE_POINTS`` scores, instead of once per path, makes drawing ~100x cheaper.
    """
    grid = jnp.linspace(-TABLE_Z, TABLE_Z, TABLE_POINTS, dtype=jnp.float32)
    return jax.vmap(lambda th: ppf_from_normal(template, th, grid))(thetas).T


def _interpolate(table: jax.Array, z: jax.Array) -> jax.Array:
    """Quantiles by linear interpolation in per-input tables (points, k) at normal scores ``z`` (paths, k)."""
    pos = (jnp.clip(z, -TABLE_Z, TABLE_Z) + TABLE_Z) * ((TABLE_POINTS - 1) / (2 * TABLE_Z))
    lo = jnp.clip(jnp.floor(pos).astype(jnp.int32), 0, TABLE_POINTS - 2)
    frac = pos - lo
    below = jnp.take_along_axis(table, lo, axis=0)
    above = jnp.take_along_axis(table, lo + 1, axis=0)
    return below + frac * (above - below)


def _draw(layout: _Layout, n_blocks: int, key: jax.Array, first_block: jax.Array, theta: jax.Array,
          factor: jax.Array) -> dict[str, jax.Array]:
    x = draw_matrix(layout, n_blocks, key, first_block, theta, factor)
    return {name: x[:, i] for i, name in enumerate(layout.names)}


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
        x = self._jitted(n_blocks, key, jnp.uint32(first_block), theta, jnp.asarray(self.factor))
        return {name: x[:, i] for i, name in enumerate(self.names)}

    def sample_inputs(self, key: jax.Array, n: int) -> dict[str, jax.Array]:
        """Draw every input for paths ``0 .. n-1``: a dict of name -> array of shape (n,).

        The first ``k`` paths of an ``n``-path draw equal a ``k``-path draw with the same key.
        """
        n_blocks = max(1, math.ceil(n / self.block_size))
        return {k: v[:n] for k, v in self.draw_blocks(key, 0, n_blocks).items()}


def compile_sampler(priors: Priors, block_size: int = DEFAULT_BLOCK_SIZE) -> Sampler:
    """Build the :class:`Sampler` of ``priors`` (validated already; nothing is checked here)."""
    names = tuple(priors.inputs)
    theta: list[float] = []
    offsets: list[int] = []
    for inp in priors.inputs.values():
        offsets.append(len(theta))
        theta.extend(flat_params(inp.dist))
    normal_col: dict[int, int] = {}
    grouped: dict[Dist, list[int]] = {}
    points: list[int] = []
    for i, inp in enumerate(priors.inputs.values()):
        if inp.is_point:
            points.append(i)
        else:
            normal_col[i] = len(normal_col)
            grouped.setdefault(structure(inp.dist), []).append(i)
    groups = []
    for template, members in grouped.items():
        size = n_flat(template)
        theta_idx = tuple(tuple(range(offsets[i], offsets[i] + size)) for i in members)
        groups.append((template, tuple(members), theta_idx, tuple(normal_col[i] for i in members)))
    column_inputs = points + [i for g in groups for i in g[1]]
    order = tuple(int(j) for j in np.argsort(column_inputs))
    corr = priors.correlation
    if corr is not None:
        corr_cols = tuple(normal_col[names.index(n)] for n in corr.inputs)
        factor = normal_factor(corr.pearson).astype(np.float32)
    else:
        corr_cols, factor = (), np.zeros((0, 0), np.float32)
    layout = _Layout(names, tuple(groups), tuple(points), tuple(offsets[i] for i in points), len(normal_col),
                     corr_cols, block_size, order)
    jitted = jax.jit(partial(draw_matrix, layout), static_argnums=0)
    return Sampler(layout, np.asarray(theta, np.float32), factor, jitted)
