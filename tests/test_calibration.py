"""The baseline priors against public figures: every row of docs/calibration.md.

One run of the baseline (``N_PATHS`` paths, ``SEED``, 24 quarters) gives per-path
trajectories; each figure is computed from them over the first four simulated quarters
(Q3 2026 - Q2 2027) and must land in the range that docs/calibration.md derives from
shared/research/priors-sources.md. Flows are summed over the four quarters on the paths
still alive at the end of quarter 4, and the median of those sums is compared.

Interest and hyperscaler capex are not engine outputs: they are rebuilt from the trace
and the drawn inputs with the equations of docs/model.md (3.1, 3.5). A zero-shock run
checks that rebuild against the burn identity, so a change of the equations in the
engine shows up here instead of as a silently wrong calibration figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import BASELINE

from mc_engine._params import REGIMES
from mc_engine.engine.keys import STREAM_INPUTS, root_key, stream_key
from mc_engine.engine.trace import trace_paths
from mc_engine.inputs.loader import Priors, load_priors
from mc_engine.inputs.sampler import compile_sampler
from mc_engine.model._math import plan_log_growth
from mc_engine.model.state import DT

N_PATHS = 8192
SEED = 1
HORIZON = 24
YEAR = 4
"""The calibration year: the first four simulated quarters."""


@dataclass(frozen=True)
class Run:
    priors: Priors
    trace: dict[str, np.ndarray]
    """Per-path trajectories: market (T, n), companies (T, n, c) in the priors' order, USD bn."""
    inputs: dict[str, np.ndarray]
    """The drawn scenario inputs, name -> (n,): the engine's input stream of the same seed."""

    def col(self, company: str) -> int:
        return self.priors.company_ids.index(company)

    def param(self, company: str, name: str) -> np.ndarray:
        return self.inputs[f"companies.{company}.{name}"]


def simulate(n: int, horizon: int, shocks: str = "random") -> Run:
    priors = load_priors(BASELINE)
    trace = trace_paths(priors, n, SEED, horizon, shocks=shocks)
    key = stream_key(root_key(SEED), STREAM_INPUTS)
    inputs = {k: np.asarray(v) for k, v in compile_sampler(priors).sample_inputs(key, n).items()}
    return Run(priors, trace, inputs)


@pytest.fixture(scope="module")
def run() -> Run:
    return simulate(N_PATHS, HORIZON)


# ------------------------------------------------------------------ figures rebuilt from the trace


def interest(r: Run, company: str, quarters: int) -> np.ndarray:
    """Interest paid per quarter, (quarters, n): ``debt_{t-1} (base + credit_spread[k_t] + rate_spread) dt``."""
    j = r.col(company)
    spreads = np.stack([r.inputs[f"funding.credit_spread.{k}"] for k in REGIMES], axis=-1)
    regime = r.trace["regime"][:quarters].astype(int)
    spread = np.take_along_axis(spreads, regime.T, axis=1).T
    rate = r.inputs["funding.base_rate"] + spread + r.param(company, "rate_spread")
    debt_prev = np.concatenate([r.param(company, "debt0")[None], r.trace["debt"][: quarters - 1, :, j]])
    return debt_prev * rate * DT


def hyperscaler_capex(r: Run, company: str, quarters: int) -> np.ndarray:
    """AI capex per quarter, (quarters, n): ``X_t min(1, revenue_t / plan_rev_t)^capex_discipline``."""
    p = {k: r.param(company, k) for k in ("ai_capex0", "ai_revenue0", "capex_discipline", "ai_capex_growth0",
                                            "ai_capex_growth_inf", "ai_capex_growth_decay")}
    out = []
    for t in range(1, quarters + 1):
        growth = np.exp(np.asarray(plan_log_growth(
            jnp.asarray(p["ai_capex_growth0"]), jnp.asarray(p["ai_capex_growth_inf"]),
            jnp.asarray(p["ai_capex_growth_decay"]), jnp.float32(t), DT)))
        plan_revenue = p["ai_revenue0"] / 4 * growth
        ratio = np.clip(r.trace["revenue"][t - 1, :, r.col(company)] / plan_revenue, 0.0, 1.0)
        out.append(p["ai_capex0"] / 4 * growth * ratio ** p["capex_discipline"])
    return np.stack(out)


def alive_through_year(r: Run, company: str) -> np.ndarray:
    return r.trace["status"][YEAR - 1, :, r.col(company)] == 0


def year_sum(r: Run, company: str, flow: np.ndarray) -> np.ndarray:
    """Sum of a (quarters, n) flow over the calibration year, on paths alive through it."""
    return flow[:YEAR].sum(axis=0)[alive_through_year(r, company)]


def year_flow(r: Run, company: str, var: str) -> np.ndarray:
    return year_sum(r, company, r.trace[var][:, :, r.col(company)])


def interest_share(r: Run, company: str) -> np.ndarray:
    return year_sum(r, company, interest(r, company, YEAR)) / year_flow(r, company, "revenue")


def span_flow(r: Run, company: str, first: int, last: int) -> np.ndarray:
    """Sum of a company's revenue over quarters ``first..last`` (1-based), on paths alive through ``last``."""
    j = r.col(company)
    alive = r.trace["status"][last - 1, :, j] == 0
    return r.trace["revenue"][first - 1 : last, :, j].sum(axis=0)[alive]


FIGURES = {
    "openai_revenue": lambda r: year_flow(r, "openai", "revenue"),
    "openai_burn": lambda r: year_flow(r, "openai", "burn"),
    "anthropic_revenue": lambda r: year_flow(r, "anthropic", "revenue"),
    "coreweave_revenue": lambda r: year_flow(r, "coreweave", "revenue"),
    "coreweave_interest_share": lambda r: interest_share(r, "coreweave"),
    "microsoft_ai_capex": lambda r: year_sum(r, "microsoft", hyperscaler_capex(r, "microsoft", YEAR)),
    "hardware_cost_index": lambda r: r.trace["H"][YEAR - 1],
    "algo_compute_per_token": lambda r: r.trace["E"][YEAR - 1],
    "tokens_growth": lambda r: r.trace["D"][YEAR - 1] * r.trace["R"][YEAR - 1],
    # Six-year rows (model v2, docs/calibration.md table 3). Quarter 1 ends 2026-09-30.
    "tokens_six_years": lambda r: r.trace["D"][HORIZON - 1] * r.trace["R"][HORIZON - 1],
    "rent_over_hardware_horizon": lambda r: r.trace["G"][HORIZON - 1] / r.trace["H"][HORIZON - 1],
    "spend_index_horizon": lambda r: r.trace["D"][HORIZON - 1] * r.trace["P"][HORIZON - 1],
    "openai_revenue_2028": lambda r: span_flow(r, "openai", 7, 10),
    "openai_revenue_2030": lambda r: span_flow(r, "openai", 15, 18),
    "oracle_revenue_fy27": lambda r: span_flow(r, "oracle", 1, 4),
    "oracle_revenue_fy28": lambda r: span_flow(r, "oracle", 5, 8),
    "oracle_revenue_fy29": lambda r: span_flow(r, "oracle", 9, 12),
    "oracle_revenue_fy30": lambda r: span_flow(r, "oracle", 13, 16),
}
"""Name -> per-path values of the figure whose median is calibrated (USD bn/yr, or a ratio)."""

ORACLE_GUIDANCE = {"fy27": 32.0, "fy28": 73.0, "fy29": 114.0, "fy30": 144.0}
"""Oracle cloud infrastructure revenue guidance, USD bn (docs/calibration.md table 3): the range is 0.5-1.25x,
because the guidance rests on an RPO that is mostly one client's (OpenAI's) commitments paid in full."""

# Ranges: docs/calibration.md, table 1, where each is derived from priors-sources.md.
MEDIAN_RANGES = [
    pytest.param("openai_revenue", 43.0, 73.0, id="openai_revenue"),
    pytest.param("openai_burn", 15.0, 22.0, id="openai_burn"),
    pytest.param("anthropic_revenue", 70.0, 115.0, id="anthropic_revenue"),
    pytest.param("coreweave_revenue", 15.5, 22.0, id="coreweave_revenue"),
    pytest.param("coreweave_interest_share", 0.15, 0.35, id="coreweave_interest_share"),
    pytest.param("microsoft_ai_capex", 190.0, 280.0, id="microsoft_ai_capex"),
    pytest.param("hardware_cost_index", 0.60, 0.82, id="hardware_cost_index"),
    pytest.param("algo_compute_per_token", 1 / 7, 1 / 1.7, id="algo_compute_per_token"),
    pytest.param("tokens_growth", 2.0, 10.0, id="tokens_growth"),
    pytest.param("tokens_six_years", 30.0, 3000.0, id="tokens_six_years"),
    pytest.param("rent_over_hardware_horizon", 0.4, 2.5, id="rent_over_hardware_horizon"),
    pytest.param("spend_index_horizon", 1.0, 100.0, id="spend_index_horizon"),
    pytest.param("openai_revenue_2028", 40.0, 150.0, id="openai_revenue_2028"),
    pytest.param("openai_revenue_2030", 50.0, 300.0, id="openai_revenue_2030"),
    *[pytest.param(f"oracle_revenue_{fy}", 0.5 * g, 1.25 * g, id=f"oracle_revenue_{fy}")
      for fy, g in ORACLE_GUIDANCE.items()],
]


@pytest.mark.parametrize(("figure", "lo", "hi"), MEDIAN_RANGES)
def test_median_in_range(run: Run, figure: str, lo: float, hi: float) -> None:
    values = FIGURES[figure](run)
    assert values.size > N_PATHS // 2, f"{figure}: only {values.size} live paths"
    median = float(np.median(values))
    assert lo <= median <= hi, f"{figure}: median {median:.4g} outside [{lo:.4g}, {hi:.4g}]"


def test_market_spend_stays_under_its_ceiling(run: Run) -> None:
    """The 99th percentile of market spend at the horizon is under 1,000x today's, and spend far above the
    path's own ceiling S_max is rare: the damping pulls it back, so only the noise (demand_vol, ~0.2/sqrt(yr))
    carries a path over, about 0.26 in log terms at the ceiling; twice the ceiling is ~2.7 of those."""
    spend = run.trace["D"][HORIZON - 1] * run.trace["P"][HORIZON - 1]
    assert np.quantile(spend, 0.99) < 1000.0
    over = spend > 2.0 * run.inputs["market.spend_ceiling"]
    assert over.mean() < 0.01, f"{over.mean():.4f} of paths end above 2 x their spend ceiling"


# ------------------------------------------------------------------------------------- survival

TOP_LAB = (0.95, 0.9025, 0.735)
"""Top-2 labs lose independence 5 %/yr or less: 0.95 ** years (priors-sources.md section 3)."""
TIER2 = ((0.55, 0.90), (0.3025, 0.81), (0.0277, 0.531))
"""Tier-2 labs lose independence ~25 %/yr (10-45 %): (1 - h) ** years for h = 45 % and 10 %."""
COREWEAVE = ((0.898, 0.980), (0.807, 0.960), (0.526, 0.885))
"""CDS 368-643bp: exp(-lambda t), lambda = 643bp / 0.6 (floor) and 368bp / 0.6 / 3 (ceiling)."""
RARE = 0.98
"""Net-cash hyperscalers: failure is rare (MODEL.md), at most 2 % over six years (EST)."""
QUARTERS = (4, 8, 24)

NEOCLOUD_XFAIL = (
    "model v2 rent follows hardware cost (G = H m), so a GPU-hour of an H100-equivalent rents for ~85 % less "
    "by the horizon, while the v1 neocloud costs do not scale: fixed opex grows 10-60 %/yr whatever the fleet, "
    "and the fleet plan is in H100-equivalents, so dollar capex shrinks with H. Neocloud costs and plans are "
    "model v2 section 7.2 (the credit-behaviour issue), not done yet (docs/calibration.md note e)"
)
MISTRAL_XFAIL = (
    "the model lets a lab be acquired only once its cash is under one quarter of burn; the sourced 10-45 %/yr "
    "comes from acqui-hires of labs that still had cash, and Mistral starts with ~1.4 years of runway and a "
    "round in talks, so its exits begin in year 2 (8 and 24 quarters are within range)"
)


def _case(company: str, quarter: int, lo: float, hi: float = 1.0, xfail: str | None = None):  # noqa: ANN202
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(company, quarter, lo, hi, id=f"{company}-{quarter}q", marks=marks)


SURVIVAL_RANGES = [
    *[_case(c, q, lo) for c in ("openai", "anthropic", "xai") for q, lo in zip(QUARTERS, TOP_LAB, strict=True)],
    *[_case(c, q, lo, hi, MISTRAL_XFAIL if (c, q) == ("mistral", 4) else None)
      for c in ("mistral", "cohere") for q, (lo, hi) in zip(QUARTERS, TIER2, strict=True)],
    *[_case("coreweave", q, lo, hi, NEOCLOUD_XFAIL if q > 8 else None)
      for q, (lo, hi) in zip(QUARTERS, COREWEAVE, strict=True)],
    *[_case("nebius", q, lo, xfail=NEOCLOUD_XFAIL if q > 4 else None) for q, (lo, _) in zip(QUARTERS, COREWEAVE, strict=True)],
    *[_case(c, q, RARE) for c in ("microsoft", "alphabet", "amazon", "meta") for q in QUARTERS],
    _case("oracle", 4, 0.95),
    _case("oracle", 8, 0.90),
]


def survival(r: Run, company: str, quarter: int) -> float:
    return float(np.mean(r.trace["status"][quarter - 1, :, r.col(company)] == 0))


@pytest.mark.parametrize(("company", "quarter", "lo", "hi"), SURVIVAL_RANGES)
def test_survival_in_range(run: Run, company: str, quarter: int, lo: float, hi: float) -> None:
    """The estimate lies in the range widened by 3 binomial standard errors (n = N_PATHS): a range is a
    statement about the true probability, the estimate carries Monte Carlo error."""
    p = survival(run, company, quarter)
    tol = 3 * math.sqrt(max(p * (1 - p), 1 / N_PATHS) / N_PATHS)
    assert lo - tol <= p <= hi + tol, f"{company}: survival {p:.4f} at {quarter} quarters outside [{lo}, {hi}] +- {tol:.4f}"


def test_oracle_is_the_weakest_hyperscaler(run: Run) -> None:
    """MODEL.md: a hyperscaler fails only when net cash plus credit lines run out, "rare: Oracle is the test"."""
    oracle = survival(run, "oracle", HORIZON)
    others = {c: survival(run, c, HORIZON) for c in ("microsoft", "alphabet", "amazon", "meta")}
    assert all(oracle < p for p in others.values()), f"oracle {oracle:.4f} vs {others}"


# ------------------------------------------------------------------- the rebuilt flows are the engine's


def test_inputs_are_the_engines(run: Run) -> None:
    """Oracle's debt after quarter 1 is debt0, or debt0 less one maturity: both read from the drawn inputs."""
    j = run.col("oracle")
    debt0, tenor = run.param("oracle", "debt0"), run.param("oracle", "tenor")
    debt1 = run.trace["debt"][0, :, j]
    refinanced = np.isclose(debt1, debt0, rtol=1e-6)
    repaid = np.isclose(debt1, debt0 * (1 - DT / tenor), rtol=1e-5)
    assert np.all(refinanced | repaid)
    assert 0.5 < refinanced.mean() < 1.0


def test_rebuilt_capex_and_interest_match_burn_identity() -> None:
    """With zero shocks a hyperscaler's burn is known but for capex and interest (docs/model.md 3.5):
    ``burn = capex + opex + interest - revenue - core``."""
    r = simulate(1024, YEAR, shocks="zero")
    for company in ("microsoft", "oracle"):
        def p(name: str, company: str = company) -> np.ndarray:
            return r.param(company, name)

        j = r.col(company)
        t = np.arange(1, YEAR + 1)[:, None]
        factors = np.stack([p(f"core_regime_factor.{k}") for k in REGIMES], axis=-1)
        factor = np.take_along_axis(factors, r.trace["regime"][:YEAR].astype(int).T, axis=1).T
        core = p("core_fcf0") / 4 * np.exp(p("core_growth") * t * DT) * factor
        opex = p("ai_opex0") / 4 * np.exp(p("opex_growth") * t * DT)
        revenue, burn = r.trace["revenue"][:YEAR, :, j], r.trace["burn"][:YEAR, :, j]
        rebuilt = hyperscaler_capex(r, company, YEAR) + opex + interest(r, company, YEAR) - revenue - core
        alive = r.trace["status"][:YEAR, :, j] == 0
        scale = np.abs(burn) + revenue + core
        assert np.all(np.abs(rebuilt - burn)[alive] <= 1e-5 * scale[alive]), company
