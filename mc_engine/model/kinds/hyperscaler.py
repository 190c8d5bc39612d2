"""Hyperscaler: core free cash flow, AI revenue, AI capex with discipline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ..._paramspec import ParamSpec
from .._math import pick, plan_log_growth
from ..shares import PRICING_PARAMS, reprice
from ..state import DT, EPS
from .base import Block, CompanyKind, Context, DebtTerms, Flows, KindInputs, Peer, Settled, no_covenant

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
    ParamSpec("capex_liquidity_draw", "1", "prob", "share of liquidity (cash + credit lines) a quarter's AI capex may "
              "use beyond the cash the quarter generates (core FCF + AI revenue - AI opex - interest)"),
    ParamSpec("bond_access", "1", "prob", "probability a bond issue or a maturing bond is placed in a quarter, "
              "whatever the equity funding regime (a winter widens the spread instead)"),
    *PRICING_PARAMS,
)


def flows(p: dict[str, jax.Array], ln_s: jax.Array, norm: jax.Array, premium: jax.Array, ln_f: jax.Array,
          mk: dict[str, jax.Array], u0: jax.Array, elasticity: jax.Array, regime: jax.Array, t: jax.Array,
          z_core: jax.Array) -> dict[str, jax.Array]:
    """One quarter of every hyperscaler before counterparty replacement (docs/model.md 3.5); (hyperscalers, paths).

    ``ln_s`` is this quarter's log share weight, ``norm`` the share normaliser (1, paths) and ``premium`` the
    log price premium, as for labs (docs/model.md 3.0).
    Returns ln_f, core (non-AI FCF), own (AI revenue), serve, capex_plan, plan_revenue, opex, rho.
    """
    d, price, cost, util, g = (mk[k][None] for k in ("D", "P", "C", "U", "G"))
    sq = jnp.sqrt(DT)
    ln_f = ln_f + p["core_growth"] * DT + p["core_vol"] * sq * z_core
    core = p["core_fcf0"] / 4 * jnp.exp(ln_f) * pick(p["core_regime_factor"], regime)
    share = jnp.exp(ln_s) * norm
    quarter0 = p["ai_revenue0"] / 4
    ratio = (1 - p["ai_compute_margin0"]) * (1 - p["own_chip_discount"]) * cost * u0[None] / (price * util)
    premium = reprice(premium, ratio, p["reprice_speed"], p["reprice_max"])
    volume = quarter0 * d * share * jnp.exp(-elasticity[None] * premium)
    own = volume * price * jnp.exp(premium)
    serve = volume * price * ratio
    growth = jnp.exp(plan_log_growth(p["ai_capex_growth0"], p["ai_capex_growth_inf"], p["ai_capex_growth_decay"],
                                     t, DT))
    opex = p["ai_opex0"] / 4 * jnp.exp(p["opex_growth"] * t * DT)
    return {"ln_f": ln_f, "premium": premium, "core": core, "own": own, "serve": serve,
            "capex_plan": p["ai_capex0"] / 4 * growth, "plan_revenue": quarter0 * growth, "opex": opex,
            "rho": jnp.clip(util * g, 0.0, 1.0)}


def settle(p: dict[str, jax.Array], f: dict[str, jax.Array], revenue: jax.Array, interest: jax.Array,
           cash: jax.Array, credit_line: jax.Array) -> dict[str, jax.Array]:
    """Capex with discipline, burn and margin once AI revenue is known (docs/model.md 3.5).

    Capex follows the plan trimmed by the AI revenue shortfall, and is then capped by what the quarter's
    own cash flow (core FCF + AI revenue - AI opex - interest) and a share ``capex_liquidity_draw`` of the
    liquidity at the start of the quarter (``cash + credit_line``) can pay for.
    """
    ratio = jnp.clip(revenue / jnp.maximum(f["plan_revenue"], EPS), 0.0, 1.0)
    internal = f["core"] + revenue - f["opex"] - interest
    affordable = jnp.maximum(internal, 0.0) + p["capex_liquidity_draw"] * jnp.maximum(cash + credit_line, 0.0)
    capex = jnp.minimum(f["capex_plan"] * ratio ** p["capex_discipline"], affordable)
    burn = capex + f["opex"] + interest - revenue - f["core"]
    gross_margin = jnp.clip((revenue - f["serve"]) / jnp.maximum(revenue, EPS), -5.0, 1.0)
    return {"burn": burn, "capex": capex, "gross_margin": gross_margin}


class HyperscalerState(NamedTuple):
    """A hyperscaler's own state, each (hyperscalers, paths)."""

    ln_s: jax.Array  # log AI market-share index (0 at as_of)
    premium: jax.Array  # log price premium over the market
    ln_f: jax.Array  # log core FCF index


class Hyperscaler(CompanyKind):
    """Hyperscaler: core cash flow plus AI revenue from a share of market spend; hosts compute; issues bonds."""

    name = "hyperscaler"
    params = PARAMS
    State = HyperscalerState
    normals = ("share", "core")
    can_host = True
    spend_weight0 = "ai_revenue0"
    investment_grade = True
    starting_keys = ("core_fcf0", "ai_revenue0", "ai_compute_margin0", "ai_capex0", "ai_opex0", "credit_line")

    def init(self, p_market: dict[str, jax.Array], kp: KindInputs) -> tuple[HyperscalerState, jax.Array]:
        zeros = jnp.zeros_like(kp.company["cash0"])
        return HyperscalerState(zeros, zeros, zeros), kp.own["ai_revenue0"] / 4

    def debt_terms(self, ctx: Context, kp: KindInputs, s: Block) -> DebtTerms:
        return DebtTerms(kp.own["bond_access"], kp.own["credit_line"], jnp.full_like(s.company.cash, jnp.inf))

    def flows(self, ctx: Context, kp: KindInputs, s: Block, z: Any, dead_hosts: jax.Array | None) -> Flows:
        f = flows(kp.own, s.own.ln_s, ctx.share_norm, s.own.premium, s.own.ln_f, ctx.market,
                  ctx.p_market["utilisation0"], ctx.p_market["provider_elasticity"], ctx.regime, ctx.t, z.core)
        return Flows(pay=None, own=f["own"], rho=f["rho"], detail=f)

    def settle(self, ctx: Context, kp: KindInputs, s: Block, z: Any, f: Flows, revenue: jax.Array,
               interest: jax.Array, debt: jax.Array, cash: jax.Array, terms: DebtTerms,
               peers: Mapping[str, Peer]) -> Settled:
        d = f.detail
        g = settle(kp.own, d, revenue, interest, cash, terms.credit_line)
        return no_covenant(revenue, g["burn"], g["gross_margin"], g["capex"], debt,
                           HyperscalerState(ln_s=s.own.ln_s, premium=d["premium"], ln_f=d["ln_f"]))


KIND = Hyperscaler()
