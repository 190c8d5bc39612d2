"""Small pure helpers shared by the model's equations."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def pick(values: jax.Array, regime: jax.Array) -> jax.Array:
    """Select the regime's value: (3, paths) -> (paths,), or (3, c, paths) -> (c, paths); ``regime`` (paths,)."""
    # A select chain, not a gather: gathers are ~10x slower on CPU and this runs every quarter.
    return jnp.where(regime == 0, values[0], jnp.where(regime == 1, values[1], values[2]))


def company_sum(x: jax.Array) -> jax.Array:
    """Sum over the company axis (the first) of (companies, paths), keeping it: (1, paths).

    Row by row in company order, not ``jnp.sum``: XLA's reduction of the leading axis sums in an order
    that depends on the number of paths, which would make a path's numbers depend on the chunk size.
    """
    return functools.reduce(jnp.add, list(x[:, None]))


def plan_log_growth(g0: jax.Array, g_inf: jax.Array, lam: jax.Array, t: jax.Array, dt: float) -> jax.Array:
    """Cumulative log growth after ``t`` quarters of a rate decaying from ``g0`` to ``g_inf`` at ``lam``:
    ``dt * sum_{q=1..t} [g_inf + (g0 - g_inf) exp(-lam (q-1) dt)]`` in closed form."""
    decay = jnp.exp(-lam * dt)
    geometric = jnp.where(lam * dt > 1e-6, (1 - decay**t) / jnp.where(lam * dt > 1e-6, 1 - decay, 1.0), t)
    return dt * (g_inf * t + (g0 - g_inf) * geometric)


def decayed_rate(g0: jax.Array, g_inf: jax.Array, lam: jax.Array, t: jax.Array, dt: float) -> jax.Array:
    """Rate in force during quarter ``t``: ``g_inf + (g0 - g_inf) exp(-lam (t-1) dt)``."""
    return g_inf + (g0 - g_inf) * jnp.exp(-lam * (t - 1) * dt)


def materialise(*arrays: jax.Array, token: jax.Array) -> list[jax.Array]:
    """The same arrays, computed once: stacked (per dtype), passed through a select and split again.

    XLA on CPU copies a cheap chain of elementwise producers into every fusion that reads it, so a value read
    by many consumers (the funding step reads burn, revenue and cash a dozen times) is recomputed in each.
    ``token`` is any traced boolean that is always true (e.g. ``regime >= 0``), shaped to broadcast
    against the arrays: the select on it cannot be simplified away, so its result is stored once and read.
    """
    return keep(token, arrays, [jnp.zeros_like(a) for a in arrays])


def dtype_groups(fields: tuple) -> list[list[int]]:
    """Indices of ``fields`` by dtype, dtypes in order of first appearance (how :func:`keep` and :func:`pack`
    stack them)."""
    dtypes: list = []
    for a in fields:
        if a.dtype not in dtypes:
            dtypes.append(a.dtype)
    return [[i for i, a in enumerate(fields) if a.dtype == d] for d in dtypes]


def keep(live: jax.Array, new: tuple, old: tuple) -> list[jax.Array]:
    """``where(live, new, old)`` field by field, as one select over the stacked fields of each dtype.

    One select keeps XLA from copying each field's whole chain of producers into a select of its own
    (measured 2-3x slower per quarter on CPU with a select per field). The stacks are those of :func:`pack`,
    so a state packed right after its ``keep`` is the selects' own result, not a copy.
    """
    out: list = [None] * len(new)
    for idx in dtype_groups(new):
        stacked = jnp.stack([new[i] for i in idx])
        kept = stacked if live is None else jnp.where(live, stacked, jnp.stack([old[i] for i in idx]))
        for n, i in enumerate(idx):
            out[i] = kept[n]
    return out


def pack(fields: tuple) -> tuple[jax.Array, ...]:
    """A NamedTuple of same-shaped arrays as one stacked array per dtype (:func:`dtype_groups`)."""
    return tuple(jnp.stack([fields[i] for i in idx]) for idx in dtype_groups(fields))


def unpack(packed: tuple[jax.Array, ...], like: tuple) -> tuple:
    """The NamedTuple of type and dtypes ``like`` that :func:`pack` made ``packed`` from."""
    out: list = [None] * len(like)
    for idx, stacked in zip(dtype_groups(like), packed, strict=True):
        for n, i in enumerate(idx):
            out[i] = stacked[n]
    return type(like)(*out)
