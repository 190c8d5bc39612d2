"""Compute commitments and counterparty links: a lab's compute spend is revenue of its hosts.

``W[i, j]`` is the share of client ``i``'s compute spend paid to host ``j``
(docs/model.md 3.3). Each function is one small matrix product per quarter, written as a sum over
the companies in order rather than a dot: a dot's kernel is chosen by the array sizes, so its rounding
could depend on the number of paths in a chunk.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from .state import EPS


def _apply(w: jax.Array, x: jax.Array) -> jax.Array:
    """``W^T x`` for ``w`` (rows, cols) and ``x`` (rows, paths): (cols, paths), summed over rows in order."""
    rows, cols = w.shape
    # Scalar weights times rows: broadcasting the (rows, cols) matrix along paths instead puts an index
    # division into every fused loop, which XLA on CPU then runs unvectorised (measured 15x slower).
    return jnp.stack([functools.reduce(jnp.add, [w[r, c] * x[r] for r in range(rows)]) for c in range(cols)])


def client_flow(w: jax.Array, base: jax.Array, alive: jax.Array) -> jax.Array:
    """Payments each host receives from live clients, (hosts, paths): ``W^T (base * alive)``."""
    return _apply(w, base * alive)


def lost_flow(w: jax.Array, base_last: jax.Array, alive: jax.Array) -> jax.Array:
    """Last payments of clients that have left, by host, (hosts, paths)."""
    return _apply(w, base_last * ~alive)


def dead_host_share(w: jax.Array, alive: jax.Array) -> jax.Array:
    """Share of each client's compute placed with hosts that have left, (clients, paths)."""
    return _apply(w.T, (~alive).astype(w.dtype))


def host_share(flow: jax.Array, own: jax.Array) -> jax.Array:
    """Share ``c_j`` of a host's own revenue model that its modelled clients account for."""
    return jnp.clip(flow / jnp.maximum(own, EPS), 0.0, 1.0)
