"""Six-year plausibility figures of a prior file, from raw traced paths (issue: bounded economy).

Usage: ``python benchmarks/economy.py [priors.toml] [n_paths] [seed]``. Prints the figures that the
bounded-economy checks name: tokens served over six years (D R), rent relative to hardware cost (G / H),
market spend index (D P), each company's median annualised revenue at the horizon (alive paths), and the
95 % CVaR of cumulative burn (USD bn). Every figure comes from the full trajectories of ``n_paths`` paths.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from mc_engine.engine.trace import trace_paths
from mc_engine.inputs.loader import load_priors


def figures(path: str, n: int, seed: int, horizon: int = 24) -> dict[str, float]:
    priors = load_priors(path)
    tr = trace_paths(priors, n, seed, horizon)
    t = horizon - 1
    out: dict[str, float] = {}
    tokens = tr["D"][t] * tr["R"][t]
    spend = tr["D"][t] * tr["P"][t]
    out["tokens_x_median"] = float(np.median(tokens))
    out["rent_over_hw_median"] = float(np.median(tr["G"][t] / tr["H"][t]))
    out["spend_index_median"] = float(np.median(spend))
    out["spend_index_p99"] = float(np.quantile(spend, 0.99))
    out["finite"] = float(all(np.all(np.isfinite(v)) for v in tr.values()))
    total = 0.0
    for j, cid in enumerate(priors.company_ids):
        alive = tr["status"][t, :, j] == 0
        rev = 4 * tr["revenue"][t, alive, j]
        med = float(np.median(rev)) if alive.any() else float("nan")
        out[f"revenue_{cid}"] = med
        if priors.companies[j].kind != "neocloud":
            total += 0 if np.isnan(med) else med
        cum = np.sort(tr["cumburn"][t, :, j])
        out[f"cvar95_{cid}"] = float(cum[int(0.95 * n):].mean())
    out["revenue_sum_labs_hyperscalers"] = total
    return out


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "priors/baseline.toml"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    t0 = time.perf_counter()
    for k, v in figures(path, n, seed).items():
        print(f"{k:40s} {v:.4g}")
    print(f"# {path}, {n} paths, seed {seed}, {time.perf_counter() - t0:.0f} s")
