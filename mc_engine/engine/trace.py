"""Every path's full trajectory, for small path counts: hand checks, tests and the thin sample."""

from __future__ import annotations

import math

import numpy as np

from ..inputs.loader import Priors
from ..model.market import INDICES
from .keys import DEFAULT_BLOCK_SIZE
from .scan import compile_model, run_chunk

COMPANY_VARS: tuple[str, ...] = ("cash", "debt", "burn", "revenue", "gross_margin", "runway", "status", "cause", "rounds",
                                 "raised", "paid_out", "down_rounds", "cumburn", "capex")


def _keep_all(aux, t, obs, alive_prev):  # noqa: ANN001, ANN202 - reducer signature
    return obs


def trace_paths(priors: Priors, n_paths: int, seed: int, horizon: int = 24, shocks: str = "random",
                block_size: int = DEFAULT_BLOCK_SIZE) -> dict[str, np.ndarray]:
    """Trajectories of the first ``n_paths`` paths: market (T, n), companies (T, n, c) in the priors' order.

    Keys: market indices ``H, E, R, C, P, G, D, U, regime``; companies ``cash, debt, burn, revenue,
    gross_margin, runway, status`` per quarter, and ``rounds, raised, down_rounds, cumburn`` (per quarter,
    from the state). Amounts USD bn. Memory is O(T * n * c): meant for small ``n``.
    """
    n_blocks = max(1, math.ceil(n_paths / block_size))
    model = compile_model(priors, block_size)
    _, ys, _ = run_chunk(model, seed, 0, n_blocks, horizon, _keep_all, mode=shocks)
    order = np.asarray(model.layout.order)
    out = {k: np.asarray(getattr(ys, k))[:, :n_paths] for k in (*INDICES, "regime")}
    for k in COMPANY_VARS:
        out[k] = np.asarray(getattr(ys, k))[:, :, :n_paths].transpose(0, 2, 1)[:, :, order]
    return out
