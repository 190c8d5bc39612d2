"""Hyperscaler: core free cash flow, AI revenue, AI capex with discipline."""

from __future__ import annotations

from .._params import ParamSpec

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
