"""Market block shared by all companies of a path: H, E, R, C, P, G, D, g, U.

Parameters are declared here; the quarterly step lives beside them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._params import ParamSpec
from ._math import decayed_rate, pick
from .state import DT, MarketState

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("hardware_decline", "1/yr", "real", "h: annual log rate at which hardware cost per unit of compute H falls"),
    ParamSpec("hardware_vol", "1/sqrt(yr)", "nonneg", "s_h: volatility of ln H"),
    ParamSpec("algo_gain", "1/yr", "real", "a: annual log rate at which compute per token at fixed quality E falls"),
    ParamSpec("algo_vol", "1/sqrt(yr)", "nonneg", "s_a: volatility of ln E"),
    ParamSpec("reasoning_growth", "1/yr", "real", "r: annual log growth of tokens per unit of delivered work R"),
    ParamSpec("reasoning_vol", "1/sqrt(yr)", "nonneg", "s_r: volatility of ln R"),
    ParamSpec("price_pass_through", "1", "real", "pass: share of a change in ln serving cost C passed into ln price P"),
    ParamSpec("price_war", "1/yr", "real", "war: extra annual log decline of price P in each regime", per_regime=True),
    ParamSpec("price_vol", "1/sqrt(yr)", "nonneg", "s_p: volatility of ln P"),
    ParamSpec("rental_cost_beta", "1", "real", "gamma: elasticity of GPU rental price G to hardware cost H"),
    ParamSpec("rental_glut", "1/yr", "real", "glut: annual log drift of rental price G in each regime (negative in a glut)", per_regime=True),
    ParamSpec("rental_vol", "1/sqrt(yr)", "nonneg", "s_g: volatility of ln G"),
    ParamSpec("demand_growth0", "1/yr", "real", "g_0: starting annual log growth of demanded work D"),
    ParamSpec("demand_growth_inf", "1/yr", "real", "g_inf: long-run annual log growth of D"),
    ParamSpec("demand_growth_decay", "1/yr", "nonneg", "lam: rate at which demand growth decays from g_0 to g_inf"),
    ParamSpec("demand_shift", "1/yr", "real", "shift: regime add-on to demand growth while the regime lasts", per_regime=True),
    ParamSpec("price_elasticity", "1", "nonneg", "elast: ln D falls by elast times the rise in ln P"),
    ParamSpec("demand_vol", "1/sqrt(yr)", "nonneg", "s_d: volatility of ln D"),
    ParamSpec("utilisation0", "1", "unit_open", "U_0: starting fleet utilisation"),
    ParamSpec("utilisation_mean", "1", "unit_open", "long-run mean utilisation in the normal regime"),
    ParamSpec("utilisation_speed", "1/yr", "nonneg", "kappa: mean-reversion speed of logit U", maximum=1 / DT,
              maximum_why="logit U moves kappa dt of the way to its mean each quarter: past 1 / dt it overshoots, "
                          "past 2 / dt it oscillates with growing amplitude until U is 0 or 1 in float32"),
    ParamSpec("utilisation_shift", "1", "real", "shift of the logit of the utilisation mean in each regime", per_regime=True),
    ParamSpec("utilisation_vol", "1/sqrt(yr)", "nonneg", "volatility of logit U"),
)

N_SHOCKS: int = 7
"""Normal shocks per path and quarter: H, E, R, P, G, D, U."""


def initial_state(p: dict[str, jax.Array], regime: jax.Array) -> MarketState:
    """All indices at 1 (logs at 0), utilisation at ``utilisation0``."""
    zero = jnp.zeros_like(p["hardware_decline"])
    u0 = p["utilisation0"]
    return MarketState(zero, zero, zero, zero, zero, zero, jnp.log(u0 / (1 - u0)), regime)


def step(p: dict[str, jax.Array], s: MarketState, regime: jax.Array, z: jax.Array, t: jax.Array) -> MarketState:
    """One quarter of the market block (docs/model.md section 2); ``z`` shape (paths, N_SHOCKS)."""
    sq = jnp.sqrt(DT)
    ln_h = s.ln_h - p["hardware_decline"] * DT + p["hardware_vol"] * sq * z[:, 0]
    ln_e = s.ln_e - p["algo_gain"] * DT + p["algo_vol"] * sq * z[:, 1]
    ln_r = s.ln_r + p["reasoning_growth"] * DT + p["reasoning_vol"] * sq * z[:, 2]
    d_ln_c = (ln_h - s.ln_h) + (ln_e - s.ln_e) + (ln_r - s.ln_r)
    ln_p = (s.ln_p + p["price_pass_through"] * d_ln_c - pick(p["price_war"], regime) * DT
            + p["price_vol"] * sq * z[:, 3])
    ln_g = (s.ln_g + p["rental_cost_beta"] * (ln_h - s.ln_h) + pick(p["rental_glut"], regime) * DT
            + p["rental_vol"] * sq * z[:, 4])
    g = decayed_rate(p["demand_growth0"], p["demand_growth_inf"], p["demand_growth_decay"], t, DT)
    ln_d = (s.ln_d + (g + pick(p["demand_shift"], regime)) * DT - p["price_elasticity"] * (ln_p - s.ln_p)
            + p["demand_vol"] * sq * z[:, 5])
    u_mean = p["utilisation_mean"]
    target = jnp.log(u_mean / (1 - u_mean)) + pick(p["utilisation_shift"], regime)
    x_u = s.x_u + p["utilisation_speed"] * DT * (target - s.x_u) + p["utilisation_vol"] * sq * z[:, 6]
    return MarketState(ln_h, ln_e, ln_r, ln_p, ln_g, ln_d, x_u, regime)


def levels(s: MarketState) -> dict[str, jax.Array]:
    """Indices (not logs) of a market state."""
    h, e, r = jnp.exp(s.ln_h), jnp.exp(s.ln_e), jnp.exp(s.ln_r)
    return {"H": h, "E": e, "R": r, "C": h * e * r, "P": jnp.exp(s.ln_p), "G": jnp.exp(s.ln_g),
            "D": jnp.exp(s.ln_d), "U": jax.nn.sigmoid(s.x_u)}


INDICES: tuple[str, ...] = ("H", "E", "R", "C", "P", "G", "D", "U")
"""Market indices reported, in output order."""
