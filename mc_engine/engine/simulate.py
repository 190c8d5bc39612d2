"""Run many paths in chunks and merge their reductions: memory does not grow with the path count.

Chunks are whole key blocks; the last chunk is padded with whole blocks whose
paths are masked out, so every chunk has the same shape (one compiled program)
and every result is the same for any chunk size.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._options import (
    SINGLE_BLOCK_PRNGS,
    check_block_size,
    check_chunk_paths,
    check_horizon,
    check_paths,
    check_prng,
)
from ..inputs.loader import Priors
from ..model.market import INDICES
from .keys import DEFAULT_BLOCK_SIZE, DEFAULT_PRNG, root_key
from .reduce import (
    COMPANY_VARS,
    N_BINS,
    atom_count,
    block_sums,
    histogram,
    masked_extremes,
    merge_ties,
    pilot_edges,
    ties_at_extremes,
)
from .scan import Model, compile_model, run_chunk
from .shard import merge_processes, process_block_range, run_chunks_on_devices

DEFAULT_QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99)
THIN_VARS: tuple[str, ...] = ("cash", "burn", "revenue", "gross_margin", "runway", "debt", "status")
THIN_MARKET: tuple[str, ...] = INDICES + ("regime",)


N_COUNTS: int = 6
"""Path counts per company and quarter: alive, defaulted, acquired, and defaults by cause (cash exhausted,
covenant, maturity not refinanced; funding.CAUSES without acquisition, which is the acquired count)."""


def default_chunk_paths(block_size: int = DEFAULT_BLOCK_SIZE) -> int:
    """Paths per chunk for the default device: 8 blocks (65,536 paths) on CPU, 128 blocks on an accelerator."""
    blocks = 8 if jax.default_backend() == "cpu" else 128
    return blocks * block_size


def _reducer(aux: dict[str, Any], t: jax.Array, obs: dict[str, jax.Array], alive_prev: jax.Array) -> dict:
    """Per-quarter reductions of one chunk (see module docstring of reduce.py)."""
    valid = aux["valid"]
    block = aux["block_size"]
    status = obs["status"]
    v2 = valid[:, None]
    alive = (status == 0) & v2
    cause = obs["cause"]
    counts = jnp.stack([alive.sum(0), ((status == 1) & v2).sum(0), ((status == 2) & v2).sum(0),
                        *[((cause == k) & v2).sum(0) for k in (1, 2, 3)]]).astype(jnp.int32)
    x = jnp.stack([obs[v] for v in COMPANY_VARS], axis=-1)
    w = jnp.broadcast_to(alive[:, :, None], x.shape)
    mkt = jnp.stack([obs[k] for k in INDICES], axis=-1)
    wm = jnp.broadcast_to(v2, mkt.shape)
    i = t - 1
    thin = aux["thin"]
    low, high = masked_extremes(x, w)
    mlow, mhigh = masked_extremes(mkt, wm)
    return {
        "counts": counts,
        "hist": histogram(x, w, aux["edges"][i]),
        "atoms": atom_count(x, w, aux["edges"][i]),
        "extremes": jnp.stack([low, high]),
        "ties": ties_at_extremes(x, w, low, high),
        "sums": block_sums(x, w, block),
        "mhist": histogram(mkt, wm, aux["medges"][i]),
        "matoms": atom_count(mkt, wm, aux["medges"][i]),
        "mextremes": jnp.stack([mlow, mhigh]),
        "mties": ties_at_extremes(mkt, wm, mlow, mhigh),
        "msums": block_sums(mkt, wm, block),
        "regime": jnp.stack([((obs["regime"] == r) & valid).sum() for r in range(3)]).astype(jnp.int32),
        "thin": {k: obs[k][:thin] for k in (*THIN_VARS, *THIN_MARKET)},
    }


SUPERBLOCK: int = 64
"""Key blocks per summation unit: block sums are added in block order within a superblock, and superblock
totals in superblock order, so float64 means are the same for any chunking, device count or host split
(hosts take whole superblocks)."""


@dataclass
class Accumulator:
    """Merged reductions of the chunks run so far (host side, exact integer counts, float64 sums).

    ``start``/``stop``: this process's key blocks; blocks outside (padding) are skipped. Block sums go into
    the open superblock's running total; a finished superblock is folded into ``sums``/``msums`` in order,
    or, with ``keep_superblocks`` (several processes), kept by index for :func:`shard.merge_processes`.
    """

    counts: np.ndarray
    hist: np.ndarray
    mhist: np.ndarray
    extremes: np.ndarray
    mextremes: np.ndarray
    ties: np.ndarray
    mties: np.ndarray
    atoms: np.ndarray
    matoms: np.ndarray
    regime: np.ndarray
    start: int
    stop: int
    keep_superblocks: bool = False
    sums: np.ndarray | None = None
    msums: np.ndarray | None = None
    superblocks: dict[str, dict[int, np.ndarray]] = field(default_factory=lambda: {"sums": {}, "msums": {}})
    _open: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def empty(cls, horizon: int, nc: int, nv: int, nm: int, start: int, stop: int,
              keep_superblocks: bool = False) -> Accumulator:
        ext = lambda *cells: np.stack([np.full(cells, np.inf, np.float32), np.full(cells, -np.inf, np.float32)])  # noqa: E731
        return cls(counts=np.zeros((horizon, N_COUNTS, nc), np.int64), hist=np.zeros((horizon, nc, nv, N_BINS + 2), np.int64),
                   mhist=np.zeros((horizon, nm, N_BINS + 2), np.int64),
                   extremes=np.stack([ext(nc, nv)] * horizon), mextremes=np.stack([ext(nm)] * horizon),
                   ties=np.zeros((horizon, 2, nc, nv), np.int64), mties=np.zeros((horizon, 2, nm), np.int64),
                   atoms=np.zeros((horizon, nc, nv), np.int64), matoms=np.zeros((horizon, nm), np.int64),
                   regime=np.zeros((horizon, 3), np.int64), start=start, stop=stop, keep_superblocks=keep_superblocks)

    def add(self, ys: dict[str, Any], first_block: int) -> None:
        get = lambda k: np.asarray(ys[k])  # noqa: E731
        for k in ("counts", "hist", "mhist", "atoms", "matoms", "regime"):
            setattr(self, k, getattr(self, k) + get(k).astype(np.int64))
        for k, t in (("extremes", "ties"), ("mextremes", "mties")):
            ext, ties = merge_ties(getattr(self, k), getattr(self, t), get(k), get(t), axis=1)
            setattr(self, k, ext)
            setattr(self, t, ties)
        for k in ("sums", "msums"):
            blocks = get(k).astype(np.float64)  # (T, blocks, ...)
            for b in range(blocks.shape[1]):
                g = first_block + b
                if self.start <= g < self.stop:
                    self._add_block(k, g, blocks[:, b])

    def _add_block(self, k: str, g: int, block: np.ndarray) -> None:
        unit = g // SUPERBLOCK
        if k in self._open and self._open[k][0] != unit:
            self._close(k)
        held = self._open.get(k)
        self._open[k] = (unit, block if held is None else held[1] + block)

    def _close(self, k: str) -> None:
        unit, total = self._open.pop(k)
        if self.keep_superblocks:
            self.superblocks[k][unit] = total
        else:
            setattr(self, k, total if getattr(self, k) is None else getattr(self, k) + total)

    def finish(self) -> None:
        """Close the open superblocks (call once, after the last chunk)."""
        for k in list(self._open):
            self._close(k)


@dataclass(frozen=True)
class RawResult:
    """Everything :func:`simulate` measured, before it becomes an xarray Dataset (internal company order)."""

    model: Model
    n_paths: int
    seed: int
    horizon: int
    prng: str
    chunk_paths: int
    counts: np.ndarray  # (T, N_COUNTS, C): alive, defaulted, acquired, then defaults by cause (cash, covenant, maturity)
    hist: np.ndarray  # (T, C, V, N_BINS + 2)
    edges: np.ndarray  # (T, C, V, 5)
    extremes: np.ndarray  # (T, 2, C, V)
    ties: np.ndarray  # (T, 2, C, V): values equal to the minimum / maximum
    atoms: np.ndarray  # (T, C, V): values equal to the cell's atom (edges[..., 4]), not in hist
    sums: np.ndarray  # (T, C, V) float64
    mhist: np.ndarray
    medges: np.ndarray
    mextremes: np.ndarray
    mties: np.ndarray
    matoms: np.ndarray
    msums: np.ndarray
    regime: np.ndarray  # (T, 3)
    thin: dict[str, np.ndarray]
    final: dict[str, np.ndarray]  # horizon values of every path kept for the sensitivity subsample + sketches
    horizon_stats: dict[str, np.ndarray]
    sens_inputs: dict[str, np.ndarray]
    timings: dict[str, float]


def _valid(first_block: int, n_blocks: int, block: int, n_paths: int, stop_block: int | None = None) -> np.ndarray:
    """Which paths of a chunk count: those before ``n_paths`` (and before block ``stop_block``)."""
    end = n_paths if stop_block is None else min(n_paths, stop_block * block)
    return (first_block * block + np.arange(n_blocks * block)) < end


def _dummy_edges(horizon: int, *cells: int) -> np.ndarray:
    e = np.zeros((horizon, *cells, 5), np.float32)
    e[..., 1], e[..., 2], e[..., 3], e[..., 4] = 1.0, -10.0, 10.0, np.nan
    return e


def simulate_raw(priors: Priors, n_paths: int, seed: int = 0, horizon: int = 24, *, chunk_paths: int | None = None,
                 thin: int = 1000, sensitivity_paths: int = 10_000, prng: str = DEFAULT_PRNG,
                 block_size: int = DEFAULT_BLOCK_SIZE,
                 progress: Callable[[int, int], None] | None = None, theta: np.ndarray | None = None,
                 until: Callable[[np.ndarray, int], bool] | None = None,
                 devices: Sequence[jax.Device] | None = None, process_index: int | None = None,
                 process_count: int | None = None) -> RawResult:
    """Simulate ``n_paths`` futures and return merged reductions (see :func:`mc_engine.simulate`).

    Args:
        theta: every prior number, flat (``model.sampler.theta`` layout); default the priors' own. Traced: new
            values reuse the compiled program.
        until: called after each chunk, in block order, with the alive/defaulted/acquired counts
            (quarters, 3, companies) and the paths done; True stops early and the result is that of a run of
            that many paths (``n_paths`` is then a maximum).
        devices: local devices to spread chunks over (one chunk per device at a time); the result does not
            depend on how many.
        process_index, process_count: this process's share when several (``jax.distributed``) processes run
            one simulation (default ``jax.process_index()`` / ``jax.process_count()``): each takes a
            contiguous range of whole superblocks and the reductions are merged across processes with
            JAX collectives, so every process returns the result of a one-process run, bit for bit.
    """
    check_paths(n_paths, "n_paths")
    check_horizon(horizon, "horizon")
    check_block_size(block_size)
    check_chunk_paths(chunk_paths, check_prng(prng, "prng"), block_size, "chunk_paths")
    t0 = time.perf_counter()
    key = root_key(seed, prng)
    model = compile_model(priors, block_size)
    total_blocks = math.ceil(n_paths / block_size)
    if prng in SINGLE_BLOCK_PRNGS:
        chunk_paths = block_size
    chunk_paths = chunk_paths or default_chunk_paths(block_size)
    chunk_blocks = max(1, min(chunk_paths // block_size, total_blocks))
    # At most one key block: the thin sample (and the sketch pilot drawn from it) is then the same paths
    # for every chunk size; capping at the chunk made both depend on chunk_paths when thin > block_size.
    thin = min(thin, n_paths, block_size)
    nc, nv, nm = model.layout.n_companies, len(COMPANY_VARS), len(INDICES)
    index = jax.process_index() if process_index is None else process_index
    count = jax.process_count() if process_count is None else process_count
    if count > 1 and until is not None:
        raise ValueError("a precision stop (until) runs in one process; split sweep points between processes")
    mine = process_block_range(total_blocks, index, count, align=SUPERBLOCK)
    firsts = range(mine.start, mine.stop, chunk_blocks)  # a range: 1e12 paths need no list of 1e8 chunks

    def valid_for(first: int) -> np.ndarray:
        return _valid(first, chunk_blocks, block_size, n_paths, mine.stop)

    def aux_for(first: int, edges: np.ndarray, medges: np.ndarray) -> dict[str, Any]:
        return {"valid": jnp.asarray(valid_for(first)), "edges": jnp.asarray(edges), "medges": jnp.asarray(medges)}

    reducer = _Reducer(thin, block_size)

    # Pilot: the first chunk's thin sample sets the sketch edges (the same paths whatever the chunking).
    aux = {"valid": jnp.asarray(_valid(0, chunk_blocks, block_size, n_paths)),
           "edges": jnp.asarray(_dummy_edges(horizon, nc, nv)), "medges": jnp.asarray(_dummy_edges(horizon, nm))}
    final, ys, _ = run_chunk(model, key, 0, chunk_blocks, horizon, reducer, aux, theta=theta)
    thin_obs = {k: np.asarray(v) for k, v in ys["thin"].items()}
    t_compile = time.perf_counter() - t0
    alive_thin = thin_obs["status"] == 0  # (T, thin, C)
    stacked = np.stack([thin_obs[v] for v in COMPANY_VARS], axis=-1)  # (T, thin, C, V)
    edges = np.stack([pilot_edges(stacked[t], np.broadcast_to(alive_thin[t][..., None], stacked[t].shape))
                      for t in range(horizon)])
    mstack = np.stack([thin_obs[k] for k in INDICES], axis=-1)  # (T, thin, M)
    medges = np.stack([pilot_edges(mstack[t], np.ones_like(mstack[t], bool)) for t in range(horizon)])
    final_cells = np.stack([np.asarray(final.company.cumburn)[:thin], np.asarray(final.company.raised)[:thin]], -1)
    fedges = pilot_edges(final_cells, np.ones_like(final_cells, bool))  # (C, 2, 5)

    acc = Accumulator.empty(horizon, nc, nv, nm, mine.start, mine.stop, keep_superblocks=count > 1)
    horizon_hist = np.zeros((nc, 2, N_BINS + 2), np.int64)
    horizon_ext = np.stack([np.full((nc, 2), np.inf), np.full((nc, 2), -np.inf)])
    horizon_ties = np.zeros((2, nc, 2), np.int64)
    horizon_atoms = np.zeros((nc, 2), np.int64)
    rounds_sum = np.zeros(nc)
    down_count = np.zeros(nc, np.int64)
    # The sensitivity subsample is the first paths of the run: process 0's (at most its share).
    keep = min(sensitivity_paths, n_paths, process_block_range(total_blocks, 0, count, align=SUPERBLOCK).stop * block_size)
    sens_outcomes: dict[str, list[np.ndarray]] = {"survived": [], "cumburn": []}
    sens_inputs: dict[str, list[np.ndarray]] = {}
    t_run = time.perf_counter()
    my_paths = max(0, min(n_paths, mine.stop * block_size) - mine.start * block_size)
    if progress is not None:
        progress(0, my_paths)
    n_done = 0

    def chunk_results() -> Iterator[tuple[int, Any, Any, Any]]:
        if devices is None or len(devices) < 2:
            for first in firsts:
                yield (first, *run_chunk(model, key, first, chunk_blocks, horizon, reducer,
                                         aux_for(first, edges, medges), theta=theta))
            return
        for group in range(0, len(firsts), len(devices)):
            # A short last group is padded with chunks past the end (every path masked) and dropped.
            group_firsts = [firsts[0] + (group + d) * chunk_blocks for d in range(len(devices))]
            per_chunk = [{"valid": valid_for(f)} for f in group_firsts]
            outs = run_chunks_on_devices(model, key, group_firsts, chunk_blocks, horizon, reducer,
                                         {"edges": edges, "medges": medges}, per_chunk,
                                         model.sampler.theta if theta is None else theta, devices)
            for d, out in enumerate(outs):
                if group + d < len(firsts):
                    yield (group_firsts[d], *out)

    for first, final, ys, draws in chunk_results():
        acc.add(ys, first)
        valid = valid_for(first)
        c = final.company
        cells = np.stack([np.asarray(c.cumburn), np.asarray(c.raised)], -1)[valid]
        horizon_hist += _np_histogram(cells, fedges)
        horizon_atoms += (cells == fedges[None, ..., 4]).sum(0)
        chunk_ext = np.stack([cells.min(0, initial=np.inf), cells.max(0, initial=-np.inf)])
        chunk_ties = np.stack([(cells == chunk_ext[0]).sum(0), (cells == chunk_ext[1]).sum(0)])
        horizon_ext, horizon_ties = merge_ties(horizon_ext, horizon_ties, chunk_ext, chunk_ties, axis=0)
        rounds_sum += np.asarray(c.rounds, np.float64)[valid].sum(0)
        down_count += (np.asarray(c.down_rounds)[valid] > 0).sum(0)
        start = first * block_size
        if start < keep:
            take = min(keep - start, chunk_blocks * block_size)
            sens_outcomes["survived"].append(np.asarray(c.status)[:take] == 0)
            sens_outcomes["cumburn"].append(np.asarray(c.cumburn)[:take])
            drawn = np.asarray(draws)
            for j, (name, inp) in enumerate(priors.inputs.items()):
                if not inp.is_point:
                    sens_inputs.setdefault(name, []).append(drawn[:take, j])
        n_done = min((first + chunk_blocks) * block_size, n_paths, mine.stop * block_size) - mine.start * block_size
        if progress is not None:
            progress(n_done, my_paths)
        if until is not None and n_done < n_paths and until(acc.counts, n_done):
            n_paths = n_done
            break
    acc.finish()
    if count > 1:
        final_sens = {k: np.concatenate(v) if v else np.zeros((0, nc), bool if k == "survived" else np.float32)
                      for k, v in sens_outcomes.items()}
        names = [name for name, inp in priors.inputs.items() if not inp.is_point]
        ranges = [process_block_range(total_blocks, p, count, align=SUPERBLOCK) for p in range(count)]
        merged = merge_processes(acc, {"hist": horizon_hist, "extremes": horizon_ext, "ties": horizon_ties,
                                       "atoms": horizon_atoms, "rounds": rounds_sum, "down": down_count},
                                 final_sens, sens_inputs, keep, names, ranges, SUPERBLOCK)
        horizon_hist, horizon_ext, horizon_ties, horizon_atoms, rounds_sum, down_count = (
            merged["horizon"][k] for k in ("hist", "extremes", "ties", "atoms", "rounds", "down"))
        sens_outcomes = {k: [v] for k, v in merged["final"].items()}
        sens_inputs = {k: [v] for k, v in merged["inputs"].items()}
    t_end = time.perf_counter()
    sums, msums = acc.sums, acc.msums
    return RawResult(
        model=model, n_paths=n_paths, seed=seed, horizon=horizon, prng=prng,
        chunk_paths=chunk_blocks * block_size, counts=acc.counts, hist=acc.hist, edges=edges,
        extremes=acc.extremes, ties=acc.ties, atoms=acc.atoms, sums=sums, mhist=acc.mhist, medges=medges,
        mextremes=acc.mextremes, mties=acc.mties, matoms=acc.matoms, msums=msums,
        regime=acc.regime, thin=thin_obs,
        final={k: np.concatenate(v) if v else np.zeros((0, nc)) for k, v in sens_outcomes.items()},
        horizon_stats={"hist": horizon_hist, "edges": fedges, "extremes": horizon_ext, "ties": horizon_ties,
                       "atoms": horizon_atoms,
                       "rounds_mean": rounds_sum / n_paths, "down_round_prob": down_count / n_paths},
        sens_inputs={k: np.concatenate(v) for k, v in sens_inputs.items()},
        timings={"compile_and_pilot_s": t_compile, "run_s": t_end - t_run, "total_s": t_end - t0},
    )


def _np_histogram(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`reduce.histogram` for the small horizon sketches, (*cells, N_BINS + 2)."""
    m, s, lo, hi = (edges[..., i].astype(np.float64) for i in range(4))
    y = np.arcsinh((x.astype(np.float64) - m) / s)
    idx = (np.clip(np.floor((y - lo) / (hi - lo) * N_BINS), -1, N_BINS) + 1).astype(np.int64)
    cells = int(np.prod(x.shape[1:]))
    flat = idx.reshape(x.shape[0], cells) + np.arange(cells) * (N_BINS + 2)
    counted = (x != edges[None, ..., 4]).reshape(x.shape[0], cells)  # the atom is counted apart
    return np.bincount(flat[counted], minlength=cells * (N_BINS + 2)).reshape(*x.shape[1:], N_BINS + 2)


@dataclass(frozen=True)
class _Reducer:
    """The chunk reducer with its static sizes (hashable: a jit static argument)."""

    thin: int
    block_size: int

    def __call__(self, aux, t, obs, alive_prev):  # noqa: ANN001, ANN204
        return _reducer({**aux, "thin": self.thin, "block_size": self.block_size}, t, obs, alive_prev)
