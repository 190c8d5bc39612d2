"""Monte Carlo standard errors of the outputs: the one module that computes them.

The Dataset stores the binomial error of the survival, default, acquisition and exit probabilities
(:func:`binomial_se`); a sweep with a target error stops on :func:`survival_se_max`; ``ds.mc`` reads the
stored error or falls back on the binomial; a rerun is judged in units of :func:`standard_errors`.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
import xarray as xr

BINOMIAL: tuple[str, ...] = ("default_quarter", "regime_prob", "down_round_prob")
"""Probabilities without a stored standard error: theirs is binomial, sqrt(p (1 - p) / n)."""


def binomial_se(p: Any, n: Any) -> Any:
    """Standard error ``sqrt(p (1 - p) / n)`` of a probability ``p`` estimated from ``n`` paths (elementwise)."""
    return np.sqrt(p * (1 - p) / n)


def survival_se_max(counts: np.ndarray, n: int) -> float:
    """Largest standard error of survival over companies and quarters, from path counts (quarter, count, company)
    whose count 0 is the paths alive."""
    return float(binomial_se(counts[:, 0, :].astype(np.float64) / n, n).max())


def levels_se(values: np.ndarray, levels: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Standard error of sample quantiles ``values`` (..., levels): ``q'(p) sqrt(p (1 - p) / n)``.

    The slope ``q'(p)`` (one over the density) comes from neighbouring levels; ``n`` broadcasts against
    ``values[..., 0]``.
    """
    slope = np.abs(np.gradient(values, levels, axis=-1)) if levels.size > 1 else np.zeros_like(values)
    return slope * np.sqrt(levels * (1 - levels) / np.maximum(n, 1)[..., None])


def standard_errors(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """Monte Carlo standard error of each output variable that has one, in the variable's units.

    Stored ``*_se`` for survival, default and acquisition; binomial for other probabilities; for
    quantiles ``q'(p) sqrt(p (1 - p) / n)`` with the density from neighbouring levels; for means the sd
    implied by the outer quantiles over ``sqrt(n)``; paths alive binomial in counts; Spearman
    sensitivities ``(1 - r**2) / sqrt(m)``. ``n`` is the paths alive where quantiles and means are over
    them. Raw thin paths and tail measures get none.
    """
    n = float(ds.attrs["n_paths"])
    alive = ds["n_alive"] if "n_alive" in ds else xr.full_like(ds["survival_prob"], n)
    floor = 1.0 / n  # one path in n: the smallest change a count can make
    out: dict[str, xr.DataArray] = {}
    levels = np.asarray(ds["quantile"].values, np.float64) if "quantile" in ds.coords else np.zeros(0)
    z = [NormalDist().inv_cdf(p) for p in (levels[0], levels[-1])] if levels.size > 1 else [0.0, 0.0]
    for name, var in ds.data_vars.items():
        if not np.issubdtype(var.dtype, np.number) or name.endswith("_se") or name.startswith("path_"):
            continue
        if f"{name}_se" in ds or name in BINOMIAL:
            p = var.astype(np.float64)
            out[name] = np.sqrt(np.maximum(p * (1 - p), floor) / n)
        elif name == "n_alive":
            p = var.astype(np.float64) / n
            out[name] = np.sqrt(n * np.maximum(p * (1 - p), floor))
        elif "quantile" in var.dims and levels.size > 1:
            v = var.astype(np.float64).transpose(..., "quantile")
            count = alive if {"company", "quarter"} <= set(v.dims) else xr.full_like(v.isel(quantile=0), n)
            count = count.broadcast_like(v.isel(quantile=0)).transpose(*v.dims[:-1])
            se = levels_se(v.values, levels, count.values)
            out[name] = v.copy(data=se).transpose(*var.dims)
        elif name.endswith("_mean") and name.removesuffix("_mean") in ds and levels.size > 1:
            q = ds[name.removesuffix("_mean")].astype(np.float64)
            sd = (q.isel(quantile=-1) - q.isel(quantile=0)) / (z[1] - z[0])
            count = alive if {"company", "quarter"} <= set(var.dims) else n
            out[name] = (abs(sd) / np.sqrt(np.maximum(count, 1))).broadcast_like(var)
        elif name.startswith("sensitivity"):
            m = float(var.attrs.get("sample_paths", n))
            r = var.astype(np.float64)
            out[name] = np.maximum(1 - r**2, floor) / math.sqrt(max(m, 1.0))
        elif name == "funding_rounds":  # a mean count: Poisson sd
            out[name] = np.sqrt(np.maximum(var.astype(np.float64), floor) / n)
    return out
