"""Neocloud: GPU fleet, contracted and spot revenue, power, debt and covenant."""

from __future__ import annotations

from .._params import ParamSpec

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("fleet0", "k GPUs", "nonneg", "K_0: installed GPUs (H100-equivalents, thousands) at as_of"),
    ParamSpec("fleet_growth0", "1/yr", "real", "starting annual log growth of the fleet purchase plan"),
    ParamSpec("fleet_growth_inf", "1/yr", "real", "long-run annual log growth of the fleet purchase plan"),
    ParamSpec("fleet_growth_decay", "1/yr", "nonneg", "rate at which fleet growth decays to its long-run value"),
    ParamSpec("gpu_price0", "USD k/GPU", "positive", "installed cost of one GPU at as_of; falls with H"),
    ParamSpec("useful_life", "yr", "positive", "economic life of a GPU; the fleet retires at rate dt/life"),
    ParamSpec("contract_share0", "1", "prob", "phi_0: take-or-pay share of the fleet at as_of"),
    ParamSpec("contract_tau", "yr", "positive", "tau: mean remaining contract length; phi rolls off as exp(-dt/tau)"),
    ParamSpec("new_contract_share", "1", "prob", "share of newly bought GPUs placed under contract"),
    ParamSpec("contract_price", "USD/GPU-hr", "positive", "price of contracted capacity"),
    ParamSpec("spot_price0", "USD/GPU-hr", "positive", "spot rental price at as_of; moves with the rental index G"),
    ParamSpec("power_cost", "USD/GPU-hr", "nonneg", "power and cooling per installed GPU-hour"),
    ParamSpec("opex0", "USD bn/yr", "nonneg", "annualised fixed operating expense at as_of"),
    ParamSpec("opex_growth", "1/yr", "real", "annual log growth of fixed opex"),
    ParamSpec("debt_share", "1", "prob", "lev: share of GPU purchases financed by new debt"),
    ParamSpec("max_leverage", "1", "positive", "covenant: debt / annualised EBITDA above this is a breach"),
    ParamSpec("covenant_quarters", "quarters", "positive", "consecutive breached quarters before default"),
)
