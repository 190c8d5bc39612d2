"""AI lab: share, revenue, serving and training compute, opex, commitments."""

from __future__ import annotations

from .._params import ParamSpec

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("revenue0", "USD bn/yr", "nonneg", "annualised revenue run rate at as_of"),
    ParamSpec("compute_margin0", "1", "real", "m_0: starting compute margin, 1 - serving cost / revenue"),
    ParamSpec("share_drift", "1/yr", "real", "annual log drift of market share s"),
    ParamSpec("share_vol", "1/sqrt(yr)", "nonneg", "s_s: volatility of ln s"),
    ParamSpec("training0", "USD bn/yr", "nonneg", "annualised training compute spend at as_of"),
    ParamSpec("training_growth0", "1/yr", "real", "g_T: starting annual log growth of training spend"),
    ParamSpec("training_growth_inf", "1/yr", "real", "long-run annual log growth of training spend"),
    ParamSpec("training_growth_decay", "1/yr", "nonneg", "rate at which training growth decays to its long-run value"),
    ParamSpec("training_cut", "1", "prob", "cut: training spend multiplier while runway is short"),
    ParamSpec("cut_runway_q", "quarters", "nonneg", "training is cut when runway falls below this"),
    ParamSpec("opex0", "USD bn/yr", "nonneg", "annualised non-compute operating expense at as_of"),
    ParamSpec("opex_growth", "1/yr", "real", "annual log growth of opex"),
    ParamSpec("commitments", "USD bn/yr", "nonneg", "take-or-pay compute commitments by year after as_of", schedule=True),
    ParamSpec("commitment_realisation", "1", "nonneg", "share of the commitment schedule that is actually owed (renegotiation)"),
)
