"""Funding rounds, strategic rescue, acquisition and default.

Market-wide funding conditions (per regime) and the funding parameters every
company carries are declared here; the quarterly step lives beside them.
"""

from __future__ import annotations

from .._params import ParamSpec

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("raise_prob", "1", "prob", "p_raise: probability that a round attempt succeeds, before company odds and growth", per_regime=True),
    ParamSpec("round_size", "1", "positive", "multiplier on round size in each regime (normal = 1)", per_regime=True),
    ParamSpec("valuation", "1", "positive", "multiplier on revenue multiples in each regime (normal = 1)", per_regime=True),
    ParamSpec("credit_spread", "1/yr", "real", "credit spread added to the base rate in each regime", per_regime=True),
    ParamSpec("refinance_prob", "1", "prob", "probability that a maturing debt tranche is refinanced", per_regime=True),
    ParamSpec("base_rate", "1/yr", "nonneg", "risk-free base interest rate"),
    ParamSpec("growth_sensitivity", "1", "nonneg", "how strongly round success odds rise with year-on-year revenue growth"),
)

COMPANY_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("cash0", "USD bn", "nonneg", "cash and equivalents at as_of"),
    ParamSpec("debt0", "USD bn", "nonneg", "debt outstanding at as_of"),
    ParamSpec("rate_spread", "1/yr", "real", "company spread over base rate + regime credit spread, paid on debt"),
    ParamSpec("tenor", "yr", "positive", "average debt tenor; debt*dt/tenor matures each quarter"),
    ParamSpec("raise_trigger_q", "quarters", "positive", "a round is tried when runway falls below this"),
    ParamSpec("min_gap_q", "quarters", "nonneg", "minimum time between rounds"),
    ParamSpec("target_runway_q", "quarters", "positive", "a round is sized to cover this many quarters of burn"),
    ParamSpec("round_size_sigma", "1", "nonneg", "log-sd of the round-size factor"),
    ParamSpec("raise_odds", "1", "positive", "multiplier on the regime's round success probability (top labs > 1)"),
    ParamSpec("revenue_multiple", "1", "positive", "post-money valuation / annualised revenue in the normal regime"),
    ParamSpec("valuation0", "USD bn", "nonneg", "post-money valuation of the last round before as_of"),
    ParamSpec("last_round_age0", "quarters", "nonneg", "quarters since the last round at as_of"),
    ParamSpec("rescue_prob", "1", "prob", "probability a strategic backer funds a failed raise"),
    ParamSpec("acquire_prob", "1", "prob", "probability of acquisition in a quarter when cash is under one quarter of burn"),
)
