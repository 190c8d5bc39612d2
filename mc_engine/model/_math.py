"""Small pure helpers shared by the model's equations."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def pick(values: jax.Array, regime: jax.Array) -> jax.Array:
    """Select the regime's value: (paths, 3) -> (paths,), or (paths, c, 3) -> (paths, c)."""
    # A select chain, not a gather: gathers are ~10x slower on CPU and this runs every quarter.
    r = regime if values.ndim == 2 else regime[:, None]
    return jnp.where(r == 0, values[..., 0], jnp.where(r == 1, values[..., 1], values[..., 2]))


def plan_log_growth(g0: jax.Array, g_inf: jax.Array, lam: jax.Array, t: jax.Array, dt: float) -> jax.Array:
    """Cumulative log growth after ``t`` quarters of a rate decaying from ``g0`` to ``g_inf`` at ``lam``:
    ``dt * sum_{q=1..t} [g_inf + (g0 - g_inf) exp(-lam (q-1) dt)]`` in closed form."""
    decay = jnp.exp(-lam * dt)
    geometric = jnp.where(lam * dt > 1e-6, (1 - decay**t) / jnp.where(lam * dt > 1e-6, 1 - decay, 1.0), t)
    return dt * (g_inf * t + (g0 - g_inf) * geometric)


def decayed_rate(g0: jax.Array, g_inf: jax.Array, lam: jax.Array, t: jax.Array, dt: float) -> jax.Array:
    """Rate in force during quarter ``t``: ``g_inf + (g0 - g_inf) exp(-lam (t-1) dt)``."""
    return g_inf + (g0 - g_inf) * jnp.exp(-lam * (t - 1) * dt)
