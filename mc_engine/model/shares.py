"""Shares of market spend: labs and hyperscalers compete with each other and the rest of the market.

Each company ``i`` of a spending kind holds a weight ``rev0_i s_i`` (its revenue at as_of times a
share index ``s_i``, ``ln s_i`` a random walk with drift); the rest of the market holds a fixed weight
``N_0 (1 - modelled_share)``. Company ``i``'s share of market spend is its weight over the total
weight ``N_t`` of the companies still alive and the rest, so shares sum to at most 1 and no company
outgrows the market (docs/model.md section 3.0).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._paramspec import ParamSpec
from ._math import company_sum
from .state import DT

PRICING_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("reprice_speed", "1/yr", "nonneg", "speed at which the company moves its price premium toward the one "
              "that ends a negative gross margin (repricing or shedding unprofitable volume)", maximum=1 / DT,
              maximum_why="the premium moves reprice_speed x dt of the way to its target each quarter: past 1 / dt "
                          "it overshoots"),
    ParamSpec("reprice_max", "1", "nonneg", "largest log price premium over the market the company can hold"),
)
"""Pricing response of the companies that sell into market spend (labs and hyperscalers)."""


def step(ln_s: jax.Array, drift: jax.Array, vol: jax.Array, z: jax.Array) -> jax.Array:
    """Log share index after one quarter: ``ln s + drift dt + vol sqrt(dt) z``."""
    return ln_s + drift * DT + vol * jnp.sqrt(DT) * z


def normaliser(weights0: jax.Array, ln_s: jax.Array, alive: jax.Array, modelled_share: jax.Array) -> jax.Array:
    """``N_0 / N_t``, shape (1, paths): weights at as_of over weights now (the rest of the market included).

    Args:
        weights0: annualised revenue at as_of of every spending company, (k, paths).
        ln_s: their log share indices this quarter, (k, paths).
        alive: whether each was alive at the start of the quarter, (k, paths).
        modelled_share: share of market spend the k companies held at as_of, (paths,).
    """
    total0 = company_sum(weights0)
    n0 = total0 / modelled_share[None]
    nt = n0 - total0 + company_sum(weights0 * jnp.exp(ln_s) * alive)
    return n0 / nt


def reprice(premium: jax.Array, cost_ratio: jax.Array, speed: jax.Array, cap: jax.Array) -> jax.Array:
    """Log price premium after one quarter (docs/model.md 3.0).

    ``cost_ratio`` is serving cost over revenue at the market price (``1 - gross margin`` with no premium).
    The premium that ends a negative margin is ``clip(ln cost_ratio, 0, cap)``; the company moves
    ``min(speed dt, 1)`` of the way to it, and back toward 0 once margins recover.
    """
    target = jnp.clip(jnp.log(jnp.maximum(cost_ratio, 1e-30)), 0.0, cap)
    return premium + jnp.minimum(speed * DT, 1.0) * (target - premium)
