"""Compute commitments and counterparty links: a lab's compute spend is revenue of its hosts.

``W[i, j]`` is the share of client ``i``'s compute spend paid to host ``j``
(docs/model.md 3.3). Each function is one matrix product per quarter.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .state import EPS


def client_flow(w: jax.Array, base: jax.Array, alive: jax.Array) -> jax.Array:
    """Payments each host receives from live clients, (paths, companies): ``(base * alive) @ W``."""
    return (base * alive) @ w


def lost_flow(w: jax.Array, base_last: jax.Array, alive: jax.Array) -> jax.Array:
    """Last payments of clients that have left, by host, (paths, companies)."""
    return (base_last * ~alive) @ w


def dead_host_share(w: jax.Array, alive: jax.Array) -> jax.Array:
    """Share of each client's compute placed with hosts that have left, (paths, companies)."""
    return (~alive).astype(w.dtype) @ w.T


def host_share(flow: jax.Array, own: jax.Array) -> jax.Array:
    """Share ``c_j`` of a host's own revenue model that its modelled clients account for."""
    return jnp.clip(flow / jnp.maximum(own, EPS), 0.0, 1.0)
