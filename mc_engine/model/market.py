"""Market block shared by all companies of a path: H, E, R, C, P, G, D, g, U.

Parameters are declared here; the quarterly step lives beside them.
"""

from __future__ import annotations

from .._params import ParamSpec

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
    ParamSpec("utilisation_speed", "1/yr", "nonneg", "kappa: mean-reversion speed of logit U"),
    ParamSpec("utilisation_shift", "1", "real", "shift of the logit of the utilisation mean in each regime", per_regime=True),
    ParamSpec("utilisation_vol", "1/sqrt(yr)", "nonneg", "volatility of logit U"),
)
