"""Market block shared by all companies of a path (docs/model.md section 2, model v2).

Trend rates (hardware decline, algorithmic gain, reasoning growth, price-war drift) are
Ornstein-Uhlenbeck processes per path; market spend ``S = D P`` grows logistically under a
ceiling; GPU rent is hardware cost times a mean-reverting markup; utilisation answers compute
demanded ``D E R`` against installed capacity ``K``. Parameters are declared here; the
quarterly step lives beside them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._paramspec import ParamSpec
from ._math import decayed_rate, pick
from .state import DT, MarketState

_SPEED_MAX = 1 / DT
_SPEED_WHY = ("the process moves speed x dt of the way to its target each quarter: past 1 / dt it overshoots, "
              "past 2 / dt it oscillates with growing amplitude")


def _trend(name: str, symbol: str, what: str, sign: str) -> tuple[ParamSpec, ...]:
    """A trend rate as an OU process: today's rate, long-run rate, reversion speed, volatility of the rate."""
    return (
        ParamSpec(name, "1/yr", "real", f"{symbol}_0: today's annual log rate at which {what} ({sign})"),
        ParamSpec(f"{name}_inf", "1/yr", "real", f"{symbol}_inf: long-run annual log rate the OU process reverts to"),
        ParamSpec(f"{name}_speed", "1/yr", "nonneg", f"k_{symbol}: reversion speed of {symbol} toward {symbol}_inf",
                  maximum=_SPEED_MAX, maximum_why=_SPEED_WHY),
        ParamSpec(f"{name}_rate_vol", "1/yr/sqrt(yr)", "nonneg", f"volatility of the rate {symbol} itself"),
    )


PARAMS: tuple[ParamSpec, ...] = (
    *_trend("hardware_decline", "h", "hardware cost per unit of compute H falls", "ln H falls by h dt"),
    ParamSpec("hardware_vol", "1/sqrt(yr)", "nonneg", "s_h: volatility of ln H"),
    *_trend("algo_gain", "a", "compute per token at fixed quality E falls", "ln E falls by a dt"),
    ParamSpec("algo_vol", "1/sqrt(yr)", "nonneg", "s_a: volatility of ln E"),
    *_trend("reasoning_growth", "r", "tokens per unit of delivered work R grow", "ln R rises by r dt"),
    ParamSpec("reasoning_vol", "1/sqrt(yr)", "nonneg", "s_r: volatility of ln R"),
    ParamSpec("price_pass_through", "1", "real", "pass: share of a change in ln serving cost C passed into ln price P"),
    *_trend("price_war_drift", "w", "price P falls beyond cost pass-through", "price-war drift"),
    ParamSpec("price_war", "1/yr", "real", "war[k]: regime add-on to the price-war drift w", per_regime=True),
    ParamSpec("price_vol", "1/sqrt(yr)", "nonneg", "s_p: volatility of ln P"),
    ParamSpec("price_floor", "1", "real", "f_p: log of price over serving cost (P / C, 0 at as_of) below which prices "
              "recover: a market does not sell below cost for years"),
    ParamSpec("price_floor_speed", "1/yr", "nonneg", "k_f: speed at which ln(P / C) below the floor is pulled back",
              maximum=_SPEED_MAX, maximum_why=_SPEED_WHY),
    ParamSpec("rent_markup", "1", "real", "mu_m[k]: log level of GPU rent over new-hardware cost (G / H, 0 at as_of) "
              "that the markup reverts to in each regime", per_regime=True),
    ParamSpec("rent_markup_speed", "1/yr", "nonneg", "k_m: reversion speed of the log rent markup",
              maximum=_SPEED_MAX, maximum_why=_SPEED_WHY),
    ParamSpec("rental_vol", "1/sqrt(yr)", "nonneg", "s_g: volatility of the log rent markup"),
    ParamSpec("demand_growth0", "1/yr", "real", "g_0: starting annual log growth of market spend before the ceiling"),
    ParamSpec("demand_growth_inf", "1/yr", "real", "g_inf: long-run annual log growth of market spend before the ceiling"),
    ParamSpec("demand_growth_decay", "1/yr", "nonneg", "lam: rate at which demand growth decays from g_0 to g_inf"),
    ParamSpec("demand_shift", "1/yr", "real", "shift[k]: regime add-on to spend growth while the regime lasts", per_regime=True),
    ParamSpec("price_elasticity", "1", "nonneg", "elast: market-level elasticity of work demanded to price; spend "
              "S = D P moves by (1 - elast) times the change in ln P"),
    ParamSpec("demand_vol", "1/sqrt(yr)", "nonneg", "s_d: volatility of ln S (and ln D)"),
    ParamSpec("provider_elasticity", "1", "nonneg", "eps: elasticity of one provider's volume to its own price premium "
              "over the market (customers switch providers); a premium a keeps exp(-eps a) of the volume"),
    ParamSpec("spend_ceiling", "1", "positive", "S_max: market spend (D P, 1 at as_of) that the economy can carry; "
              "growth is damped by 1 - S / S_max"),
    ParamSpec("modelled_share", "1", "unit_open", "share of market spend held by the modelled labs and hyperscalers "
              "at as_of; the rest of the market is one more competitor"),
    ParamSpec("capacity_growth0", "1/yr", "real", "c_0: starting annual log growth of installed compute capacity K"),
    ParamSpec("capacity_growth_inf", "1/yr", "real", "c_inf: long-run annual log growth of installed capacity"),
    ParamSpec("capacity_growth_decay", "1/yr", "nonneg", "rate at which capacity growth decays from c_0 to c_inf"),
    ParamSpec("capacity_response", "1/yr", "nonneg", "rho_K: investment response of capacity to the gap ln Q - ln K",
              maximum=_SPEED_MAX, maximum_why=_SPEED_WHY),
    ParamSpec("utilisation_gap", "1", "nonneg", "beta_U: shift of logit U's target per unit of ln(Q / K), compute "
              "demanded over installed capacity"),
    ParamSpec("utilisation0", "1", "unit_open", "U_0: starting fleet utilisation"),
    ParamSpec("utilisation_mean", "1", "unit_open", "long-run mean utilisation in the normal regime with Q = K"),
    ParamSpec("utilisation_speed", "1/yr", "nonneg", "kappa: mean-reversion speed of logit U", maximum=_SPEED_MAX,
              maximum_why="logit U moves kappa dt of the way to its mean each quarter: past 1 / dt it overshoots, "
                          "past 2 / dt it oscillates with growing amplitude until U is 0 or 1 in float32"),
    ParamSpec("utilisation_shift", "1", "real", "shift of the logit of the utilisation mean in each regime", per_regime=True),
    ParamSpec("utilisation_vol", "1/sqrt(yr)", "nonneg", "volatility of logit U"),
)

SHOCKS: tuple[str, ...] = ("H", "E", "R", "P", "G", "D", "U", "rate_h", "rate_a", "rate_r", "rate_w")
"""Normal shocks per path and quarter, in column order."""
N_SHOCKS: int = len(SHOCKS)


def initial_state(p: dict[str, jax.Array], regime: jax.Array) -> MarketState:
    """All indices at 1 (logs at 0), utilisation at ``utilisation0``, trend rates at today's values."""
    zero = jnp.zeros_like(p["hardware_decline"])
    u0 = p["utilisation0"]
    return MarketState(ln_h=zero, ln_e=zero, ln_r=zero, ln_p=zero, ln_m=zero, ln_d=zero, x_u=jnp.log(u0 / (1 - u0)),
                       ln_k=zero, rate_h=p["hardware_decline"], rate_a=p["algo_gain"],
                       rate_r=p["reasoning_growth"], rate_w=p["price_war_drift"], regime=regime)


def _ou(p: dict[str, jax.Array], name: str, x: jax.Array, z: jax.Array) -> jax.Array:
    """One quarter of an OU trend rate: ``x_inf + (x - x_inf) exp(-k dt) + s sqrt(dt) z``."""
    inf = p[f"{name}_inf"]
    return inf + (x - inf) * jnp.exp(-p[f"{name}_speed"] * DT) + p[f"{name}_rate_vol"] * jnp.sqrt(DT) * z


def step(p: dict[str, jax.Array], s: MarketState, regime: jax.Array, z: jax.Array, t: jax.Array) -> MarketState:
    """One quarter of the market block (docs/model.md section 2); ``z`` shape (N_SHOCKS, paths)."""
    sq = jnp.sqrt(DT)
    ln_h = s.ln_h - s.rate_h * DT + p["hardware_vol"] * sq * z[0]
    ln_e = s.ln_e - s.rate_a * DT + p["algo_vol"] * sq * z[1]
    ln_r = s.ln_r + s.rate_r * DT + p["reasoning_vol"] * sq * z[2]
    d_ln_c = (ln_h - s.ln_h) + (ln_e - s.ln_e) + (ln_r - s.ln_r)
    below = jnp.maximum(p["price_floor"] - (s.ln_p - (s.ln_h + s.ln_e + s.ln_r)), 0.0)
    d_ln_p = (p["price_pass_through"] * d_ln_c - (s.rate_w + pick(p["price_war"], regime)) * DT
              + p["price_floor_speed"] * DT * below + p["price_vol"] * sq * z[3])
    ln_p = s.ln_p + d_ln_p
    ln_m = s.ln_m + p["rent_markup_speed"] * DT * (pick(p["rent_markup"], regime) - s.ln_m) + p["rental_vol"] * sq * z[4]
    # Spend S = D P: growth and price-driven pushes are damped logistically under the ceiling S_max.
    g = decayed_rate(p["demand_growth0"], p["demand_growth_inf"], p["demand_growth_decay"], t, DT)
    push = (g + pick(p["demand_shift"], regime)) * DT + (1 - p["price_elasticity"]) * d_ln_p
    damp = jnp.clip(1 - jnp.exp(s.ln_d + s.ln_p) / p["spend_ceiling"], -1.0, 1.0)
    ln_s = s.ln_d + s.ln_p + jnp.where(push > 0, push * damp, push) + p["demand_vol"] * sq * z[5]
    ln_d = ln_s - ln_p
    # Installed capacity follows its build-out plan and chases last quarter's compute demand Q = D E R.
    c = decayed_rate(p["capacity_growth0"], p["capacity_growth_inf"], p["capacity_growth_decay"], t, DT)
    gap_prev = (s.ln_d + s.ln_e + s.ln_r) - s.ln_k
    ln_k = s.ln_k + (c + p["capacity_response"] * gap_prev) * DT
    u_mean = p["utilisation_mean"]
    target = (jnp.log(u_mean / (1 - u_mean)) + pick(p["utilisation_shift"], regime)
              + p["utilisation_gap"] * ((ln_d + ln_e + ln_r) - ln_k))
    x_u = s.x_u + p["utilisation_speed"] * DT * (target - s.x_u) + p["utilisation_vol"] * sq * z[6]
    return MarketState(
        ln_h=ln_h, ln_e=ln_e, ln_r=ln_r, ln_p=ln_p, ln_m=ln_m, ln_d=ln_d, x_u=x_u, ln_k=ln_k,
        rate_h=_ou(p, "hardware_decline", s.rate_h, z[7]), rate_a=_ou(p, "algo_gain", s.rate_a, z[8]),
        rate_r=_ou(p, "reasoning_growth", s.rate_r, z[9]), rate_w=_ou(p, "price_war_drift", s.rate_w, z[10]),
        regime=regime,
    )


def levels(s: MarketState) -> dict[str, jax.Array]:
    """Indices (not logs) of a market state."""
    h, e, r = jnp.exp(s.ln_h), jnp.exp(s.ln_e), jnp.exp(s.ln_r)
    return {"H": h, "E": e, "R": r, "C": h * e * r, "P": jnp.exp(s.ln_p), "G": jnp.exp(s.ln_h + s.ln_m),
            "D": jnp.exp(s.ln_d), "U": jax.nn.sigmoid(s.x_u), "S": jnp.exp(s.ln_d + s.ln_p), "K": jnp.exp(s.ln_k)}


INDICES: tuple[str, ...] = ("H", "E", "R", "C", "P", "G", "D", "U", "S", "K")
"""Market indices reported, in output order."""
