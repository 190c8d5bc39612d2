"""Run a chunk's worth of key blocks on each of several local devices, and split blocks between hosts.

Every device runs the same per-chunk program (:func:`scan.chunk_scan`) on its own
whole key blocks; the caller merges the reductions chunk by chunk in block order,
so the numbers are the same for any device count. Hosts (``jax.distributed``
processes) take disjoint contiguous ranges of whole superblocks
(:func:`process_block_range`) and :func:`merge_processes` combines their reductions
with JAX's collectives (``multihost_utils.process_allgather``): integer counts add,
extremes take min/max, and float64 block sums are folded superblock by superblock in
global order, exactly as one process folds them, so the result is bit-identical.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .reduce import merge_ties


def process_block_range(total_blocks: int, process_index: int | None = None,
                        process_count: int | None = None, align: int = 1) -> range:
    """The key blocks host ``process_index`` of ``process_count`` simulates: contiguous, disjoint, covering.

    Blocks are handed out in units of ``align`` (whole superblocks); earlier processes take one extra unit
    when the units do not divide evenly, and a process may get none. Defaults to ``jax.process_index()`` /
    ``jax.process_count()``; pass them explicitly to test the split on one machine.
    """
    index = jax.process_index() if process_index is None else process_index
    count = jax.process_count() if process_count is None else process_count
    if not 0 <= index < count:
        raise ValueError(f"process_index must be in [0, {count}) (got {index})")
    units = -(-total_blocks // align)
    base, extra = divmod(units, count)
    start = index * base + min(index, extra)
    stop = start + base + (index < extra)
    return range(min(start * align, total_blocks), min(stop * align, total_blocks))


def _gather(x: np.ndarray) -> np.ndarray:
    """Every process's ``x`` (same shape and dtype on all), stacked on a new leading axis, bit for bit.

    The bytes travel as uint32 words: with 64-bit types off, JAX would round float64 to float32.
    """
    from jax.experimental import multihost_utils

    x = np.ascontiguousarray(x)
    raw = x.tobytes()
    raw += bytes(-len(raw) % 4)
    words = multihost_utils.process_allgather(np.frombuffer(raw, np.uint32), tiled=False)
    rows = np.asarray(words).reshape(-1, len(raw) // 4)
    return np.stack([np.frombuffer(r.tobytes()[: x.nbytes], x.dtype).reshape(x.shape) for r in rows])


MERGE_WAIT_S: int = 3600
"""How long a process that finished its blocks waits for the others before merging."""


def _wait_for_every_process() -> None:
    """Wait (up to ``MERGE_WAIT_S``) until every process has finished its blocks.

    Processes reach the merge at different times (the first ones may hold more superblocks, and machines
    differ); the collectives' own set-up gives up after 30 s, so without this a process that finished early
    failed with "Gloo context initialization failed: DEADLINE_EXCEEDED"."""
    from jax._src import distributed  # the coordination service's barrier: no public API for its timeout

    client = distributed.global_state.client
    if client is not None:
        # Every process merges the same runs in the same order, so the n-th merge has the same barrier name.
        client.wait_at_barrier(f"mc_engine_merge_processes_{next(_merges)}", MERGE_WAIT_S * 1000)


_merges = itertools.count()


def merge_processes(acc: Any, ranges: Sequence[range], superblock: int, n_companies: int, n_inputs: int) -> None:
    """Combine every process's reductions into ``acc`` (call on every process; every process gets the same result).

    Args:
        acc: this process's :class:`~mc_engine.engine.simulate.Accumulator` (finished, superblocks kept); its
            counts, sketches, sums and sensitivity subsample (held by process 0, which owns the run's first
            paths) are replaced by the merged ones.
        ranges: every process's key blocks (:func:`process_block_range`); superblock: blocks per unit.
        n_companies, n_inputs: the subsample's widths.
    """
    _wait_for_every_process()
    for part, axis in ((acc.quarters, 2), (acc.horizon, 1)):
        for k in [k for k in part if k not in ("extremes", "ties")]:
            part[k] = _gather(part[k]).sum(0)
        part["extremes"], part["ties"] = _merge_ties(_gather(part["extremes"]), _gather(part["ties"]), axis=axis)
    units = [sorted({b // superblock for b in r}) for r in ranges]
    width = max(len(u) for u in units)
    cells = acc.quarters["atoms"].shape  # (T, cells)
    mine = np.zeros((width, *cells))
    for i, unit in enumerate(sorted(acc.superblocks)):
        mine[i] = acc.superblocks[unit]
    total = None
    for p_units, rows in zip(units, _gather(mine), strict=True):
        for i in range(len(p_units)):  # superblocks in global order: the fold of a one-process run
            total = rows[i] if total is None else total + rows[i]
    acc.sums = total
    keep = acc.plan.keep
    head = acc.head_arrays(n_companies, n_inputs)
    widths = {"inputs": n_inputs}
    acc.head = {k: [_gather(v if len(v) == keep else np.zeros((keep, widths.get(k, n_companies)), v.dtype))[0]]
                for k, v in head.items()}


def run_chunks_on_devices(arrays: tuple, key: jax.Array, first_blocks: Sequence[int], static: tuple,
                          tables: dict[str, Any], n_valid: Sequence[int],
                          devices: Sequence[jax.Device]) -> list[dict[str, Any]]:
    """Run chunks starting at ``first_blocks`` (one per device, ``len(first_blocks) == len(devices)``).

    ``arrays``: the run's :func:`chunk.run_arrays`, built once per run and copied to each device.

    Each chunk's arguments are committed to its device and the one jitted chunk program
    (:func:`chunk.chunk_program`, static arguments ``static``) runs there; JAX dispatches asynchronously,
    so the devices work at the same time. (XLA compiles the program once per device; see docs/scale.md.)

    Returns:
        The chunk program's output per chunk, in the order of ``first_blocks``, as host numpy pytrees.
    """
    from .chunk import chunk_program

    pending = []
    for first, valid, device in zip(first_blocks, n_valid, devices, strict=True):
        args = jax.device_put((key, jnp.uint32(first), *arrays,
                               {k: jnp.asarray(v) for k, v in tables.items()}, jnp.int32(valid)), device)
        pending.append(chunk_program(*static, *args))
    return [jax.tree.map(np.asarray, out) for out in pending]


def _merge_ties(every_ext: np.ndarray, every_ties: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Every process's extremes and tie counts (process first; min / max at ``axis``) merged in process order."""
    ext, ties = every_ext[0], every_ties[0]
    for p in range(1, len(every_ext)):
        ext, ties = merge_ties(ext, ties, every_ext[p], every_ties[p], axis=axis - 1)
    return ext, ties
