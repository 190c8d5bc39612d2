"""The JAX engine against the independent NumPy reference (tests/reference_model.py).

With pinned shocks (normals 0, uniforms 0.5) both are deterministic and must agree
to float32 precision on every variable, every quarter. With random shocks they draw
different numbers, so their distributions are compared: survival (and default /
acquisition) curves within 4 combined binomial standard errors, and medians within
4.5 combined standard errors of a sample median (order-statistic estimate).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np
import pytest
from conftest import BASELINE
from reference_model import COMPANY_KEYS, MARKET_KEYS, simulate_reference
from test_reference_hand import hand_tree, write_priors

from mc_engine.engine.sampler import compile_sampler
from mc_engine.engine.trace import trace_paths
from mc_engine.inputs.loader import Priors, load_priors

SEED = 20260630
N_RANDOM = 20_000
HORIZON = 12
MEDIAN_QUARTERS = (4, 8, 12)
SURVIVAL_SE = 4.0
MEDIAN_SE = 4.5
MIN_ALIVE = 500
"""Medians are compared only where both samples keep at least this many live paths."""
ZERO_RTOL = 1e-5


def reference_inputs(priors: Priors, n: int, seed: int) -> dict[str, np.ndarray]:
    """The sampler's scenario inputs (float32) as float64: the same values the engine sees."""
    key = jax.random.key(seed, impl="philox4x32")
    return {k: np.asarray(v, dtype=np.float64) for k, v in compile_sampler(priors).sample_inputs(key, n).items()}


def engine(priors: Priors, n: int, seed: int, horizon: int, shocks: str) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64) for k, v in trace_paths(priors, n, seed, horizon, shocks=shocks).items()}


# ------------------------------------------------------------------------------------------ zero shocks


def events_tree() -> dict[str, Any]:
    """The hand tree plus companies that leave: every exit and counterparty rule is exercised.

    ``blab`` cannot raise (odds 0.5: p_raise ~ 0.4 < 0.5) and defaults in quarter 1;
    ``clab`` cannot raise either and is acquired in quarter 1 (acquire_prob 0.9, cash under
    one quarter of burn); ``bcloud`` breaches a tight covenant and defaults, after which
    ``alab`` buys its share at the spot rental index.
    """
    tree = hand_tree()
    companies = tree["companies"]
    alab = {k: v for k, v in companies["alab"].items() if k not in ("kind", "name")}
    companies["blab"] = {"kind": "lab", **alab, "cash0": 0.0, "raise_odds": 0.5, "rescue_prob": 0.0,
                         "acquire_prob": 0.0}
    companies["clab"] = {"kind": "lab", **alab, "cash0": 8.0, "raise_odds": 0.5, "rescue_prob": 0.0,
                         "acquire_prob": 0.9}
    companies["bcloud"] = {**companies["acloud"], "max_leverage": 2.0}
    tree["counterparty"] = {
        "alab": {"acloud": 0.05, "bcloud": 0.03, "ahyper": 0.5},
        "blab": {"acloud": 0.04, "bcloud": 0.02, "ahyper": 0.4},
        "clab": {"acloud": 0.03, "ahyper": 0.3},
    }
    return tree


MONEY_KEYS = ("cash", "debt", "burn", "revenue", "raised", "cumburn")


def zero_shock_atol(ref: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Absolute float32 allowances, broadcastable to each trace variable.

    A money amount may be off by ~1e-6 of the company's largest amount (burn is a small
    difference of large flows); the runway ``liq / burn`` inherits burn's allowance, scaled
    by runway / burn; margins, counts and indices get 1e-6 of their own scale.
    """
    scale = np.max(np.stack([np.abs(ref[k]) for k in MONEY_KEYS]), axis=(0, 1, 2), keepdims=True)[0]  # (1, 1, c)
    atol = {k: 1e-6 * np.max(np.abs(ref[k])) + 1e-12 for k in (*MARKET_KEYS, *COMPANY_KEYS)}
    atol.update({k: 1e-6 * scale for k in MONEY_KEYS})
    burn = np.maximum(np.abs(ref["burn"]), 1e-12)
    capped = ref["runway"] >= 100.0
    atol["runway"] = np.where(capped, 1e-6, ref["runway"] * (1e-6 * scale / burn) + 1e-6)
    return atol


def test_zero_shocks_agree_on_every_variable(tmp_path):
    """Pinned shocks: engine (float32) and reference (float64) agree on every variable and quarter.

    A company that has left keeps its last values (docs/model.md section 3), burn, revenue
    and gross margin included; n = 4 identical paths, HORIZON quarters, rtol 1e-5.
    """
    priors = write_priors(events_tree(), tmp_path)
    ids = priors.company_ids
    n, horizon = 4, HORIZON
    eng = engine(priors, n, SEED, horizon, "zero")
    ref = simulate_reference(priors, reference_inputs(priors, n, SEED), horizon, np.random.default_rng(0),
                             shocks="zero")
    status = ref["status"][:, 0]
    assert status[0, ids.index("blab")] == 1 and status[0, ids.index("clab")] == 2
    assert status[-1, ids.index("bcloud")] == 1 and status[0, ids.index("bcloud")] == 0
    assert ref["rounds"][-1, 0, ids.index("alab")] >= 1

    atol = zero_shock_atol(ref)
    bad = []
    for key in (*MARKET_KEYS, *COMPANY_KEYS):
        assert eng[key].shape == ref[key].shape, key
        wrong = np.abs(eng[key] - ref[key]) > ZERO_RTOL * np.abs(ref[key]) + atol[key]
        if key in MARKET_KEYS:
            wrong = wrong[:, :, None]
        for j in range(wrong.shape[2]):
            quarters = np.flatnonzero(wrong[:, :, j].any(axis=1))
            if len(quarters):
                t = quarters[0]
                who, e, r = ("market", eng[key][t, 0], ref[key][t, 0]) if key in MARKET_KEYS else (
                    ids[j], eng[key][t, 0, j], ref[key][t, 0, j])
                bad.append(f"{key} {who}: quarters {(quarters + 1).tolist()}; first q{t + 1}: engine {e:.7g}, "
                           f"reference {r:.7g}")
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------------------------------ random shocks


def uncertain_tree() -> dict[str, Any]:
    """The events tree with uncertain inputs, volatile markets and a moving regime."""
    tree = events_tree()
    tree["market"].update({
        "hardware_vol": 0.15, "algo_vol": 0.2, "reasoning_vol": 0.2, "price_vol": 0.15, "rental_vol": 0.2,
        "demand_vol": 0.3, "utilisation_vol": 0.5, "demand_growth0": {"ci90": [0.5, 1.5]},
        "hardware_decline": {"ci90": [0.15, 0.45]}, "hardware_decline_rate_vol": 0.1, "algo_gain_rate_vol": 0.2,
        "reasoning_growth_rate_vol": 0.2, "price_war_drift_rate_vol": 0.1, "spend_ceiling": {"ci90": [2.0, 6.0]},
    })  # fmt: skip
    companies = tree["companies"]
    companies["alab"].update({"share_vol": 0.3, "cash0": {"ci90": [10.0, 40.0]}})
    companies["blab"].update({"share_vol": 0.3, "cash0": {"ci90": [2.0, 20.0]}, "raise_odds": 1.0,
                              "rescue_prob": 0.3, "acquire_prob": 0.3})
    companies["clab"].update({"share_vol": 0.4, "cash0": {"ci90": [4.0, 12.0]}, "raise_odds": 0.8})
    companies["acloud"]["cash0"] = {"ci90": [0.5, 3.0]}
    companies["bcloud"].update({"cash0": {"ci90": [0.5, 3.0]}, "max_leverage": {"ci90": [2.5, 5.0]}})
    companies["ahyper"].update({"core_vol": 0.1, "share_vol": 0.2})
    tree["regime"] = {
        "initial": {"boom": 0.3, "normal": 0.6, "winter": 0.1},
        "transition": {
            "boom": {"boom": 0.85, "normal": 0.13, "winter": 0.02},
            "normal": {"boom": 0.06, "normal": 0.91, "winter": 0.03},
            "winter": {"boom": 0.02, "normal": 0.18, "winter": 0.80},
        },
    }
    return tree


def median_se(sample: np.ndarray) -> float:
    """Standard error of the sample median from the order statistics around it.

    The distribution-free 95 % interval of the median is ``[x_(j), x_(k)]`` with
    ``j, k = m/2 -/+ 1.96 sqrt(m)/2``; its half-width / 1.96 estimates ``1 / (2 f(median) sqrt(m))``.
    """
    x = np.sort(sample)
    m = len(x)
    half = 1.96 * math.sqrt(m) / 2
    lo, hi = int(math.floor(m / 2 - half)), int(math.ceil(m / 2 + half))
    return float(x[min(hi, m - 1)] - x[max(lo, 0)]) / (2 * 1.96)


N_BASELINE = 8192
"""Baseline paths compared (the whole six-year horizon): 13 companies, one compile of the baseline."""


@pytest.fixture(scope="module", params=["uncertain_tree", "baseline"])
def random_traces(request, tmp_path_factory) -> tuple[Priors, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Engine and reference traces with random shocks.

    ``uncertain_tree`` (6 companies): N_RANDOM paths, HORIZON quarters. ``baseline``
    (priors/baseline.toml, 13 companies): N_BASELINE paths over its whole 24-quarter horizon, so the
    model v2 market (trend rates, spend ceiling, rent markup, capacity) is compared where it binds.
    """
    if request.param == "baseline":
        priors = load_priors(BASELINE, require_sources=False)
        n, horizon = N_BASELINE, 24
    else:
        priors = write_priors(uncertain_tree(), tmp_path_factory.mktemp("random"))
        n, horizon = N_RANDOM, HORIZON
    eng = engine(priors, n, SEED, horizon, "random")
    ref = simulate_reference(priors, reference_inputs(priors, n, SEED), horizon,
                             np.random.default_rng(SEED), shocks="random")
    return priors, eng, ref


def test_random_traces_are_finite(random_traces):
    _, eng, ref = random_traces
    for key in (*MARKET_KEYS, *COMPANY_KEYS):
        assert eng[key].shape == ref[key].shape, key
        assert np.all(np.isfinite(eng[key])), key


def test_exit_curves_agree(random_traces):
    """P(alive), P(defaulted), P(acquired) per company and quarter within 4 combined binomial SEs."""
    priors, eng, ref = random_traces
    n = eng["status"].shape[1]
    bad = []
    for code, what in ((0, "alive"), (1, "defaulted"), (2, "acquired")):
        p1 = np.mean(eng["status"] == code, axis=1)  # (T, c)
        p2 = np.mean(ref["status"] == code, axis=1)
        se = np.maximum(np.sqrt(p1 * (1 - p1) / n + p2 * (1 - p2) / n), 1 / n)
        for t, j in zip(*np.nonzero(np.abs(p1 - p2) > SURVIVAL_SE * se), strict=True):
            bad.append(f"{priors.company_ids[j]} q{t + 1} P({what}): engine {p1[t, j]:.4f}, "
                       f"reference {p2[t, j]:.4f}, SE {se[t, j]:.4f}")
    assert not bad, "\n".join(bad)


def _median_mismatch(name: str, a: np.ndarray, b: np.ndarray) -> str | None:
    se = math.hypot(median_se(a), median_se(b))
    m1, m2 = float(np.median(a)), float(np.median(b))
    tol = MEDIAN_SE * se + 1e-5 * max(abs(m1), abs(m2))  # + float32 rounding of the engine
    if abs(m1 - m2) > tol:
        return f"{name}: engine {m1:.6g}, reference {m2:.6g}, tolerance {tol:.3g} (SE {se:.3g})"
    return None


def test_medians_agree(random_traces):
    """Medians of cash and revenue among live paths (and of market indices) at quarters 4, 8, 12."""
    priors, eng, ref = random_traces
    bad = []
    horizon = eng["status"].shape[0]
    for q in (*MEDIAN_QUARTERS, horizon) if horizon > MEDIAN_QUARTERS[-1] else MEDIAN_QUARTERS:
        t = q - 1
        for key in ("H", "P", "G", "D", "U", "S", "K"):
            bad.append(_median_mismatch(f"{key} q{q}", eng[key][t], ref[key][t]))
        for j, cid in enumerate(priors.company_ids):
            alive_e, alive_r = eng["status"][t, :, j] == 0, ref["status"][t, :, j] == 0
            if min(alive_e.sum(), alive_r.sum()) < MIN_ALIVE:
                continue
            for key in ("cash", "revenue"):
                bad.append(_median_mismatch(f"{cid} {key} q{q}", eng[key][t, alive_e, j], ref[key][t, alive_r, j]))
    bad = [b for b in bad if b]
    assert not bad, "\n".join(bad)
