"""Bulk random numbers for the quarterly shocks: 32-bit words from a key, turned into uniforms and normals.

``jax.random.normal`` and ``uniform`` with the philox4x32 implementation hash one counter per 32-bit
number and XOR the four output words into one; drawing the shocks that way took ~1.5 s per 32,768-path
chunk on 2 CPU cores. :func:`words` keeps all four words of each Philox4x32-10 evaluation (the
Random123 generator, 10 rounds), so it hashes a quarter as many counters: the same shocks took ~0.35 s,
measured in one process (docs/performance.md). The numbers depend only on the key and their position,
so a path's shocks still depend only on its block's key.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

_MUL = (np.uint32(0xD2511F53), np.uint32(0xCD9E8D57))
"""Philox4x32 round multipliers (Salmon et al. 2011, Random123)."""
_BUMP = (np.uint32(0x9E3779B9), np.uint32(0xBB67AE85))
"""Philox4x32 key schedule increments (golden ratio, sqrt(3) - 1)."""
_ROUNDS: int = 10
_DOMAIN = np.uint32(0x53484F43)
"""Counter word that sets these draws apart from JAX's own philox ``fold_in`` and ``split`` counters."""


def _philox4x32(k0: jax.Array, k1: jax.Array, counter: jax.Array) -> tuple[jax.Array, ...]:
    """The four output words of Philox4x32-10 for key (k0, k1) and counters (counter, DOMAIN, 0, 0).

    Each round's four words are stored (stacked, behind an optimisation barrier): XLA on CPU has no
    multi-output fusion, so without it every output word recomputes the whole ten-round chain, and a
    barrier every second round lets the duplication grow with depth (measured 11 s against 0.4 s).
    """
    x0, x1 = counter, jnp.full_like(counter, _DOMAIN)
    x2 = x3 = jnp.zeros_like(counter)
    for r in range(_ROUNDS):
        if r:
            k0, k1 = k0 + _BUMP[0], k1 + _BUMP[1]
            x0, x1, x2, x3 = lax.optimization_barrier(jnp.stack([x0, x1, x2, x3]))
        hi0, lo0 = lax.mulhi(jnp.uint32(_MUL[0]), x0), x0 * _MUL[0]
        hi1, lo1 = lax.mulhi(jnp.uint32(_MUL[1]), x2), x2 * _MUL[1]
        x0, x1, x2, x3 = hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0
    return x0, x1, x2, x3


def words(key: jax.Array, n: int) -> jax.Array:
    """``n`` random uint32 words from the typed ``key``, shape (n,); word ``j`` depends only on ``key`` and ``j``.

    A philox4x32 key gives word ``j`` as output word ``j % 4`` of counter ``j // 4``; other PRNG
    implementations draw ``jax.random.bits`` (one hash per word).
    """
    if str(jax.random.key_impl(key)) != "philox4x32":
        return jax.random.bits(key, (n,), jnp.uint32)
    k = jax.random.key_data(key)
    counter = jnp.arange(-(-n // 4), dtype=jnp.uint32)
    return jnp.stack(_philox4x32(k[0], k[1], counter), axis=-1).reshape(-1)[:n]


def uniforms(bits: jax.Array) -> jax.Array:
    """Uniforms on [0, 1) from uint32 words: the top 23 bits as a float32 mantissa (as ``jax.random.uniform``)."""
    return lax.bitcast_convert_type((bits >> 9) | np.uint32(0x3F800000), jnp.float32) - 1.0


def normals(bits: jax.Array) -> jax.Array:
    """Standard normals from uint32 words by the inverse CDF, ``sqrt(2) erfinv(v)``, ``v`` on the symmetric grid
    ``(2k + 1) / 2^23 - 1`` (so ``|z| <= 5.3`` and never infinite)."""
    v = 2.0 * uniforms(bits) - np.float32(1.0 - 2.0**-23)
    return np.float32(np.sqrt(2.0)) * lax.erf_inv(v)
