"""The market regime chain: boom / normal / winter, one Markov chain per path."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def draw_initial(initial: jax.Array, u: jax.Array) -> jax.Array:
    """Starting regime from probabilities ``initial`` (3,) by inverse CDF on ``u`` (paths,); int32."""
    cum = jnp.cumsum(initial)
    return jnp.sum(u[:, None] >= cum[None, :2], axis=1).astype(jnp.int32)


def step(transition: jax.Array, regime: jax.Array, u: jax.Array) -> jax.Array:
    """Next regime: row ``transition[regime]`` (quarterly, rows sum to 1) inverted at ``u``; int32."""
    cum = jnp.cumsum(transition, axis=1)[regime]
    return jnp.sum(u[:, None] >= cum[:, :2], axis=1).astype(jnp.int32)
