"""Run many paths in chunks and merge their reductions: memory does not grow with the path count.

Chunks are whole key blocks; the last chunk is padded with whole blocks whose
paths are masked out, so every chunk has the same shape (one compiled program)
and every result is the same for any chunk size. Each chunk is simulated and
reduced on the device (:mod:`.chunk`); the host only adds merged counts.

The parts, in the order a run uses them: :class:`ChunkPlan` (which blocks, in which
chunks), :func:`pilot` (the first chunk's thin sample sets the sketch edges),
:class:`Accumulator` (merges chunk reductions exactly), :func:`stop_early` (the
precision rule), and :func:`simulate_raw`, the loop.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
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
from .chunk import (
    HORIZON_VARS,
    N_COUNTS,
    THIN_MARKET,
    THIN_VARS,
    ChunkReducer,
    chunk_program,
    dummy_tables,
    run_arrays,
    unpack_thin,
)
from .keys import DEFAULT_BLOCK_SIZE, DEFAULT_PRNG, root_key
from .reduce import COMPANY_VARS, N_BINS, merge_ties
from .scan import Model, compile_model
from .shard import merge_processes, process_block_range, run_chunks_on_devices

__all__ = ["DEFAULT_QUANTILES", "N_COUNTS", "SUPERBLOCK", "THIN_MARKET", "THIN_VARS", "RawResult", "simulate_raw"]

DEFAULT_QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99)

SUPERBLOCK: int = 64
"""Key blocks per summation unit: block sums are added in block order within a superblock, and superblock
totals in superblock order, so float64 means are the same for any chunking, device count or host split
(hosts take whole superblocks)."""


def default_chunk_paths(block_size: int = DEFAULT_BLOCK_SIZE) -> int:
    """Paths per chunk for the default device: one block (8,192 paths) on CPU, 128 blocks on an accelerator.

    On CPU a quarter's arrays then stay in the caches between the step's kernels: 1e6 paths ran in 52-55 s in
    8,192-path chunks against 63-68 s in 65,536-path ones (docs/performance.md, "Smaller chunks on CPU")."""
    blocks = 1 if jax.default_backend() == "cpu" else 128
    return blocks * block_size


def balanced_chunk_blocks(n_blocks: int, most: int) -> int:
    """Blocks per chunk for ``n_blocks`` blocks in chunks of at most ``most``: as few chunks as that allows,
    the blocks spread evenly over them, so the padding of the last chunk is less than one block per chunk
    (13 blocks in chunks of at most 8: two chunks of 7, padding 1 block, where chunks of 8 padded 3)."""
    n_chunks = -(-n_blocks // max(1, most))
    return -(-n_blocks // n_chunks)


@dataclass(frozen=True)
class ChunkPlan:
    """Which key blocks this process runs, in chunks of ``chunk_blocks``.

    Attributes:
        n_paths: paths of the whole run (every process); blocks: this process's key blocks (whole
            superblocks, :func:`shard.process_block_range`); keep: paths of the sensitivity subsample, the
            run's first (process 0's, at most its share).
    """

    n_paths: int
    block_size: int
    chunk_blocks: int
    blocks: range
    keep: int

    @classmethod
    def make(cls, n_paths: int, block_size: int, chunk_paths: int | None, prng: str, sensitivity_paths: int,
             index: int, count: int) -> ChunkPlan:
        total_blocks = math.ceil(n_paths / block_size)
        mine = process_block_range(total_blocks, index, count, align=SUPERBLOCK)
        if prng in SINGLE_BLOCK_PRNGS:
            chunk_paths = block_size
        if chunk_paths is None:
            chunk_blocks = balanced_chunk_blocks(len(mine) or total_blocks, default_chunk_paths(block_size) // block_size)
        else:
            chunk_blocks = max(1, min(chunk_paths // block_size, total_blocks))
        first_share = process_block_range(total_blocks, 0, count, align=SUPERBLOCK)
        keep = min(sensitivity_paths, n_paths, first_share.stop * block_size)
        return cls(n_paths, block_size, chunk_blocks, mine, keep)

    @property
    def chunk_paths(self) -> int:
        return self.chunk_blocks * self.block_size

    @property
    def firsts(self) -> range:
        """First block of each chunk (a range: 1e12 paths need no list of 1e8 chunks)."""
        return range(self.blocks.start, self.blocks.stop, self.chunk_blocks)

    @property
    def end(self) -> int:
        """One past this process's last path."""
        return min(self.n_paths, self.blocks.stop * self.block_size)

    @property
    def my_paths(self) -> int:
        return max(0, self.end - self.blocks.start * self.block_size)

    def n_valid(self, first: int) -> int:
        """Paths of the chunk starting at block ``first`` that count (the rest pad it to the chunk's shape)."""
        return int(np.clip(self.end - first * self.block_size, 0, self.chunk_paths))

    def done_after(self, first: int) -> int:
        """This process's paths done once the chunk starting at block ``first`` is merged."""
        return min((first + self.chunk_blocks) * self.block_size, self.end) - self.blocks.start * self.block_size


@dataclass(frozen=True)
class Pilot:
    """What the pilot chunk (the run's first chunk, whatever the chunking) fixes for the run.

    Attributes:
        tables: sketch edges of every quarter's cells (``edges``, (T, C*V + M, 5)) and of the horizon cells
            (``fedges``, (C*3, 5)), float32, as :func:`reduce.cell_pilot_edges` made them from the chunk's first
            ``thin`` paths.
        thin: the thin sample, {name: (T, thin, ...)}.
        output: the chunk's output (sketched with those edges): the run's own first chunk, merged as it is
            when the run's first chunk starts at block 0 with the same valid paths (:meth:`reusable`).
        n_valid: the chunk's valid paths.
    """

    tables: dict[str, np.ndarray]
    thin: dict[str, np.ndarray]
    output: dict[str, Any]
    n_valid: int

    def reusable(self, plan: ChunkPlan) -> bool:
        """Whether the plan's first chunk is this one (block 0, same valid paths), so it need not run again."""
        return len(plan.firsts) > 0 and plan.firsts[0] == 0 and plan.n_valid(0) == self.n_valid


def pilot(run: Callable[[int, dict[str, np.ndarray], int], dict], plan: ChunkPlan, horizon: int, nc: int) -> Pilot:
    """Run the first chunk, which takes its sketch edges from its own first ``thin`` paths (edge tables with NaN
    scales, :func:`chunk.dummy_tables`), and keep its edges, its thin sample and its output."""
    n_valid = min(plan.n_paths, plan.chunk_paths)
    out = run(0, dummy_tables(horizon, nc), n_valid)
    tables = {"edges": np.asarray(out["quarters"]["edges"]), "fedges": np.asarray(out["horizon"]["fedges"])}
    thin = unpack_thin({k: np.asarray(v) for k, v in out["quarters"]["thin"].items()})
    return Pilot(tables, thin, out, n_valid)


def _empty_sketch(lead: tuple[int, ...], cells: int) -> dict[str, np.ndarray]:
    """Merged sketch of no values: ``hist`` (*lead, cells, bins), ``atoms`` (*lead, cells), ``extremes`` (+inf /
    -inf) and ``ties`` (*lead, 2, cells)."""
    extremes = np.stack([np.full((*lead, cells), np.inf, np.float32), np.full((*lead, cells), -np.inf, np.float32)],
                        axis=len(lead))
    return {"hist": np.zeros((*lead, cells, N_BINS + 2), np.int64), "atoms": np.zeros((*lead, cells), np.int64),
            "extremes": extremes, "ties": np.zeros((*lead, 2, cells), np.int64)}


@dataclass
class Accumulator:
    """Merged reductions of the chunks run so far (host side, exact integer counts, float64 sums).

    Cells are the chunk program's: every quarter companies x ``COMPANY_VARS`` then ``INDICES``; at the horizon
    companies x ``HORIZON_VARS``. Block sums go into the open superblock's running total; a finished
    superblock is folded into ``sums`` in order, or, with ``keep_superblocks`` (several processes), kept by
    index for :func:`shard.merge_processes`. ``head``: the sensitivity subsample's outcomes and inputs.
    """

    plan: ChunkPlan
    quarters: dict[str, np.ndarray]
    horizon: dict[str, np.ndarray]
    keep_superblocks: bool = False
    sums: np.ndarray | None = None
    superblocks: dict[int, np.ndarray] = field(default_factory=dict)
    head: dict[str, list[np.ndarray]] = field(default_factory=dict)
    _open: tuple[int, np.ndarray] | None = None

    @classmethod
    def empty(cls, plan: ChunkPlan, horizon: int, n_cells: int, n_horizon_cells: int, nc: int,
              keep_superblocks: bool = False) -> Accumulator:
        quarters = {"counts": np.zeros((horizon, N_COUNTS, nc), np.int64), "regime": np.zeros((horizon, 3), np.int64),
                    **_empty_sketch((horizon,), n_cells)}
        final = {"rounds": np.zeros(nc, np.int64), "down": np.zeros(nc, np.int64), **_empty_sketch((), n_horizon_cells)}
        return cls(plan, quarters, final, keep_superblocks)

    def add(self, out: dict[str, Any], first: int) -> None:
        """Merge the chunk that starts at block ``first`` (its :func:`chunk.chunk_program` output, on the host)."""
        ys, fin = out["quarters"], out["horizon"]
        for into, new, axis in ((self.quarters, {**ys["sketch"], "counts": ys["counts"], "regime": ys["regime"]}, 1),
                                (self.horizon, {**fin["sketch"], "rounds": fin["rounds"], "down": fin["down"]}, 0)):
            for k in ("counts", "regime", "hist", "atoms", "rounds", "down"):
                if k in into:  # in place, without an int64 copy of the chunk's counts
                    np.add(into[k], new[k], out=into[k])
            into["extremes"], into["ties"] = merge_ties(into["extremes"], into["ties"], np.asarray(new["extremes"]),
                                                        np.asarray(new["ties"]), axis=axis)
        blocks = np.asarray(ys["sums"], np.float64)  # (T, blocks, cells)
        for b in range(blocks.shape[1]):
            if first + b in self.plan.blocks:
                self._add_block(first + b, blocks[:, b])
        start = first * self.plan.block_size
        if start < self.plan.keep:
            take = min(self.plan.keep - start, self.plan.chunk_paths)
            for k, v in fin["head"].items():
                self.head.setdefault(k, []).append(np.asarray(v)[:take])

    def _add_block(self, g: int, block: np.ndarray) -> None:
        unit = g // SUPERBLOCK
        if self._open is not None and self._open[0] != unit:
            self._close()
        self._open = (unit, block if self._open is None else self._open[1] + block)

    def _close(self) -> None:
        unit, total = self._open
        self._open = None
        if self.keep_superblocks:
            self.superblocks[unit] = total
        else:
            self.sums = total if self.sums is None else self.sums + total

    def finish(self) -> None:
        """Close the open superblock (call once, after the last chunk)."""
        if self._open is not None:
            self._close()

    def head_arrays(self, nc: int, n_inputs: int) -> dict[str, np.ndarray]:
        """The sensitivity subsample: ``survived``, ``cumburn``, ``raised`` (keep, C), ``inputs`` (keep, inputs)."""
        empty = {"survived": np.zeros((0, nc), bool), "inputs": np.zeros((0, n_inputs), np.float32)}
        return {k: np.concatenate(self.head[k]) if self.head.get(k) else empty.get(k, np.zeros((0, nc), np.float32))
                for k in ("survived", *HORIZON_VARS, "inputs")}


def stop_early(until: Callable[[np.ndarray, int], bool] | None, acc: Accumulator, n_done: int, n_paths: int) -> bool:
    """The precision rule: after a chunk, ``until`` (if any) sees the path counts merged so far (quarters,
    ``N_COUNTS``, companies) and the paths done, and True ends the run there (short of ``n_paths``)."""
    return until is not None and n_done < n_paths and bool(until(acc.quarters["counts"], n_done))


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
    final: dict[str, np.ndarray]  # horizon values of every path kept for the sensitivity subsample
    horizon_stats: dict[str, np.ndarray]
    sens_inputs: dict[str, np.ndarray]
    timings: dict[str, float]


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
        until: called after each chunk, in block order, with the path counts
            (quarters, N_COUNTS, companies) and the paths done; True stops early and the result is that of a run of
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
    count = jax.process_count() if process_count is None else process_count
    if count > 1 and until is not None:
        raise ValueError("a precision stop (until) runs in one process; split sweep points between processes")
    t0 = time.perf_counter()
    model = compile_model(priors, block_size)
    index = jax.process_index() if process_index is None else process_index
    plan = ChunkPlan.make(n_paths, block_size, chunk_paths, prng, sensitivity_paths, index, count)
    # At most one key block: the thin sample (and the sketch pilot drawn from it) is then the same paths
    # for every chunk size.
    thin = min(thin, n_paths, block_size)
    nc = model.layout.n_companies
    uncertain = tuple(i for i, inp in enumerate(priors.inputs.values()) if not inp.is_point)
    # The paths whose head the program gathers: the requested subsample, not plan.keep (which is cut to
    # n_paths), so the compiled program is the same for every path count.
    keep = max(thin, sensitivity_paths)
    reducer = ChunkReducer(thin, block_size, min(plan.chunk_paths, keep), uncertain, keep)
    chunks = _ChunkRunner(model, root_key(seed, prng), plan, horizon, reducer, theta, devices)
    chunks.arrays  # noqa: B018  (the chunk program compiled, or loaded from the cache, beside the inputs' tables)
    t_ready = time.perf_counter()
    first_chunk = pilot(chunks.run, plan, horizon, nc)
    t_compile = time.perf_counter() - t0
    acc = Accumulator.empty(plan, horizon, first_chunk.tables["edges"].shape[1], nc * len(HORIZON_VARS), nc,
                            keep_superblocks=count > 1)
    if progress is not None:
        progress(0, plan.my_paths)
    reuse = first_chunk.reusable(plan)
    outputs = chunks.outputs(first_chunk.tables, skip_first=reuse)
    for first, out in itertools.chain([(0, first_chunk.output)] if reuse else [], outputs):
        acc.add(out, first)
        n_done = plan.done_after(first)
        if progress is not None:
            progress(n_done, plan.my_paths)
        if stop_early(until, acc, n_done, n_paths):
            n_paths = n_done
            break
    acc.finish()
    if count > 1:
        total_blocks = math.ceil(plan.n_paths / block_size)
        ranges = [process_block_range(total_blocks, p, count, align=SUPERBLOCK) for p in range(count)]
        merge_processes(acc, ranges, SUPERBLOCK, nc, len(uncertain))
    t_end = time.perf_counter()
    return _raw_result(model, acc, first_chunk, n_paths, seed, horizon, prng, plan.chunk_paths,
                       {"compile_s": t_ready - t0, "compile_and_pilot_s": t_compile, "run_s": t_end - t_ready,
                        "total_s": t_end - t0})


@dataclass(frozen=True)
class _ChunkRunner:
    """Runs chunks of one plan: one at a time, or one per local device at a time."""

    model: Model
    key: jax.Array
    plan: ChunkPlan
    horizon: int
    reducer: ChunkReducer
    theta: np.ndarray | None
    devices: Sequence[jax.Device] | None

    @property
    def static(self) -> tuple:
        return (self.model.sampler.layout, self.model.layout), self.plan.chunk_blocks, self.horizon, "random", self.reducer

    @cached_property
    def arrays(self) -> tuple:
        """The run-wide arrays of :func:`chunk.run_arrays` (the inputs' quantile tables among them), built once.

        The chunk program compiles meanwhile (for the default device, where the pilot chunk runs), in a second
        thread: it needs only the tables' shapes, and XLA's HLO passes run on one thread, so part of the tables' own compile and build (~2 s
        cold) hides behind it (measured: cold start 12.8 s -> 12.3 s at load ~2). The compiled program lands
        in JAX's caches, where the pilot chunk's call finds it (tests/test_simulate.py checks it is compiled
        once).
        """
        placeholder = _on_device(dummy_tables(self.horizon, self.model.layout.n_companies))
        lowered = chunk_program.lower(*self.static, self.key, jnp.uint32(0),
                                      *run_arrays(self.model, self.theta, shapes_only=True), placeholder, jnp.int32(0))
        with ThreadPoolExecutor(1) as pool:  # lowered here: tracing in both threads at once contends for the GIL
            compiled = pool.submit(lowered.compile)
            arrays = run_arrays(self.model, self.theta)
            compiled.result()
        return arrays

    def run(self, first: int, tables: dict[str, Any], n_valid: int) -> dict[str, Any]:
        """One chunk on the default device, as host arrays."""
        return self._host(first, self._call(first, self.arrays, _on_device(tables), n_valid))

    def _host(self, first: int, out: dict[str, Any]) -> dict[str, Any]:
        """A chunk's output as host arrays, without what the run does not keep from it: the thin sample is the
        first chunk's (:func:`pilot`), and the sensitivity head is kept only up to ``plan.keep`` paths
        (:meth:`Accumulator.add`). So later chunks' sampled inputs and paths are not copied off the device."""
        if first != 0:
            out = {**out, "quarters": {k: v for k, v in out["quarters"].items() if k != "thin"}}
        if first * self.plan.block_size >= self.plan.keep:
            out = {**out, "horizon": {k: v for k, v in out["horizon"].items() if k != "head"}}
        return jax.tree.map(np.asarray, out)

    def _call(self, first: int, arrays: tuple, tables: dict[str, jax.Array], n_valid: int) -> dict[str, Any]:
        return chunk_program(*self.static, self.key, jnp.uint32(first), *arrays, tables, jnp.int32(n_valid))

    def outputs(self, tables: dict[str, np.ndarray], skip_first: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
        """(first block, chunk output) of every chunk of the plan, in block order (without the first chunk with
        ``skip_first``: the pilot ran it)."""
        firsts, devices = self.plan.firsts[1:] if skip_first else self.plan.firsts, self.devices
        if devices is None or len(devices) < 2:
            tables = _on_device(tables)
            for first in firsts:
                yield first, self._host(first, self._call(first, self.arrays, tables, self.plan.n_valid(first)))
            return
        for group in range(0, len(firsts), len(devices)):
            # A short last group is padded with chunks past the end (every path masked) and dropped.
            group_firsts = [firsts[0] + (group + d) * self.plan.chunk_blocks for d in range(len(devices))]
            outs = run_chunks_on_devices(self.arrays, self.key, group_firsts, self.static, tables,
                                         [self.plan.n_valid(f) for f in group_firsts], devices)
            for d, out in enumerate(outs):
                if group + d < len(firsts):
                    yield group_firsts[d], out


def _on_device(tables: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    return {k: jnp.asarray(v) for k, v in tables.items()}


def _raw_result(model: Model, acc: Accumulator, first_chunk: Pilot, n_paths: int, seed: int, horizon: int,
                prng: str, chunk_paths: int, timings: dict[str, float]) -> RawResult:
    """Split the accumulator's cells into companies x variables and market indices."""
    nc, nv = model.layout.n_companies, len(COMPANY_VARS)
    split = nc * nv
    q, h = acc.quarters, acc.horizon
    edges = first_chunk.tables["edges"]

    def company(a: np.ndarray) -> np.ndarray:
        return a[..., :split].reshape(*a.shape[:-1], nc, nv)

    def market(a: np.ndarray) -> np.ndarray:
        return a[..., split:]

    hist = q["hist"]  # (T, cells, bins)
    names = [name for name, inp in model.priors.inputs.items() if not inp.is_point]
    head = acc.head_arrays(nc, len(names))
    horizon_cells = (nc, len(HORIZON_VARS))
    return RawResult(
        model=model, n_paths=n_paths, seed=seed, horizon=horizon, prng=prng, chunk_paths=chunk_paths,
        counts=q["counts"], hist=hist[:, :split].reshape(horizon, nc, nv, -1),
        edges=edges[:, :split].reshape(horizon, nc, nv, -1),
        extremes=company(q["extremes"]), ties=company(q["ties"]), atoms=company(q["atoms"]), sums=company(acc.sums),
        mhist=hist[:, split:], medges=edges[:, split:], mextremes=market(q["extremes"]), mties=market(q["ties"]),
        matoms=market(q["atoms"]), msums=market(acc.sums), regime=q["regime"], thin=first_chunk.thin,
        final={"survived": head["survived"], "cumburn": head["cumburn"]},
        horizon_stats={"hist": h["hist"].reshape(*horizon_cells, -1),
                       "edges": first_chunk.tables["fedges"].reshape(*horizon_cells, 5),
                       "extremes": h["extremes"].reshape(2, *horizon_cells),
                       "ties": h["ties"].reshape(2, *horizon_cells), "atoms": h["atoms"].reshape(horizon_cells),
                       "rounds_mean": h["rounds"] / n_paths, "down_round_prob": h["down"] / n_paths},
        sens_inputs={name: head["inputs"][:, j] for j, name in enumerate(names)},
        timings=timings,
    )
