"""Run a chunk's worth of key blocks on each of several local devices, and split blocks between hosts.

Every device runs the same per-chunk program (:func:`scan.chunk_scan`) on its own
whole key blocks; the caller merges the reductions chunk by chunk in block order,
so the numbers are the same for any device count. Hosts (``jax.distributed``
processes) take disjoint contiguous ranges of blocks: :func:`process_block_range`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from .scan import Model, chunk_scan


def process_block_range(total_blocks: int, process_index: int | None = None,
                        process_count: int | None = None) -> range:
    """The key blocks host ``process_index`` of ``process_count`` simulates: contiguous, disjoint, covering.

    Defaults to ``jax.process_index()`` / ``jax.process_count()``; pass them explicitly to test the split on
    one machine. Earlier processes take one extra block when ``total_blocks`` does not divide evenly.
    """
    index = jax.process_index() if process_index is None else process_index
    count = jax.process_count() if process_count is None else process_count
    if not 0 <= index < count:
        raise ValueError(f"process_index must be in [0, {count}) (got {index})")
    base, extra = divmod(total_blocks, count)
    start = index * base + min(index, extra)
    return range(start, start + base + (index < extra))


@functools.lru_cache(maxsize=32)
def _sharded_program(model_static: tuple, n_blocks: int, horizon: int, mode: str, reducer: Callable[..., Any],
                     devices: tuple[jax.Device, ...]) -> Callable[..., Any]:
    """One jitted program running one chunk per device (leading axis = device)."""
    mesh = Mesh(np.asarray(devices), ("device",))
    rep, dev = PartitionSpec(), PartitionSpec("device")

    def local(seed_key, first_blocks, theta, factor, consts, aux_rep, aux_dev):  # noqa: ANN001, ANN202
        aux = {**aux_rep, **{k: v[0] for k, v in aux_dev.items()}}
        out = chunk_scan(model_static, n_blocks, horizon, mode, reducer, seed_key, first_blocks[0], theta,
                         factor, consts, aux)
        return jax.tree.map(lambda x: x[None], out)

    mapped = jax.shard_map(local, mesh=mesh, in_specs=(rep, dev, rep, rep, rep, rep, dev), out_specs=dev,
                           check_vma=False)
    return jax.jit(mapped)


def run_chunks_on_devices(model: Model, key: jax.Array, first_blocks: Sequence[int], n_blocks: int, horizon: int,
                          reducer: Callable[..., Any], aux_shared: dict[str, Any], aux_per_chunk: list[dict[str, Any]],
                          theta: np.ndarray, devices: Sequence[jax.Device], mode: str = "random") -> list[tuple]:
    """Run chunks starting at ``first_blocks`` (one per device, ``len(first_blocks) == len(devices)``).

    Returns:
        ``(final, ys, draws)`` per chunk, in the order of ``first_blocks``, as host numpy pytrees.
    """
    devices = tuple(devices)
    program = _sharded_program((model.sampler.layout, model.layout), n_blocks, horizon, mode, reducer, devices)
    aux_dev = {k: jnp.stack([jnp.asarray(a[k]) for a in aux_per_chunk]) for k in aux_per_chunk[0]}
    out = program(key, jnp.asarray(np.asarray(first_blocks, np.uint32)), jnp.asarray(theta, jnp.float32),
                  jnp.asarray(model.sampler.factor), {k: jnp.asarray(v) for k, v in model.consts.items()},
                  {k: jnp.asarray(v) for k, v in aux_shared.items()}, aux_dev)
    out = jax.tree.map(np.asarray, out)
    return [jax.tree.map(lambda x, i=i: x[i], out) for i in range(len(first_blocks))]
