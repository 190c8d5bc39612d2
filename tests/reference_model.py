"""Independent reference implementation of docs/model.md in plain NumPy float64.

Written from the specification alone (not from the JAX engine) so the engine can be
checked against it: equation by equation, in the order docs/model.md gives them,
vectorised over paths and companies, with a Python loop over quarters. Shocks come
from a ``numpy.random.Generator`` (statistical agreement is what is tested, not
bitwise equality), or are pinned with ``shocks="zero"``: every normal shock 0 and
every uniform 0.5, so an event happens iff its probability is above 0.5.

Readings of the specification where it leaves a choice are marked ``SPEC:``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mc_engine._paramspec import REGIMES
from mc_engine.inputs.loader import Priors

DT = 0.25
"""Length of a quarter, years."""
HOURS = 2190.0
"""Hours per quarter."""
RUNWAY_CAP = 100.0
"""Runway (quarters) reported when burn <= 0, and the clip of the reported runway."""
EPS = 1e-9
"""Floor of revenue in the smoothed revenue growth."""
GM_LO, GM_HI = -5.0, 1.0
"""Clip of gross margins."""

STATUS_ALIVE, STATUS_DEFAULTED, STATUS_ACQUIRED = 0, 1, 2
CAUSE_CASH, CAUSE_COVENANT, CAUSE_MATURITY, CAUSE_ACQUISITION = 1, 2, 3, 4

MARKET_KEYS: tuple[str, ...] = ("H", "E", "R", "C", "P", "G", "D", "U", "S", "K", "regime")
"""Market variables of a trace, each shape (T, n)."""
COMPANY_KEYS: tuple[str, ...] = (
    "cash", "debt", "burn", "revenue", "gross_margin", "runway", "status", "cause",
    "rounds", "raised", "paid_out", "down_rounds", "cumburn",
)  # fmt: skip
"""Company variables of a trace, each shape (T, n, c) in ``priors.companies`` order."""
EXTRA_KEYS: tuple[str, ...] = ("fleet", "rescues", "base")
"""Reference-only company variables (not part of the engine's trace): neocloud fleet K
(k GPUs, 0 for other kinds), strategic rescues, and a lab's compute owed to hosts ``base``
(USD bn per quarter, 0 for other kinds)."""


class _Shocks:
    """Source of quarterly shocks: a generator, or zero normals and 0.5 uniforms."""

    def __init__(self, rng: np.random.Generator, mode: str):
        if mode not in ("random", "zero"):
            raise ValueError(f"shocks must be 'random' or 'zero' (got {mode!r})")
        self.rng = rng
        self.zero = mode == "zero"

    def normal(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape) if self.zero else self.rng.standard_normal(shape)

    def uniform(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.full(shape, 0.5) if self.zero else self.rng.random(shape)


@dataclass(frozen=True)
class _Params:
    """Reads inputs by name as float64 arrays: market/funding (n,), company blocks (n, k)."""

    x: Mapping[str, np.ndarray]
    ids: tuple[str, ...]
    n: int

    def market(self, name: str) -> np.ndarray:
        return self.x[f"market.{name}"]

    def funding(self, name: str) -> np.ndarray:
        return self.x[f"funding.{name}"]

    def per_regime(self, prefix: str) -> np.ndarray:
        """(n, 3): a per-regime value, regimes in REGIMES order."""
        return np.stack([self.x[f"{prefix}.{r}"] for r in REGIMES], axis=-1)

    def company(self, name: str, idx: np.ndarray) -> np.ndarray:
        """(n, len(idx)): one company parameter for the companies ``idx``."""
        if len(idx) == 0:
            return np.zeros((self.n, 0))
        return np.stack([self.x[f"companies.{self.ids[i]}.{name}"] for i in idx], axis=-1)

    def company_regime(self, name: str, idx: np.ndarray) -> np.ndarray:
        """(n, len(idx), 3): a per-regime company parameter."""
        if len(idx) == 0:
            return np.zeros((self.n, 0, 3))
        return np.stack([self.per_regime(f"companies.{self.ids[i]}.{name}") for i in idx], axis=1)


def _pick(table: np.ndarray, regime: np.ndarray) -> np.ndarray:
    """Value of the path's regime: ``table`` (n, 3) -> (n,), or (n, k, 3) -> (n, k)."""
    if table.ndim == 2:
        return np.take_along_axis(table, regime[:, None], axis=1)[:, 0]
    return np.take_along_axis(table, regime[:, None, None], axis=2)[:, :, 0]


def _draw_regime(cdf_rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse CDF on one uniform: the first state j with u < cdf[j] (cdf rows (n, 3))."""
    # SPEC: a state is chosen iff u < its cumulative probability (a state of probability 0 is never chosen).
    return np.minimum((cdf_rows <= u[:, None]).sum(axis=1), 2)


def _ratio(num: np.ndarray, den: np.ndarray, when_zero: np.ndarray | float) -> np.ndarray:
    """num / den where den != 0, else ``when_zero`` (no floating-point warnings)."""
    out = np.broadcast_to(np.asarray(when_zero, dtype=np.float64), np.broadcast(num, den).shape).copy()
    np.divide(num, den, out=out, where=den != 0)
    return out


def _margin(revenue: np.ndarray, cost: np.ndarray) -> np.ndarray:
    # SPEC: (rev - cost) / rev is undefined for rev = 0; it reads as the bottom of the clip there.
    return np.clip(_ratio(revenue - cost, revenue, GM_LO), GM_LO, GM_HI)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def _growth_path(g0: np.ndarray, g_inf: np.ndarray, lam: np.ndarray, t: int) -> np.ndarray:
    """Planned log growth in quarter t: ``g_inf + (g0 - g_inf) exp(-lam (t-1) dt)`` (annual rate)."""
    return g_inf + (g0 - g_inf) * np.exp(-lam * (t - 1) * DT)


def simulate_reference(
    priors: Priors,
    inputs: Mapping[str, np.ndarray],
    horizon: int,
    rng: np.random.Generator,
    shocks: str = "random",
) -> dict[str, np.ndarray]:
    """Simulate ``horizon`` quarters of every path: the model of docs/model.md in float64.

    Args:
        priors: validated priors (companies, schedules, regime chain, counterparty matrix W).
        inputs: every scalar scenario input by dotted name, each shape (n,) (any float dtype).
        horizon: number of quarters T.
        rng: draws the regime uniforms and the quarterly shocks (unused when ``shocks="zero"``).
        shocks: ``"random"``, or ``"zero"`` for zero normals and uniforms of 0.5.

    Returns:
        Trace of quarters 1..T, float64. Market keys (MARKET_KEYS), shape (T, n): indices
        H, E, R, C, P, G, D, utilisation U, and ``regime`` (0 boom, 1 normal, 2 winter).
        Company keys (COMPANY_KEYS and EXTRA_KEYS), shape (T, n, c) in ``priors.companies``
        order: amounts in USD bn (flows per quarter), ``runway`` in quarters, ``status`` 0
        alive / 1 defaulted / 2 acquired; a company that has left keeps its last values.
    """
    shock = _Shocks(rng, shocks)
    x = {k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()}
    n = int(next(iter(x.values())).shape[0])
    ids = priors.company_ids
    kinds = np.array([co.kind for co in priors.companies])
    c = len(ids)
    p = _Params(x, ids, n)
    every = np.arange(c)
    li, ni, hi = (np.flatnonzero(kinds == k) for k in ("lab", "neocloud", "hyperscaler"))
    w = np.asarray(priors.counterparty, dtype=np.float64)  # (c, c): client i -> host j
    sqdt = np.sqrt(DT)

    # ---- market parameters, (n,) or (n, 3) per regime
    # Trend rates (model v2): today's value, long-run value, reversion speed, volatility of the rate.
    trend_names = ("hardware_decline", "algo_gain", "reasoning_growth", "price_war_drift")
    trend = {nm: tuple(p.market(f"{nm}{sfx}") for sfx in ("_inf", "_speed", "_rate_vol")) for nm in trend_names}
    s_h, s_a, s_r = p.market("hardware_vol"), p.market("algo_vol"), p.market("reasoning_vol")
    pass_through, war, s_p = p.market("price_pass_through"), p.per_regime("market.price_war"), p.market("price_vol")
    price_floor, floor_speed = p.market("price_floor"), p.market("price_floor_speed")
    markup, k_m, s_g = p.per_regime("market.rent_markup"), p.market("rent_markup_speed"), p.market("rental_vol")
    g_0, g_inf, lam = p.market("demand_growth0"), p.market("demand_growth_inf"), p.market("demand_growth_decay")
    shift, elast, s_d = p.per_regime("market.demand_shift"), p.market("price_elasticity"), p.market("demand_vol")
    s_max, modelled_share = p.market("spend_ceiling"), p.market("modelled_share")
    c_0, c_inf, c_lam = p.market("capacity_growth0"), p.market("capacity_growth_inf"), p.market("capacity_growth_decay")
    k_response, u_gap = p.market("capacity_response"), p.market("utilisation_gap")
    u_0, u_mean = p.market("utilisation0"), p.market("utilisation_mean")
    kappa, ushift, s_u = p.market("utilisation_speed"), p.per_regime("market.utilisation_shift"), p.market("utilisation_vol")

    # ---- funding parameters
    raise_prob, round_size = p.per_regime("funding.raise_prob"), p.per_regime("funding.round_size")
    valuation, credit_spread = p.per_regime("funding.valuation"), p.per_regime("funding.credit_spread")
    refinance_prob = p.per_regime("funding.refinance_prob")
    base_rate, growth_sens = p.funding("base_rate"), p.funding("growth_sensitivity")
    round_capacity = p.funding("round_capacity")

    # ---- company parameters common to every kind, (n, c)
    def common(name: str) -> np.ndarray:
        return p.company(name, every)

    rate_spread, tenor = common("rate_spread"), common("tenor")
    raise_trigger, min_gap, target_runway = common("raise_trigger_q"), common("min_gap_q"), common("target_runway_q")
    round_sigma, raise_odds, revenue_multiple = common("round_size_sigma"), common("raise_odds"), common("revenue_multiple")
    rescue_prob, acquire_prob = common("rescue_prob"), common("acquire_prob")
    rescue_capacity, acquire_runway = common("rescue_capacity"), common("acquire_runway_q")
    cash0, payout_rate, cash_target = common("cash0"), common("payout_rate"), common("cash_target_q")
    credit_line = np.zeros((n, c))
    credit_line[:, hi] = p.company("credit_line", hi)
    bond = np.zeros(c, dtype=bool)  # investment-grade issuers: hyperscalers
    bond[hi] = True
    bond_access = np.zeros((n, c))
    bond_access[:, hi] = p.company("bond_access", hi)
    eps_provider = p.market("provider_elasticity")

    # ---- lab parameters, (n, labs)
    lab = {k: p.company(k, li) for k in (
        "revenue0", "compute_margin0", "share_drift", "share_vol", "training0", "training_growth0",
        "training_growth_inf", "training_growth_decay", "training_cut", "cut_runway_q", "opex0", "training_revenue_cap",
        "opex_growth", "commitment_realisation", "commitment_renewal", "reprice_speed", "reprice_max")}  # fmt: skip
    schedules = [priors.schedules[f"companies.{ids[i]}.commitments"] for i in li]

    # ---- neocloud parameters, (n, neoclouds)
    neo = {k: p.company(k, ni) for k in (
        "fleet0", "fleet_growth0", "fleet_growth_inf", "fleet_growth_decay", "gpu_price0", "useful_life",
        "contract_share0", "contract_tau", "new_contract_share", "contract_price", "spot_price0",
        "power_cost", "gpu_opex", "opex0", "opex_growth", "debt_share", "max_leverage", "covenant_quarters",
        "refinance_headroom", "capex_committed")}  # fmt: skip

    # ---- hyperscaler parameters, (n, hyperscalers)
    hyp = {k: p.company(k, hi) for k in (
        "core_fcf0", "core_growth", "core_vol", "ai_revenue0", "ai_compute_margin0", "own_chip_discount",
        "share_drift", "share_vol", "ai_capex0", "ai_capex_growth0", "ai_capex_growth_inf",
        "ai_capex_growth_decay", "capex_discipline", "ai_opex0", "opex_growth", "capex_liquidity_draw",
        "reprice_speed", "reprice_max")}  # fmt: skip
    core_regime_factor = p.company_regime("core_regime_factor", hi)

    # ---- market state at as_of
    ln_h = np.zeros(n)
    ln_e = np.zeros(n)
    ln_r = np.zeros(n)
    ln_c = np.zeros(n)
    ln_p = np.zeros(n)
    ln_m = np.zeros(n)  # log rent markup G / H
    ln_d = np.zeros(n)
    ln_k = np.zeros(n)  # log installed capacity
    rates = {nm: p.market(nm).copy() for nm in trend_names}  # trend rates in force, today's at as_of
    x_u = _logit(u_0)
    regime = _draw_regime(np.broadcast_to(np.cumsum(priors.regime_initial), (n, 3)), shock.uniform((n,)))
    cdf_transition = np.cumsum(np.asarray(priors.regime_transition, dtype=np.float64), axis=1)

    # ---- company state at as_of, (n, c) unless noted
    cash, debt = common("cash0").copy(), common("debt0").copy()
    status = np.zeros((n, c), dtype=np.int64)
    cause = np.zeros((n, c), dtype=np.int64)
    zeros = np.zeros((n, c))
    rounds, raised, paid_out, down_rounds, rescues, cumburn, rescued_amt = (zeros.copy() for _ in range(7))
    premium = zeros.copy()  # log price premium over the market (labs, hyperscalers)
    burn, revenue, gross_margin, base = (zeros.copy() for _ in range(4))
    runway = np.full((n, c), RUNWAY_CAP)
    age = common("last_round_age0").copy()
    v_last = common("valuation0").copy()
    gq = zeros.copy()
    ln_share = zeros.copy()  # labs and hyperscalers
    fleet = zeros.copy()
    fleet[:, ni] = neo["fleet0"]
    contracted = zeros.copy()
    contracted[:, ni] = neo["contract_share0"] * neo["fleet0"]
    book = zeros.copy()
    book[:, ni] = contracted[:, ni] * neo["contract_price"]
    power_book = zeros.copy()  # power cost of the installed fleet, k GPU x USD/hr, by vintage
    power_book[:, ni] = neo["fleet0"] * (neo["power_cost"] + neo["gpu_opex"])
    breach = zeros.copy()
    ebitda_ltm = zeros.copy()  # neoclouds: trailing EBITDA, annual
    ln_core = zeros.copy()
    g_train = np.zeros((n, len(li)))  # Gt_t, cumulative log growth of the training plan
    g_capex = np.zeros((n, len(hi)))  # Gx_t, cumulative log growth of the capex plan
    client_share = zeros.copy()  # c_j, fixed at quarter 1

    # revenue at as_of (all indices at 1) for the smoothed growth
    # SPEC: for hosts rev_0 is their own modelled revenue at as_of (flow_0 is undefined: no commit_0).
    rev_prev = zeros.copy()
    rev_prev[:, li] = lab["revenue0"] / 4
    rev_prev[:, ni] = HOURS * (book[:, ni] + (fleet[:, ni] - contracted[:, ni]) * u_0[:, None]
                               * neo["spot_price0"]) / 1e6
    rev_prev[:, hi] = hyp["ai_revenue0"] / 4

    trace: dict[str, list[np.ndarray]] = {k: [] for k in (*MARKET_KEYS, *COMPANY_KEYS, *EXTRA_KEYS)}

    for t in range(1, horizon + 1):
        tau = t * DT
        alive = status == STATUS_ALIVE  # alive_{t-1}
        left = ~alive

        # ---- 1. regime k_t
        regime = _draw_regime(cdf_transition[regime], shock.uniform((n,)))
        k = regime

        # ---- 2. market block (model v2): levels move at the rates in force, then the rates revert
        h, a, r, w_drift = (rates[nm] for nm in trend_names)
        ln_h_new = ln_h - h * DT + s_h * sqdt * shock.normal((n,))
        ln_e_new = ln_e - a * DT + s_a * sqdt * shock.normal((n,))
        ln_r_new = ln_r + r * DT + s_r * sqdt * shock.normal((n,))
        ln_c_new = ln_h_new + ln_e_new + ln_r_new
        below = np.maximum(price_floor - (ln_p - ln_c), 0.0)  # price under the floor relative to cost
        d_ln_p = (pass_through * (ln_c_new - ln_c) - (w_drift + _pick(war, k)) * DT + floor_speed * DT * below
                  + s_p * sqdt * shock.normal((n,)))
        ln_p_new = ln_p + d_ln_p
        ln_m = ln_m + k_m * DT * (_pick(markup, k) - ln_m) + s_g * sqdt * shock.normal((n,))
        # spend S = D P: positive pushes (growth, price response) damped by 1 - S/S_max, clipped to [-1, 1]
        push = (_growth_path(g_0, g_inf, lam, t) + _pick(shift, k)) * DT + (1 - elast) * d_ln_p
        damp = np.clip(1 - np.exp(ln_d + ln_p) / s_max, -1, 1)
        ln_spend = ln_d + ln_p + np.where(push > 0, push * damp, push) + s_d * sqdt * shock.normal((n,))
        ln_d_new = ln_spend - ln_p_new
        # capacity: build-out plan plus a response to last quarter's gap between compute demanded and capacity
        ln_k_new = ln_k + (_growth_path(c_0, c_inf, c_lam, t) + k_response * (ln_d + ln_e + ln_r - ln_k)) * DT
        target = _logit(u_mean) + _pick(ushift, k) + u_gap * (ln_d_new + ln_e_new + ln_r_new - ln_k_new)
        x_u = x_u + kappa * DT * (target - x_u) + s_u * sqdt * shock.normal((n,))
        for nm in trend_names:
            inf, speed, vol = trend[nm]
            rates[nm] = inf + (rates[nm] - inf) * np.exp(-speed * DT) + vol * sqdt * shock.normal((n,))
        ln_h, ln_e, ln_r, ln_c, ln_p, ln_d, ln_k = ln_h_new, ln_e_new, ln_r_new, ln_c_new, ln_p_new, ln_d_new, ln_k_new
        H, E, R, C, P, D, K = (np.exp(v) for v in (ln_h, ln_e, ln_r, ln_c, ln_p, ln_d, ln_k))
        G = np.exp(ln_h + ln_m)
        U = 1 / (1 + np.exp(-x_u))
        util_ratio = u_0 / U

        # ---- 3.1 debt, every kind
        rate = base_rate[:, None] + _pick(credit_spread, k)[:, None] + rate_spread
        interest = debt * rate * DT
        due = debt * DT / tenor
        p_refinance = np.where(bond, bond_access, _pick(refinance_prob, k)[:, None])
        refinanced = shock.uniform((n, c)) < p_refinance
        # GPU-backed neocloud debt is refinanced only up to headroom x debt0 x (fleet H) / fleet0
        cap = np.full((n, c), np.inf)
        cap[:, ni] = neo["refinance_headroom"] * common("debt0")[:, ni] * fleet[:, ni] * H[:, None] / neo["fleet0"]
        kept = debt - due
        rolled = np.where(refinanced, np.clip(cap - kept, 0.0, due), 0.0)
        repaid = due - rolled
        debt_new = kept + rolled

        burn_new, revenue_new, gm_new = zeros.copy(), zeros.copy(), zeros.copy()
        covenant_default = np.zeros((n, c), dtype=bool)

        # ---- shares (labs and hyperscalers), one shock per company
        z_share = shock.normal((n, c))
        ln_share_new = ln_share.copy()
        ln_share_new[:, li] = ln_share[:, li] + lab["share_drift"] * DT + lab["share_vol"] * sqdt * z_share[:, li]
        ln_share_new[:, hi] = ln_share[:, hi] + hyp["share_drift"] * DT + hyp["share_vol"] * sqdt * z_share[:, hi]
        # shares of market spend: weights rev0 * s of live spenders against the rest of the market (3.0)
        spenders = np.concatenate([li, hi])
        weight0 = np.concatenate([lab["revenue0"], hyp["ai_revenue0"]], axis=1)
        total0 = weight0.sum(axis=1)
        n_0 = total0 / modelled_share
        n_t = n_0 - total0 + (weight0 * np.exp(ln_share_new[:, spenders]) * alive[:, spenders]).sum(axis=1)
        share = np.exp(ln_share_new) * (n_0 / n_t)[:, None]

        # ---- 3.2 labs
        s_lab = share[:, li]
        # repricing (3.0): move the premium toward clip(ln cost_ratio, 0, max) at min(speed dt, 1)
        ratio_lab = (1 - lab["compute_margin0"]) * (C * util_ratio / P)[:, None]
        target = np.clip(np.log(np.maximum(ratio_lab, 1e-30)), 0.0, lab["reprice_max"])  # SPEC: margin0 >= 1: no premium
        premium_new = premium.copy()
        premium_new[:, li] = premium[:, li] + np.minimum(lab["reprice_speed"] * DT, 1.0) * (target - premium[:, li])
        volume_lab = lab["revenue0"] / 4 * D[:, None] * s_lab * np.exp(-eps_provider[:, None] * premium_new[:, li])
        rev_lab = volume_lab * P[:, None] * np.exp(premium_new[:, li])
        serve_lab = volume_lab * P[:, None] * ratio_lab
        g_train = g_train + _growth_path(lab["training_growth0"], lab["training_growth_inf"],
                                         lab["training_growth_decay"], t) * DT
        train_plan = lab["training0"] / 4 * np.exp(g_train)
        train = (np.minimum(train_plan, lab["training_revenue_cap"] * rev_lab)
                 * np.where(runway[:, li] < lab["cut_runway_q"], lab["training_cut"], 1.0))
        opex_lab = lab["opex0"] / 4 * np.exp(lab["opex_growth"] * tau)
        # commitments: linear between year centres; after the schedule, commitment_renewal x its last year
        x_year = max((t - 0.5) / 4 - 0.5, 0.0)
        i_year, frac = int(math.floor(x_year)), x_year - math.floor(x_year)

        def level(j: int) -> np.ndarray:
            return np.stack([np.full(n, sch[j]) if j < len(sch) else lab["commitment_renewal"][:, m] * (sch[-1] if sch else 0.0)
                             for m, sch in enumerate(schedules)], axis=-1) if schedules else np.zeros((n, 0))

        commit = lab["commitment_realisation"] * (level(i_year) + frac * (level(i_year + 1) - level(i_year))) / 4
        need = serve_lab + train
        base_lab = np.maximum(need, commit)
        w_dead = (left.astype(np.float64) @ w.T)[:, li]  # sum_j W[i, j] 1[host j has left by t-1]
        spend = base_lab * (1 - w_dead) + need * w_dead * G[:, None]
        burn_new[:, li] = spend + opex_lab + interest[:, li] - rev_lab
        revenue_new[:, li] = rev_lab
        gm_new[:, li] = _margin(rev_lab, serve_lab)

        # ---- 3.3 counterparty flows: live clients pay base_t, left clients' last payment is recovered at spot
        base_new = zeros.copy()
        base_new[:, li] = base_lab
        base_now = np.where(alive, base_new, base)  # a client that has left keeps its last payment base_last
        flow = (base_now * alive) @ w
        lost = (base_now * left) @ w

        own = zeros.copy()
        rho = zeros.copy()

        # ---- 3.4 neoclouds: fleet and own revenue
        life = neo["useful_life"]
        growth_k = _growth_path(neo["fleet_growth0"], neo["fleet_growth_inf"], neo["fleet_growth_decay"], t)
        plan = fleet[:, ni] * (np.exp(growth_k * DT) - 1 + DT / life)
        gpu_price = neo["gpu_price0"] * H[:, None]
        capex_star = plan * gpu_price / 1000
        equity_need = (1 - neo["debt_share"]) * capex_star
        # SPEC: with nothing to pay from equity (need 0) the plan goes ahead iff cash_{t-1} >= 0.
        afford = np.clip(_ratio(cash[:, ni], equity_need, np.where(cash[:, ni] >= 0, 1.0, 0.0)), 0, 1)
        scale = neo["capex_committed"] + (1 - neo["capex_committed"]) * afford  # committed share bought regardless
        new_gpus = plan * scale
        capex_neo = capex_star * scale
        draw = neo["debt_share"] * capex_neo
        fleet_new = fleet.copy()
        contracted_new = contracted.copy()
        book_new = book.copy()
        power_book_new = power_book.copy()
        keep = (1 - DT / life) * np.exp(-DT / neo["contract_tau"])
        fleet_new[:, ni] = fleet[:, ni] * (1 - DT / life) + new_gpus
        contracted_new[:, ni] = contracted[:, ni] * keep + neo["new_contract_share"] * new_gpus
        book_new[:, ni] = (book[:, ni] * keep
                           + neo["new_contract_share"] * new_gpus * neo["contract_price"] * G[:, None])
        power_book_new[:, ni] = (power_book[:, ni] * (1 - DT / life)
                                 + new_gpus * (neo["power_cost"] + neo["gpu_opex"]) * H[:, None])
        own[:, ni] = HOURS * (book_new[:, ni] + (fleet_new[:, ni] - contracted_new[:, ni]) * U[:, None]
                              * neo["spot_price0"] * G[:, None]) / 1e6
        rho[:, ni] = np.clip((U * G)[:, None] * neo["spot_price0"] / neo["contract_price"], 0, 1)

        # ---- 3.5 hyperscalers: core cash flow and own AI revenue
        ln_core_new = ln_core.copy()
        ln_core_new[:, hi] = ln_core[:, hi] + hyp["core_growth"] * DT + hyp["core_vol"] * sqdt * shock.normal((n, len(hi)))
        core = hyp["core_fcf0"] / 4 * np.exp(ln_core_new[:, hi]) * _pick(core_regime_factor, k)
        s_hyp = share[:, hi]
        ratio_hyp = (1 - hyp["ai_compute_margin0"]) * (1 - hyp["own_chip_discount"]) * (C * util_ratio / P)[:, None]
        target = np.clip(np.log(np.maximum(ratio_hyp, 1e-30)), 0.0, hyp["reprice_max"])
        premium_new[:, hi] = premium[:, hi] + np.minimum(hyp["reprice_speed"] * DT, 1.0) * (target - premium[:, hi])
        volume_hyp = hyp["ai_revenue0"] / 4 * D[:, None] * s_hyp * np.exp(-eps_provider[:, None] * premium_new[:, hi])
        own[:, hi] = volume_hyp * P[:, None] * np.exp(premium_new[:, hi])
        serve_hyp = volume_hyp * P[:, None] * ratio_hyp
        rho[:, hi] = np.clip(U * G, 0, 1)[:, None]

        # ---- 3.3 host revenue
        if t == 1:
            # SPEC: c_j = flow_1 / own_1 with own_1 = 0 reads as 1 when clients pay something, else 0.
            client_share = np.clip(_ratio(flow, own, np.where(flow > 0, 1.0, 0.0)), 0, 1)
            client_share[:, li] = 0.0
        host_revenue = own * (1 - client_share) + flow + rho * lost

        # ---- 3.4 neoclouds: costs, debt, covenant
        rev_neo = host_revenue[:, ni]
        power = HOURS * power_book_new[:, ni] / 1e6
        opex_neo = neo["opex0"] / 4 * np.exp(neo["opex_growth"] * tau)
        ebitda = rev_neo - power - opex_neo
        burn_new[:, ni] = power + opex_neo + interest[:, ni] + capex_neo - draw - rev_neo
        debt_new[:, ni] = debt_new[:, ni] + draw
        revenue_new[:, ni] = rev_neo
        gm_new[:, ni] = _margin(rev_neo, power)
        # covenant: debt above max_leverage x 4 EBITDA is first prepaid from cash beyond one quarter of costs
        # trailing EBITDA: 4 ebitda_1 in quarter 1, then ltm' = ltm + (4 ebitda - ltm) / 4
        ebitda_ltm_new = ebitda_ltm.copy()
        ebitda_ltm_new[:, ni] = 4 * ebitda if t == 1 else ebitda_ltm[:, ni] + (4 * ebitda - ebitda_ltm[:, ni]) / 4
        limit = neo["max_leverage"] * np.maximum(ebitda_ltm_new[:, ni], 0.0)
        spare = np.maximum(cash[:, ni] - repaid[:, ni] - burn_new[:, ni] - (power + opex_neo), 0.0)
        cure = np.zeros((n, c))
        cure[:, ni] = np.minimum(np.maximum(debt_new[:, ni] - limit, 0.0), spare)
        debt_new[:, ni] = debt_new[:, ni] - cure[:, ni]
        breached_neo = debt_new[:, ni] > limit
        breached = np.zeros((n, c), dtype=bool)
        breached[:, ni] = breached_neo
        breach_new = breach.copy()
        breach_new[:, ni] = np.where(breached_neo, breach[:, ni] + 1, 0.0)
        covenant_default[:, ni] = breach_new[:, ni] >= neo["covenant_quarters"]

        # ---- 3.5 hyperscalers: capex with discipline, burn
        rev_hyp = host_revenue[:, hi]
        g_capex = g_capex + _growth_path(hyp["ai_capex_growth0"], hyp["ai_capex_growth_inf"],
                                         hyp["ai_capex_growth_decay"], t) * DT
        capex_plan = hyp["ai_capex0"] / 4 * np.exp(g_capex)
        plan_revenue = hyp["ai_revenue0"] / 4 * np.exp(g_capex)  # X_t / X_0 = exp(Gx_t)
        capex_hyp = capex_plan * np.minimum(1.0, _ratio(rev_hyp, plan_revenue, 1.0)) ** hyp["capex_discipline"]
        opex_hyp = hyp["ai_opex0"] / 4 * np.exp(hyp["opex_growth"] * tau)
        # capped by the quarter's own cash flow plus a share of liquidity at the start of the quarter
        internal = core + rev_hyp - opex_hyp - interest[:, hi]
        liquid = np.maximum(cash[:, hi] - repaid[:, hi] + credit_line[:, hi], 0.0)
        capex_hyp = np.minimum(capex_hyp, np.maximum(internal, 0.0) + hyp["capex_liquidity_draw"] * liquid)
        burn_new[:, hi] = capex_hyp + opex_hyp + interest[:, hi] - rev_hyp - core
        revenue_new[:, hi] = rev_hyp
        gm_new[:, hi] = _margin(rev_hyp, serve_hyp)

        # ---- 4. funding, exits and ruin (runway counts the principal falling due with the burn)
        cash_flow = cash - burn_new - repaid - cure
        outflow = burn_new + due  # liquidity cover: burn plus principal falling due, refinanced or not
        positive_burn = outflow > 0
        runway_pre = np.where(positive_burn, _ratio(cash_flow + credit_line, outflow, RUNWAY_CAP), RUNWAY_CAP)
        gq_new = 0.5 * gq + 0.5 * np.log(np.maximum(revenue_new, EPS) / np.maximum(rev_prev, EPS))
        attempt = (runway_pre < raise_trigger) | breached
        gap = np.clip((age + 1) / np.maximum(min_gap, EPS), 0.0, 1.0)  # bridge rounds inside the minimum gap
        with np.errstate(over="ignore"):
            odds = np.exp(growth_sens[:, None] * 4 * gq_new)
        p_equity = _pick(raise_prob, k)[:, None] * raise_odds * odds
        p_success = np.clip(np.where(bond, bond_access, p_equity) * gap, 0, 1)
        u_raise, z_round = shock.uniform((n, c)), shock.normal((n, c))
        u_rescue, u_acquire = shock.uniform((n, c)), shock.uniform((n, c))
        success = attempt & (u_raise < p_success)
        m_round = np.where(bond, 1.0, _pick(round_size, k)[:, None])
        size = target_runway * np.maximum(outflow, 0) * m_round * np.exp(round_sigma * z_round - round_sigma**2 / 2)
        size = np.where(bond, size, np.minimum(size, round_capacity[:, None] * m_round))  # SPEC: bonds uncapped
        value = revenue_multiple * _pick(valuation, k)[:, None] * 4 * revenue_new
        down = success & (value < v_last)
        room = np.maximum(rescue_capacity - rescued_amt, 0.0)
        rescued = attempt & ~success & (gap >= 1) & (room > 0) & (u_rescue < rescue_prob)
        amount = np.where(success, size, np.where(rescued, np.minimum(size, room), 0.0))
        funded = success | rescued
        cash_new = cash_flow + amount
        liquidity = cash_new + credit_line
        runway_post = np.where(positive_burn, _ratio(np.maximum(liquidity, 0.0), outflow, RUNWAY_CAP), RUNWAY_CAP)
        hazard = acquire_prob * np.exp(-runway_post / acquire_runway)
        acquired = ~bond & ~funded & (u_acquire < hazard)
        defaulted = ~acquired & ((liquidity < 0) | covenant_default)
        status_new = np.where(acquired, STATUS_ACQUIRED, np.where(defaulted, STATUS_DEFAULTED, STATUS_ALIVE))
        maturity = (repaid > 0) & (liquidity + repaid >= 0)
        cause_new = np.where(acquired, CAUSE_ACQUISITION, np.where(~defaulted, 0, np.where(
            covenant_default, CAUSE_COVENANT, np.where(maturity, CAUSE_MATURITY, CAUSE_CASH))))
        runway_new = np.clip(np.where(positive_burn, _ratio(liquidity, outflow, RUNWAY_CAP), RUNWAY_CAP),
                             0, RUNWAY_CAP)
        # payout: a company generating cash after the principal due returns part of the cash above its target
        target = np.maximum(cash0, cash_target * np.maximum(revenue_new + burn_new, 0.0))
        pays = ~positive_burn & ~funded & ~acquired & ~defaulted
        payout = np.where(pays, payout_rate * np.maximum(cash_new - target, 0.0), 0.0)
        cash_new = cash_new - payout

        # ---- commit for companies alive at the start of the quarter; the others keep their values
        def upd(new: np.ndarray, old: np.ndarray, alive: np.ndarray = alive) -> np.ndarray:
            return np.where(alive, new, old)

        cash, debt, status = upd(cash_new, cash), upd(debt_new, debt), upd(status_new, status)
        cause = upd(cause_new, cause)
        premium = upd(premium_new, premium)
        rescued_amt = upd(rescued_amt + np.where(rescued, amount, 0.0), rescued_amt)
        # Flows of a company that has left are zero from the quarter after it left (docs/model.md section 3).
        burn, revenue, gross_margin = (np.where(alive, x, 0.0) for x in (burn_new, revenue_new, gm_new))
        runway, base = upd(runway_new, runway), base_now
        rounds = upd(rounds + success, rounds)
        raised = upd(raised + amount, raised)
        paid_out = upd(paid_out + payout, paid_out)
        down_rounds = upd(down_rounds + down, down_rounds)
        rescues = upd(rescues + rescued, rescues)
        cumburn = upd(cumburn + burn_new, cumburn)
        v_last = upd(np.where(success, value, v_last), v_last)
        age = upd(np.where(funded, 0.0, age + 1), age)
        gq, rev_prev = upd(gq_new, gq), upd(revenue_new, rev_prev)
        ln_share, ln_core = upd(ln_share_new, ln_share), upd(ln_core_new, ln_core)
        fleet, contracted, book = upd(fleet_new, fleet), upd(contracted_new, contracted), upd(book_new, book)
        power_book = upd(power_book_new, power_book)
        breach = upd(breach_new, breach)
        ebitda_ltm = upd(ebitda_ltm_new, ebitda_ltm)

        market = {"H": H, "E": E, "R": R, "C": C, "P": P, "G": G, "D": D, "U": U, "S": D * P, "K": K,
                  "regime": regime}
        company = {
            "cash": cash, "debt": debt, "burn": burn, "revenue": revenue, "gross_margin": gross_margin,
            "runway": runway, "status": status, "cause": cause, "rounds": rounds, "raised": raised, "paid_out": paid_out,
            "down_rounds": down_rounds, "cumburn": cumburn, "fleet": fleet, "rescues": rescues, "base": base,
        }  # fmt: skip
        for key, val in (*market.items(), *company.items()):
            trace[key].append(np.asarray(val, dtype=np.float64).copy())

    return {key: np.stack(vals) for key, vals in trace.items()}
