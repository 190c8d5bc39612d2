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
TILE: int = 8192
"""Counters hashed per step of the loop over tiles (a tiling of the work, not of the numbers)."""


def _philox4x32(k0: jax.Array, k1: jax.Array, x0: jax.Array, x1: jax.Array, x2: jax.Array | None = None,
                x3: jax.Array | None = None) -> tuple[jax.Array, ...]:
    """The four output words of Philox4x32-10 for key (k0, k1) and counters (x0, x1, x2, x3), by default
    (x0, x1, 0, DOMAIN).

    Each round's four words are stored (stacked, behind an optimisation barrier): XLA on CPU has no
    multi-output fusion, so without it every output word recomputes the whole ten-round chain, and a
    barrier every second round lets the duplication grow with depth (measured 11 s against 0.4 s).
    """
    x2 = jnp.zeros_like(x0) if x2 is None else x2
    x3 = jnp.full_like(x0, _DOMAIN) if x3 is None else x3
    for r in range(_ROUNDS):
        if r:
            k0, k1 = k0 + _BUMP[0], k1 + _BUMP[1]
            x0, x1, x2, x3 = lax.optimization_barrier(jnp.stack([x0, x1, x2, x3]))
        hi0, lo0 = lax.mulhi(jnp.uint32(_MUL[0]), x0), x0 * _MUL[0]
        hi1, lo1 = lax.mulhi(jnp.uint32(_MUL[1]), x2), x2 * _MUL[1]
        x0, x1, x2, x3 = hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0
    return x0, x1, x2, x3


def words(key: jax.Array, streams: tuple[tuple[int, int], ...]) -> list[jax.Array]:
    """Random uint32 words from the typed ``key``: for each ``(tag, n)`` of ``streams``, an (n,) array whose word
    ``j`` depends only on ``key``, ``tag`` and ``j`` (not on the other streams).

    With a philox4x32 key, word ``j`` of stream ``tag`` is output word ``j % 4`` of the counter
    ``(j // 4, tag, 0, DOMAIN)``; every stream's counters go through one Philox chain, so its ten rounds are
    compiled once. Other PRNG implementations draw ``jax.random.bits`` from ``fold_in(key, tag)`` (one hash
    per word).
    """
    if str(jax.random.key_impl(key)) != "philox4x32":
        return [jax.random.bits(jax.random.fold_in(key, np.uint32(tag)), (n,), jnp.uint32) for tag, n in streams]
    # Stored before the loop: its key schedule is loop-invariant, and XLA hoists each round's key words as a
    # fusion of its own that would otherwise repeat the whole computation of the key (18 kernels of ~145 ops).
    k = lax.optimization_barrier(jax.random.key_data(key))
    counts = [-(-n // 4) for _, n in streams]
    total = sum(counts)
    tiles = -(-total // TILE)
    pad = tiles * TILE - total
    x0 = jnp.concatenate([jnp.arange(c, dtype=jnp.uint32) for c in (*counts, pad)])
    x1 = jnp.concatenate([jnp.full((c,), tag, jnp.uint32) for (tag, _), c in zip(streams, counts, strict=True)]
                         + [jnp.zeros((pad,), jnp.uint32)])
    # Tile by tile, so the rounds' stored words stay in cache (all at once they streamed through memory).
    out = lax.map(lambda x: jnp.stack(_philox4x32(k[0], k[1], *x), axis=-1),
                  (x0.reshape(tiles, TILE), x1.reshape(tiles, TILE)))
    out = out.reshape(-1, 4)  # (counters, 4)
    starts = np.cumsum([0, *counts])
    return [out[a:b].reshape(-1)[:n] for a, b, (_, n) in zip(starts[:-1], starts[1:], streams, strict=True)]


def uniforms(bits: jax.Array) -> jax.Array:
    """Uniforms on [0, 1) from uint32 words: the top 23 bits as a float32 mantissa (as ``jax.random.uniform``)."""
    return lax.bitcast_convert_type((bits >> 9) | np.uint32(0x3F800000), jnp.float32) - 1.0


def normals(bits: jax.Array) -> jax.Array:
    """Standard normals from uint32 words by the inverse CDF, ``sqrt(2) erfinv(v)``, ``v`` on the symmetric grid
    ``(2k + 1) / 2^23 - 1`` (so ``|z| < 5.4``, never infinite)."""
    v = 2.0 * uniforms(bits) - np.float32(1.0 - 2.0**-23)
    return np.float32(np.sqrt(2.0)) * lax.erf_inv(v)
