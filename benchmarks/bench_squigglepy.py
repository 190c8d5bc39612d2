"""Peer benchmark: one lab's cash runway in squigglepy and in the engine, timed in one process.

The case (``benchmarks/one_lab_runway.toml``) is the simplest one squigglepy can express: one lab, no
regime, no funding, no debt; its market share and the hardware cost of compute follow lognormal random
walks. Per quarter ``t`` (``dt = 0.25`` yr; amounts USD bn per quarter), from docs/model.md 3.2 and 4
with every other index held at 1:

    s_t     = s_{t-1} exp(share_drift dt + share_vol sqrt(dt) z_s)             (s_0 = 1)
    H_t     = H_{t-1} exp(-hardware_decline dt + hardware_vol sqrt(dt) z_h)    (H_0 = 1)
    rev_t   = revenue0/4 s_t
    serve_t = revenue0/4 (1 - compute_margin0) s_t H_t
    train_t = training0/4 exp(sum_{q<=t} [g_inf + (g_0 - g_inf) exp(-lam (q-1) dt)] dt)
    opex_t  = opex0/4 exp(opex_growth t dt)
    cash_t  = cash_{t-1} - (serve_t + train_t + opex_t - rev_t)               (cash_0 = cash0)

and the lab defaults, for good, in the first quarter with ``cash_t < 0``. Survival by quarter is the
share of paths not yet defaulted. Throughput is in company-path-quarters per second (cpq/s), as in
:mod:`benchmarks.bench`. squigglepy is imported only inside the functions that use it.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mc_engine.model.state import DT

if TYPE_CHECKING:
    import xarray as xr

CASE = Path(__file__).resolve().with_name("one_lab_runway.toml")
LAB = "lab"
"""Company id of the lab in the case file."""
LAB_PARAMS: tuple[str, ...] = (
    "cash0", "revenue0", "compute_margin0", "share_drift", "share_vol", "training0", "training_growth0",
    "training_growth_inf", "training_growth_decay", "opex0", "opex_growth",
)
MARKET_PARAMS: tuple[str, ...] = ("hardware_decline", "hardware_vol")


def case_params(path: str | Path = CASE) -> dict[str, float]:
    """The point values of the case file that the reduced equations use (see the module docstring).

    Raises:
        ValueError: if one of them is not a point value (the squigglepy model has no parameter uncertainty).
    """
    from mc_engine.inputs.loader import load_priors

    priors = load_priors(path)
    names = {**{p: f"companies.{LAB}.{p}" for p in LAB_PARAMS}, **{p: f"market.{p}" for p in MARKET_PARAMS}}
    uncertain = [full for full in names.values() if not priors.inputs[full].is_point]
    if uncertain:
        raise ValueError(f"{path}: the squigglepy case needs point values; uncertain: {', '.join(uncertain)}")
    return {p: float(priors.inputs[full].dist.params[0]) for p, full in names.items()}


def squigglepy_runway(n_paths: int, horizon: int, params: dict[str, float], seed: int = 0) -> np.ndarray:
    """Survival by quarter, shape (horizon,), of the case written idiomatically in squigglepy.

    ``model()`` walks one path quarter by quarter, drawing each quarter's lognormal growth factors of
    share and hardware cost with ``~dist``, and returns the quarter the lab defaults in (``horizon + 1``
    when it survives); ``sq.sample(model, n=n_paths)`` runs it once per path.

    Args:
        n_paths: paths sampled.
        horizon: quarters simulated.
        params: the case's numbers, from :func:`case_params`.
        seed: squigglepy's RNG seed.
    """
    import squigglepy as sq

    p = params
    share_growth = sq.lognorm(norm_mean=p["share_drift"] * DT, norm_sd=p["share_vol"] * math.sqrt(DT))
    cost_growth = sq.lognorm(norm_mean=-p["hardware_decline"] * DT, norm_sd=p["hardware_vol"] * math.sqrt(DT))
    revenue0 = p["revenue0"] / 4

    def model() -> int:
        cash, share, hardware, training_log_growth = p["cash0"], 1.0, 1.0, 0.0
        for t in range(1, horizon + 1):
            share *= ~share_growth
            hardware *= ~cost_growth
            revenue = revenue0 * share
            serve = revenue0 * (1 - p["compute_margin0"]) * share * hardware
            g_0, g_inf, lam = p["training_growth0"], p["training_growth_inf"], p["training_growth_decay"]
            training_log_growth += DT * (g_inf + (g_0 - g_inf) * math.exp(-lam * (t - 1) * DT))
            train = p["training0"] / 4 * math.exp(training_log_growth)
            opex = p["opex0"] / 4 * math.exp(p["opex_growth"] * t * DT)
            cash -= serve + train + opex - revenue
            if cash < 0:
                return t
        return horizon + 1

    sq.set_seed(seed)
    default_quarter = np.asarray(sq.sample(model, n=n_paths))
    return (default_quarter[:, None] > np.arange(1, horizon + 1)).mean(axis=0)


def engine_runway(n_paths: int, horizon: int, seed: int = 0, path: str | Path = CASE) -> np.ndarray:
    """Survival by quarter, shape (horizon,), of the case run through :func:`mc_engine.simulate`."""
    return _survival(_simulate_case(n_paths, horizon, seed, path))


def _simulate_case(n_paths: int, horizon: int, seed: int = 0, path: str | Path = CASE) -> xr.Dataset:
    """The engine's Dataset of the case (imports JAX lazily, like :mod:`benchmarks.bench`)."""
    from mc_engine import simulate

    return simulate(path, n_paths, seed, horizon)


def _survival(ds: xr.Dataset) -> np.ndarray:
    """The lab's ``survival_prob`` by quarter, float64."""
    return ds["survival_prob"].sel(company=LAB).values.astype(np.float64)


def survival_diff_se(a: np.ndarray, n_a: int, b: np.ndarray, n_b: int) -> np.ndarray:
    """Binomial standard error of ``a - b`` for two survival curves from ``n_a`` and ``n_b`` paths under
    equal survival: ``sqrt(p (1 - p) (1 / n_a + 1 / n_b))``, pooled ``p = (n_a a + n_b b) / (n_a + n_b)``."""
    p = (n_a * a + n_b * b) / (n_a + n_b)
    return np.sqrt(p * (1 - p) * (1 / n_a + 1 / n_b))


def run_case(n_squiggle: int = 2_000, n_engine: int = 100_000, horizon: int = 24) -> dict[str, Any]:
    """Time both implementations of the case and check that they agree.

    The engine is timed by the wall time of its second :func:`mc_engine.simulate` call (the first
    compiles), squigglepy by the wall time of its one call: both from parameters to survival curve.
    ``steady_s`` is the engine's own steady-state time of that call as :mod:`benchmarks.bench` reports it
    (the chunked scan and its reductions; the sketch pilot and the Dataset assembly excluded). Both count
    ``paths x horizon`` company-path-quarters; squigglepy's model stops a path when it defaults, so it does
    less work than that and the ratio is, if anything, in squigglepy's favour. Agreement: the largest
    |survival difference| over quarters and its binomial standard error (:func:`survival_diff_se`).

    Returns:
        ``squigglepy`` and ``engine`` (paths, seconds, cpq_per_s, survival at the horizon; the engine's
        ``steady_s`` too), ``speed_ratio`` (engine cpq/s over squigglepy's), ``survival_max_abs_diff``,
        ``survival_diff_se`` and ``survival_diff_quarter`` (1-based).
    """
    from importlib.metadata import version

    params = case_params()
    start = time.perf_counter()
    peer = squigglepy_runway(n_squiggle, horizon, params)
    peer_s = time.perf_counter() - start
    _simulate_case(n_engine, horizon)  # compile
    start = time.perf_counter()
    ds = _simulate_case(n_engine, horizon)
    engine_s = time.perf_counter() - start
    engine = _survival(ds)

    diff = np.abs(peer - engine)
    q = int(np.argmax(diff))
    se = float(survival_diff_se(peer, n_squiggle, engine, n_engine)[q])
    cpq_peer, cpq_engine = n_squiggle * horizon / peer_s, n_engine * horizon / engine_s
    return {
        "case": CASE.name, "horizon": horizon, "squigglepy_version": version("squigglepy"),
        "squigglepy": {"paths": n_squiggle, "seconds": peer_s, "cpq_per_s": cpq_peer,
                       "survival_at_horizon": float(peer[-1])},
        "engine": {"paths": n_engine, "seconds": engine_s, "cpq_per_s": cpq_engine,
                   "steady_s": ds.attrs["run_seconds"], "survival_at_horizon": float(engine[-1])},
        "speed_ratio": cpq_engine / cpq_peer,
        "survival_max_abs_diff": float(diff[q]), "survival_diff_se": se, "survival_diff_quarter": q + 1,
    }
