"""Run a chunk's worth of key blocks on each of several local devices, and split blocks between hosts.

Every device runs the same per-chunk program (:func:`scan.chunk_scan`) on its own
whole key blocks; the caller merges the reductions chunk by chunk in block order,
so the numbers are the same for any device count. Hosts (``jax.distributed``
processes) take disjoint contiguous ranges of blocks: :func:`process_block_range`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .scan import Model


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
