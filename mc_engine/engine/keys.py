"""PRNG keys: one root per run, one stream per purpose, one key per fixed block of paths.

Path ``i`` always belongs to block ``i // block_size`` and draws from
``fold_in(stream_key, block)``, so its numbers do not depend on how many paths
are requested, how they are chunked, or how many devices share the work.
"""

from __future__ import annotations

import jax

from .._options import PRNG_CHOICES as PRNG_CHOICES
from .._options import check_prng, check_seed

DEFAULT_PRNG: str = "philox4x32"
"""Counter-based PRNG: on 2 CPU cores philox4x32 drew normals ~2.5x faster than threefry2x32,
and unlike rbg it gives the same numbers on every backend."""

DEFAULT_BLOCK_SIZE: int = 8192
"""Paths per key block. Part of a run's identity (recorded in the manifest): changing it changes draws."""

STREAM_INPUTS: int = 0
STREAM_SHOCKS: int = 1
STREAM_THIN: int = 2


def root_key(seed: int, impl: str = DEFAULT_PRNG) -> jax.Array:
    """The run's root key (a typed JAX key) for ``seed`` with PRNG implementation ``impl``.

    Raises:
        RunError: ``seed`` outside ``[0, 2**32)`` (JAX would keep its low 32 bits: two seeds, one future) or
            an unknown ``impl``.
    """
    return jax.random.key(check_seed(seed, "seed"), impl=check_prng(impl, "prng"))


def stream_key(root: jax.Array, stream: int) -> jax.Array:
    """Independent sub-stream of the root key (inputs, quarterly shocks, thin sample, ...)."""
    return jax.random.fold_in(root, stream)


def block_keys(key: jax.Array, first_block: jax.Array | int, n_blocks: int) -> jax.Array:
    """Keys of blocks ``first_block .. first_block + n_blocks - 1``, shape (n_blocks,)."""
    blocks = first_block + jax.numpy.arange(n_blocks, dtype=jax.numpy.uint32)
    return jax.vmap(lambda b: jax.random.fold_in(key, b))(blocks)
