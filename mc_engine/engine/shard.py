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

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .reduce import merge_ties
from .scan import Model


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


def merge_processes(acc: Any, horizon: dict[str, np.ndarray], final: dict[str, np.ndarray],
                    inputs: dict[str, list[np.ndarray]], keep: int, input_names: Sequence[str],
                    ranges: Sequence[range], superblock: int) -> dict[str, Any]:
    """Combine every process's reductions (call on every process; every process gets the same result).

    Args:
        acc: this process's :class:`~mc_engine.engine.simulate.Accumulator` (finished, superblocks kept); its
            fields are replaced by the merged ones.
        horizon: this process's horizon sketches ``hist``, ``extremes``, ``ties``, ``atoms``, ``rounds``, ``down``.
        final, inputs: the sensitivity subsample (held by process 0, which owns the run's first paths).
        keep: paths in the sensitivity subsample; input_names: its uncertain inputs.
        ranges: every process's key blocks (:func:`process_block_range`); superblock: blocks per unit.

    Returns:
        ``horizon``, ``final`` and ``inputs`` merged.
    """
    for k in ("counts", "hist", "mhist", "atoms", "matoms", "regime"):
        setattr(acc, k, _gather(getattr(acc, k)).sum(0))
    for k, t in (("extremes", "ties"), ("mextremes", "mties")):
        ext, ties = _merge_ties(_gather(getattr(acc, k)), _gather(getattr(acc, t)), axis=2)
        setattr(acc, k, ext)
        setattr(acc, t, ties)
    units = [sorted({b // superblock for b in r}) for r in ranges]
    width = max(len(u) for u in units)
    for k in ("sums", "msums"):
        own = acc.superblocks[k]
        cells = getattr(acc, "extremes" if k == "sums" else "mextremes")[:, 0].shape  # (T, *cells)
        mine = np.zeros((width, *cells))
        for i, unit in enumerate(sorted(own)):
            mine[i] = own[unit]
        total = None
        for p_units, rows in zip(units, _gather(mine), strict=True):
            for i in range(len(p_units)):  # superblocks in global order: the fold of a one-process run
                total = rows[i] if total is None else total + rows[i]
        setattr(acc, k, total)
    merged_horizon = {"hist": _gather(horizon["hist"]).sum(0), "atoms": _gather(horizon["atoms"]).sum(0),
                      "rounds": _gather(horizon["rounds"]).sum(0),
                      "down": _gather(horizon["down"]).sum(0)}
    merged_horizon["extremes"], merged_horizon["ties"] = _merge_ties(_gather(horizon["extremes"]),
                                                                     _gather(horizon["ties"]), axis=1)
    n_comp = final["survived"].shape[1]
    own_final = {"survived": final["survived"] if len(final["survived"]) == keep else np.zeros((keep, n_comp), bool),
                 "cumburn": final["cumburn"] if len(final["cumburn"]) == keep else np.zeros((keep, n_comp), np.float32)}
    own_inputs = {n: np.concatenate(inputs[n]) if n in inputs else np.zeros(keep, np.float32) for n in input_names}
    return {"horizon": merged_horizon,
            "final": {k: _gather(v.astype(np.float32 if k == "cumburn" else bool))[0] for k, v in own_final.items()},
            "inputs": {n: _gather(v.astype(np.float32))[0] for n, v in own_inputs.items()}}


def run_chunks_on_devices(model: Model, key: jax.Array, first_blocks: Sequence[int], n_blocks: int, horizon: int,
                          reducer: Callable[..., Any], aux_shared: dict[str, Any], aux_per_chunk: list[dict[str, Any]],
                          theta: np.ndarray, devices: Sequence[jax.Device], mode: str = "random") -> list[tuple]:
    """Run chunks starting at ``first_blocks`` (one per device, ``len(first_blocks) == len(devices)``).

    Each chunk's arguments are committed to its device and the one jitted chunk program runs there; JAX
    dispatches asynchronously, so the devices work at the same time. (XLA compiles the program once per
    device; see docs/scale.md.)

    Returns:
        ``(final, ys, draws)`` per chunk, in the order of ``first_blocks``, as host numpy pytrees.
    """
    from .scan import _jit_chunk

    static = (model.sampler.layout, model.layout)
    pending = []
    for first, aux_own, device in zip(first_blocks, aux_per_chunk, devices, strict=True):
        args = jax.device_put((key, jnp.uint32(first), jnp.asarray(theta, jnp.float32),
                               jnp.asarray(model.sampler.factor), {k: jnp.asarray(v) for k, v in model.consts.items()},
                               {**{k: jnp.asarray(v) for k, v in aux_shared.items()},
                                **{k: jnp.asarray(v) for k, v in aux_own.items()}}), device)
        pending.append(_jit_chunk(static, n_blocks, horizon, mode, reducer, *args))
    return [jax.tree.map(np.asarray, out) for out in pending]


def _merge_ties(every_ext: np.ndarray, every_ties: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Every process's extremes and tie counts (process first; min / max at ``axis``) merged in process order."""
    ext, ties = every_ext[0], every_ties[0]
    for p in range(1, len(every_ext)):
        ext, ties = merge_ties(ext, ties, every_ext[p], every_ties[p], axis=axis - 1)
    return ext, ties
