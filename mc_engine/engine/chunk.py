"""One chunk's program: simulate it and reduce it on the device; only merged counts and a few paths come back.

Per quarter (inside the scan) the company variables and market indices form one
cell-major array (cells, paths), cells = companies x ``COMPANY_VARS`` then
``INDICES``, which feeds the quantile sketch (:func:`reduce.cell_sketch`) and the
per-block sums. After the scan the horizon values (cumulative burn, amount raised)
are sketched the same way, and only the first ``head`` paths' outcomes and
uncertain inputs (the sensitivity subsample) are returned,
not the chunk's whole (paths, inputs) matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..model.market import INDICES
from ..model.step import Observations
from .reduce import COMPANY_VARS, cell_block_sums, cell_pilot_edges, cell_sketch
from .sampler import draw_array_shapes, draw_arrays
from .scan import Model, chunk_scan

THIN_VARS: tuple[str, ...] = ("cash", "burn", "revenue", "gross_margin", "runway", "debt", "status")
THIN_MARKET: tuple[str, ...] = INDICES + ("regime",)
HORIZON_VARS: tuple[str, ...] = ("cumburn", "raised", "paid_out")
"""Horizon values sketched per company (cumulative burn, amount raised and amount paid out by the last quarter)."""
N_COUNTS: int = 6
"""Path counts per company and quarter: alive, defaulted, acquired, and defaults by cause (cash exhausted,
covenant, maturity not refinanced; funding.CAUSES without acquisition, which is the acquired count)."""


@dataclass(frozen=True)
class ChunkReducer:
    """What a chunk keeps, with its static sizes (hashable: a jit static argument).

    Attributes:
        thin: paths whose every quarter is kept (the thin sample and the sketch pilot).
        block_size: paths per key block (block sums).
        head: first paths whose horizon outcomes and uncertain inputs are returned (the sensitivity
            subsample); at most the chunk.
        uncertain: columns of the sampler's input matrix that are not point values.
        keep: the run keeps the head of its first ``keep`` paths only (the sensitivity subsample): a chunk
            that starts past them returns zeros there, without gathering its inputs. None: every chunk
            gathers its head.
    """

    thin: int
    block_size: int
    head: int
    uncertain: tuple[int, ...]
    keep: int | None = None

    def __call__(self, aux: dict[str, Any], t: jax.Array, obs: Observations, alive_prev: jax.Array) -> dict:
        """Quarter ``t``'s reductions from the step's observations ((companies, paths) or (paths,) each).

        The thin slice comes back (paths, companies), as the run's other per-path outputs.
        """
        valid = aux["valid"]
        status = obs.status
        v2 = valid[None]
        cause = obs.cause
        counts = jnp.stack([((status == 0) & v2).sum(1), ((status == 1) & v2).sum(1), ((status == 2) & v2).sum(1),
                            *[((cause == k) & v2).sum(1) for k in (1, 2, 3)]]).astype(jnp.int32)
        cells, weight = quarter_cells(obs, valid)
        edges = self.edges(aux["edges"], cells, weight)
        return {
            "counts": counts,
            "edges": edges,
            "sketch": cell_sketch(cells, weight, edges),
            "sums": cell_block_sums(cells, weight, self.block_size),
            "regime": jnp.stack([((obs.regime == r) & valid).sum() for r in range(3)]).astype(jnp.int32),
            "thin": pack_thin(obs, self.thin),
        }

    def edges(self, table: jax.Array, cells: jax.Array, weight: jax.Array) -> jax.Array:
        """The sketch edges (cells, 5) to use: the run's ``table``, or, where its scales are NaN (the first
        chunk, :func:`dummy_tables`), edges from this chunk's own first ``thin`` paths (the pilot)."""
        return jax.lax.cond(jnp.isnan(table[0, 1]),
                            lambda: cell_pilot_edges(cells[:, : self.thin], weight[:, : self.thin]), lambda: table)

    def finish(self, aux: dict[str, Any], final: Any, draws: jax.Array) -> dict[str, Any]:
        """The horizon sketch and counts of every valid path, and the first ``head`` paths' outcomes and inputs."""
        valid = aux["valid"]
        values = horizon_values(final)
        cells = jnp.stack(list(values.values()), axis=1)  # (companies, variables, paths)
        cells = cells.reshape(-1, cells.shape[-1])
        weight = jnp.broadcast_to(valid[None], cells.shape)
        edges = self.edges(aux["fedges"], cells, weight)
        company = final.company
        v2 = valid[None]
        head = slice(0, self.head)

        def take() -> dict[str, jax.Array]:
            return {"survived": company.status[:, head].T == 0, **{k: v[:, head].T for k, v in values.items()},
                    "inputs": draws[head][:, np.asarray(self.uncertain, np.int32)]}

        if self.keep is None:
            heads = take()
        else:  # measured: gathering every chunk's head cost ~5 % of a run in one-block chunks
            wanted = aux["first"] < jnp.uint32(-(-self.keep // self.block_size))
            heads = jax.lax.cond(wanted, take, lambda: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                                                                    jax.eval_shape(take)))
        return {
            "fedges": edges,
            "sketch": cell_sketch(cells, weight, edges),
            "rounds": jnp.where(v2, company.rounds, 0).astype(jnp.int32).sum(1),
            "down": ((company.down_rounds > 0) & v2).sum(1, dtype=jnp.int32),
            "head": heads,
        }


THIN_PARTS: tuple[tuple[str, tuple[str, ...], int], ...] = (("company", THIN_VARS, -3), ("market", THIN_MARKET, -2))
"""The thin sample's parts: their variables, and the axis along which :func:`pack_thin` stacks them (a company
value is (paths, companies), a market value (paths,))."""


def _thin_groups(names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """The thin sample's variables stacked together: the float ones, and each integer one apart."""
    floats = tuple(k for k in names if k not in ("status", "regime"))
    return {"values": floats, **{k: (k,) for k in names if k not in floats}}


def pack_thin(obs: Observations, n: int) -> dict[str, jax.Array]:
    """A quarter's thin sample (the first ``n`` paths) as a few stacked arrays, see :func:`unpack_thin`.

    One array per variable made two kernels each outside the quarterly loop (the scan's output buffer and its
    copy) and one write in it: stacked, 4 arrays instead of 14.
    """
    out = {}
    for part, names, axis in THIN_PARTS:
        for group, members in _thin_groups(names).items():
            arrays = [getattr(obs, k)[:, :n].T if part == "company" else getattr(obs, k)[:n] for k in members]
            if len({a.dtype for a in arrays}) != 1:
                raise TypeError(f"thin sample group {part}.{group} mixes dtypes {[str(a.dtype) for a in arrays]}")
            out[f"{part}.{group}"] = jnp.stack(arrays, axis=axis)
    return out


def unpack_thin(packed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The thin sample by variable, {name: (quarters, paths[, companies])}, from the scan's stack of
    :func:`pack_thin` (leading axis the quarter)."""
    out = {}
    for part, names, axis in THIN_PARTS:
        for group, members in _thin_groups(names).items():
            for i, k in enumerate(members):
                out[k] = np.take(packed[f"{part}.{group}"], i, axis=axis)
    return {k: out[k] for k in THIN_VARS + THIN_MARKET}


def quarter_cells(obs: Observations, valid: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The sketched values of one quarter, cell-major (companies x ``COMPANY_VARS`` + ``INDICES``, paths), and
    which count: company values of companies alive at quarter end, market values of every valid path."""
    companies = jnp.stack([getattr(obs, v) for v in COMPANY_VARS], axis=1)  # (C, V, paths)
    alive = (obs.status == 0) & valid[None]  # (C, paths)
    market = jnp.stack([getattr(obs, k) for k in INDICES])  # (M, paths)
    n = valid.shape[0]
    cells = jnp.concatenate([companies.reshape(-1, n), market])
    weight = jnp.concatenate([jnp.broadcast_to(alive[:, None], companies.shape).reshape(-1, n),
                              jnp.broadcast_to(valid[None], market.shape)])
    return cells, weight


def horizon_values(final: Any) -> dict[str, jax.Array]:
    """The horizon variables of a final state, each (companies, paths)."""
    return {k: getattr(final.company, k) for k in HORIZON_VARS}


@partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def chunk_program(model_static: tuple, n_blocks: int, horizon: int, mode: str, reducer: ChunkReducer,
                  seed_key: jax.Array, first_block: jax.Array, theta: jax.Array, factor: Any,
                  consts: dict[str, jax.Array], tables: dict[str, jax.Array], n_valid: jax.Array) -> dict[str, Any]:
    """Simulate and reduce one chunk (see the module docstring).

    Args:
        tables: the run's sketch edges ``edges`` (quarters, cells, 5) and ``fedges`` (horizon cells, 5).
        n_valid: how many of the chunk's first paths count (the rest are padding), int32.

    Returns:
        ``quarters`` (every reduction stacked per quarter) and ``horizon`` (:meth:`ChunkReducer.finish`).
    """
    valid = jnp.arange(n_blocks * model_static[0].block_size, dtype=jnp.int32) < n_valid
    aux = {"fedges": tables["fedges"], "valid": valid, "first": first_block}
    final, ys, draws = chunk_scan(model_static, n_blocks, horizon, mode, reducer, seed_key, first_block, theta,
                                  factor, consts, aux, {"edges": tables["edges"]})
    return {"quarters": ys, "horizon": reducer.finish(aux, final, draws)}


def run_arrays(model: Model, theta: Any, shapes_only: bool = False) -> tuple:
    """The run-wide array arguments of :func:`chunk_program`: theta, the copula factor with the inputs' quantile
    tables (built here, once per run, not in every chunk) and the model's constants.

    ``shapes_only``: the factor and tables as shapes (``sampler.draw_array_shapes``), not built: enough to
    compile :func:`chunk_program`."""
    theta = jnp.asarray(model.sampler.theta if theta is None else theta, jnp.float32)
    layout, factor = model.sampler.layout, model.sampler.factor
    tables = (draw_array_shapes(layout, factor.shape) if shapes_only
              else _draw_arrays(layout, theta, jnp.asarray(factor)))
    return (theta, tables, {k: jnp.asarray(v) for k, v in model.consts.items()})


_draw_arrays = jax.jit(draw_arrays, static_argnums=0)


def dummy_tables(horizon: int, n_companies: int) -> dict[str, np.ndarray]:
    """Edge tables for the first chunk, for ``n_companies`` companies: the quarters' cells (companies x
    ``COMPANY_VARS``, then ``INDICES``) and the horizon cells. Their scales are NaN, which tells the chunk to
    take its edges from its own first paths (:meth:`ChunkReducer.edges`) and return them for the run's
    other chunks."""
    n_cells, n_horizon_cells = n_companies * len(COMPANY_VARS) + len(INDICES), n_companies * len(HORIZON_VARS)

    def edges(*cells: int) -> np.ndarray:
        e = np.zeros((*cells, 5), np.float32)
        e[..., 1], e[..., 2], e[..., 3], e[..., 4] = np.nan, -10.0, 10.0, np.nan
        return e

    return {"edges": edges(horizon, n_cells), "fedges": edges(n_horizon_cells)}

