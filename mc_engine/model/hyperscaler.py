"""Hyperscaler: core free cash flow, AI revenue, AI capex with discipline."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._params import ParamSpec
from ._math import pick, plan_log_growth
from .state import DT, EPS

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("core_fcf0", "USD bn/yr", "real", "annualised non-AI free cash flow at as_of"),
    ParamSpec("core_growth", "1/yr", "real", "annual log growth of core free cash flow"),
    ParamSpec("core_vol", "1/sqrt(yr)", "nonneg", "volatility of ln core free cash flow"),
    ParamSpec("core_regime_factor", "1", "nonneg", "multiplier on core free cash flow in each regime (normal = 1)", per_regime=True),
    ParamSpec("ai_revenue0", "USD bn/yr", "nonneg", "annualised AI revenue (cloud AI + AI products) at as_of"),
    ParamSpec("ai_compute_margin0", "1", "real", "starting compute margin of AI revenue"),
    ParamSpec("own_chip_discount", "1", "prob", "share of serving cost saved by own chips"),
    ParamSpec("share_drift", "1/yr", "real", "annual log drift of AI market share"),
    ParamSpec("share_vol", "1/sqrt(yr)", "nonneg", "volatility of ln AI market share"),
    ParamSpec("ai_capex0", "USD bn/yr", "nonneg", "annualised AI capex plan at as_of"),
    ParamSpec("ai_capex_growth0", "1/yr", "real", "starting annual log growth of the AI capex plan"),
    ParamSpec("ai_capex_growth_inf", "1/yr", "real", "long-run annual log growth of the AI capex plan"),
    ParamSpec("ai_capex_growth_decay", "1/yr", "nonneg", "rate at which capex growth decays to its long-run value"),
    ParamSpec("capex_discipline", "1", "nonneg", "elasticity of capex to AI revenue shortfall against plan"),
    ParamSpec("ai_opex0", "USD bn/yr", "nonneg", "annualised AI operating expense at as_of"),
    ParamSpec("opex_growth", "1/yr", "real", "annual log growth of AI opex"),
    ParamSpec("credit_line", "USD bn", "nonneg", "undrawn committed credit lines usable before failure"),
)


def flows(p: dict[str, jax.Array], ln_s: jax.Array, norm: jax.Array, ln_f: jax.Array, mk: dict[str, jax.Array],
          u0: jax.Array, regime: jax.Array, t: jax.Array, z_core: jax.Array) -> dict[str, jax.Array]:
    """One quarter of every hyperscaler before counterparty replacement (docs/model.md 3.5); (paths, hyperscalers).

    ``ln_s`` is this quarter's log share weight and ``norm`` the share normaliser (paths, 1), as for labs.
    Returns ln_f, core (non-AI FCF), own (AI revenue), serve, capex_plan, plan_revenue, opex, rho.
    """
    d, price, cost, util, g = (mk[k][:, None] for k in ("D", "P", "C", "U", "G"))
    sq = jnp.sqrt(DT)
    ln_f = ln_f + p["core_growth"] * DT + p["core_vol"] * sq * z_core
    core = p["core_fcf0"] / 4 * jnp.exp(ln_f) * pick(p["core_regime_factor"], regime)
    share = jnp.exp(ln_s) * norm
    quarter0 = p["ai_revenue0"] / 4
    own = quarter0 * d * price * share
    serve = (quarter0 * (1 - p["ai_compute_margin0"]) * (1 - p["own_chip_discount"]) * d * share * cost
             * u0[:, None] / util)
    growth = jnp.exp(plan_log_growth(p["ai_capex_growth0"], p["ai_capex_growth_inf"], p["ai_capex_growth_decay"],
                                     t, DT))
    opex = p["ai_opex0"] / 4 * jnp.exp(p["opex_growth"] * t * DT)
    return {"ln_f": ln_f, "core": core, "own": own, "serve": serve,
            "capex_plan": p["ai_capex0"] / 4 * growth, "plan_revenue": quarter0 * growth, "opex": opex,
            "rho": jnp.clip(util * g, 0.0, 1.0)}


def settle(p: dict[str, jax.Array], f: dict[str, jax.Array], revenue: jax.Array,
           interest: jax.Array) -> dict[str, jax.Array]:
    """Capex with discipline, burn and margin once AI revenue is known."""
    ratio = jnp.clip(revenue / jnp.maximum(f["plan_revenue"], EPS), 0.0, 1.0)
    capex = f["capex_plan"] * ratio ** p["capex_discipline"]
    burn = capex + f["opex"] + interest - revenue - f["core"]
    gross_margin = jnp.clip((revenue - f["serve"]) / jnp.maximum(revenue, EPS), -5.0, 1.0)
    return {"burn": burn, "capex": capex, "gross_margin": gross_margin}
