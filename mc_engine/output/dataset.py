"""Turn merged reductions into an xarray Dataset with CF-style attributes.

Dims: ``company`` (prior-file order, ``kind`` as a coordinate), ``quarter``
(quarter-end dates, with ``quarter_bounds``), ``quantile``, ``input`` (scenario
inputs, for sensitivity), ``regime`` and ``path`` (the thin sample), in one order
(:mod:`.conventions`). Amounts are USD bn (flows per quarter), probabilities and
ratios are ``"1"``.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._paramspec import REGIMES
from ..engine.reduce import COMPANY_VARS, quantiles_from_histogram, tail_mean_from_histogram
from ..engine.simulate import DEFAULT_QUANTILES, RawResult
from ..model.funding import CAUSES
from ..model.market import INDICES
from . import conventions, plausibility
from .standard_errors import binomial_se

SCHEMA_VERSION: int = 1
USD_PER_BN: float = 1e9

MARKET_NAMES: dict[str, tuple[str, str]] = {
    "H": ("hardware_cost_index", "hardware cost per unit of compute, relative to as_of"),
    "E": ("compute_per_token_index", "compute per token at fixed quality (algorithmic efficiency), relative"),
    "R": ("tokens_per_work_index", "tokens per unit of delivered work (reasoning intensity), relative"),
    "C": ("serving_cost_index", "serving cost of one unit of work, relative"),
    "P": ("price_index", "price per unit of work, relative"),
    "G": ("gpu_rental_index", "GPU rental price per hour, relative"),
    "D": ("demand_index", "market volume of work demanded, relative"),
    "U": ("utilisation", "fleet utilisation"),
    "S": ("market_spend_index", "AI market spend D x P (work demanded times price), relative"),
    "K": ("capacity_index", "installed compute capacity, relative"),
}
COMPANY_META: dict[str, tuple[str, str, str, float]] = {
    # name -> (output name, long name, units, scale); flows sum over the quarter, stocks are points.
    "cash": ("cash", "quarter-end cash among companies still alive", "USD bn", 1.0),
    "burn": ("burn", "cash burn in the quarter (positive = cash out) among companies still alive", "USD bn",
             1.0),
    "revenue": ("revenue", "revenue in the quarter among companies still alive", "USD bn", 1.0),
    "gross_margin": ("gross_margin", "gross margin in the quarter among companies still alive", "1", 1.0),
    "runway": ("runway_quarters", "runway at quarter end in quarters of 3 months (cash / burn, capped at 100) "
                                  "among alive", "1", 1.0),
    "debt": ("debt", "quarter-end debt among companies still alive", "USD bn", 1.0),
}
FLOWS = {"burn", "revenue", "gross_margin"}


def quarter_ends(as_of: dt.date, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Quarter-end dates 1..horizon after ``as_of`` and their (start, end) bounds."""
    start = pd.Timestamp(as_of)
    if start.is_month_end:
        ends = [start + pd.offsets.MonthEnd(3 * t) for t in range(horizon + 1)]
    else:
        ends = [start + pd.DateOffset(months=3 * t) for t in range(horizon + 1)]
    ends = np.array(ends, dtype="datetime64[ns]")
    return ends[1:], np.stack([ends[:-1], ends[1:]], axis=1)


def _git_commit() -> str:
    try:
        root = Path(__file__).resolve().parents[2]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def rankdata(a: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) of a 1-d array, ties sharing their mean rank."""
    sorter = np.argsort(a, kind="mergesort")
    inv = np.empty_like(sorter)
    inv[sorter] = np.arange(len(a))
    a_sorted = a[sorter]
    first = np.r_[True, a_sorted[1:] != a_sorted[:-1]]
    dense = first.cumsum()[inv]
    count = np.r_[np.nonzero(first)[0], len(first)]
    return 0.5 * (count[dense] + count[dense - 1] + 1)


def spearman_matrix(inputs: np.ndarray, outcomes: np.ndarray) -> np.ndarray:
    """Spearman correlation of each input column (n, k) with each outcome column (n, c); 0 where undefined."""
    ri = np.stack([rankdata(inputs[:, j]) for j in range(inputs.shape[1])], axis=1) if inputs.size else inputs
    ro = np.stack([rankdata(outcomes[:, j]) for j in range(outcomes.shape[1])], axis=1)
    ri = ri - ri.mean(0)
    ro = ro - ro.mean(0)
    denom = np.sqrt((ri**2).sum(0))[:, None] * np.sqrt((ro**2).sum(0))[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ri.T @ ro) / denom
    return np.where(np.isfinite(rho), rho, 0.0)


def to_dataset(raw: RawResult, quantiles: tuple[float, ...] = DEFAULT_QUANTILES) -> xr.Dataset:
    """Assemble the Dataset of a run (see the module docstring)."""
    import jax

    from .._version import __version__

    model = raw.model
    priors = model.priors
    order = np.asarray(model.layout.order)  # prior-file position -> internal column
    n = raw.n_paths
    qs = np.asarray(quantiles, np.float64)
    quarters, bounds = quarter_ends(priors.as_of, raw.horizon)
    companies = [c.id for c in priors.companies]
    coords = {
        "company": ("company", companies, {"long_name": "company id in the prior file"}),
        "kind": ("company", [c.kind for c in priors.companies], {"long_name": "company kind"}),
        "company_name": ("company", [c.name for c in priors.companies], {"long_name": "company name"}),
        "rating": ("company", [c.rating or "" for c in priors.companies],
                   {"long_name": "issuer credit rating from the priors (empty where none)"}),
        "cds_bp": ("company", np.array([np.nan if c.cds_bp is None else c.cds_bp for c in priors.companies]),
                   {"long_name": "five-year CDS spread from the priors", "units": "1e-4",
                    "comment": "basis points; NaN where no spread is published"}),
        "quarter": ("quarter", quarters, {"standard_name": "time", "long_name": "quarter end",
                                          "bounds": "quarter_bounds"}),
        "quantile": ("quantile", qs, {"long_name": "probability level", "units": "1"}),
        "regime": ("regime", list(REGIMES), {"long_name": "market regime"}),
    }
    ds = xr.Dataset(coords=coords)
    ds["quarter_bounds"] = (("quarter", "bounds"), bounds)

    counts = raw.counts[:, :, order].astype(np.float64)  # (T, N_COUNTS, C)
    for i, (name, long) in enumerate((
        ("survival_prob", "probability the company is still independent and solvent"),
        ("default_prob", "cumulative probability of default (competing risk)"),
        ("acquired_prob", "cumulative probability of acquisition (competing risk)"),
    )):
        p = counts[:, i, :].T / n
        ds[name] = (("company", "quarter"), p, {"units": "1", "long_name": long, "cell_methods": "quarter: point"})
        ds[f"{name}_se"] = (("company", "quarter"), binomial_se(p, n),
                            {"units": "1", "long_name": f"Monte Carlo standard error of {name}",
                             "cell_methods": "quarter: point"})
    alive = counts[:, 0, :].T
    ds["n_alive"] = (("company", "quarter"), alive.astype(np.int64), {"units": "1", "long_name": "paths alive",
                                                                     "cell_methods": "quarter: point"})
    new_defaults = np.diff(np.concatenate([np.zeros((len(companies), 1)), counts[:, 1, :].T], axis=1), axis=1)
    ds["default_quarter"] = (("company", "quarter"), new_defaults / n,
                             {"units": "1", "long_name": "probability of defaulting in this quarter",
                              "cell_methods": "quarter: sum"})
    # Exits by cause: defaults (cash, covenant, maturity) then acquisition; they sum to 1 - survival_prob.
    by_cause = np.stack([counts[:, 3, :], counts[:, 4, :], counts[:, 5, :], counts[:, 2, :]], axis=-1)  # (T, C, 4)
    p_cause = np.transpose(by_cause, (1, 0, 2)) / n
    ds = ds.assign_coords(cause=("cause", list(CAUSES), {
        "long_name": "cause of exit",
        "description": "cash: cash (and credit lines) exhausted; covenant: a leverage covenant breach left uncured "
                       "for the covenant's quarters; maturity: a maturity not refinanced that the company could "
                       "not repay from cash; acquisition: bought while independent"}))
    ds["exit_prob"] = (("company", "quarter", "cause"), p_cause,
                       {"units": "1", "long_name": "cumulative probability of having left by this cause",
                        "cell_methods": "quarter: point", "ancillary_variables": "exit_prob_se"})
    ds["exit_prob_se"] = (("company", "quarter", "cause"), binomial_se(p_cause, n),
                          {"units": "1", "long_name": "Monte Carlo standard error of exit_prob",
                           "cell_methods": "quarter: point"})

    q = quantiles_from_histogram(raw.hist, raw.edges, raw.extremes[:, 0], raw.extremes[:, 1], qs,
                                 np.moveaxis(raw.ties, 1, 0), raw.atoms)  # (T, C, V, Q)
    q = q[:, order]
    sums = raw.sums[:, order]  # (T, C, V)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, 0, :, None]
    for v, var in enumerate(COMPANY_VARS):
        out_name, long, units, scale = COMPANY_META[var]
        method = "quarter: sum" if var in FLOWS and var != "gross_margin" else "quarter: point"
        data = np.transpose(q[:, :, v, :], (1, 0, 2)) * scale
        ds[out_name] = (("company", "quarter", "quantile"), data.astype(np.float32),
                        {"units": units, "long_name": long, "cell_methods": method + " (quantiles over paths)"})
        ds[f"{out_name}_mean"] = (("company", "quarter"), (means[:, :, v].T * scale),
                                  {"units": units, "long_name": f"mean {long}", "cell_methods": method})

    mq = quantiles_from_histogram(raw.mhist, raw.medges, raw.mextremes[:, 0], raw.mextremes[:, 1], qs,
                                  np.moveaxis(raw.mties, 1, 0), raw.matoms)
    for m, key in enumerate(INDICES):
        name, long = MARKET_NAMES[key]
        ds[name] = (("quarter", "quantile"), mq[:, m, :].astype(np.float32),
                    {"units": "1", "long_name": long, "cell_methods": "quarter: point (quantiles over paths)"})
        ds[f"{name}_mean"] = (("quarter",), raw.msums[:, m] / n, {"units": "1", "long_name": f"mean {long}",
                                                                      "cell_methods": "quarter: point"})
    ds["regime_prob"] = (("quarter", "regime"), raw.regime / n,
                         {"units": "1", "long_name": "probability of each market regime in the quarter",
                          "cell_methods": "quarter: point"})

    hs = raw.horizon_stats
    cum_q = quantiles_from_histogram(hs["hist"], hs["edges"], hs["extremes"][0], hs["extremes"][1], qs,
                                     hs["ties"], hs["atoms"])[order]
    var95, cvar95 = tail_mean_from_histogram(hs["hist"][:, 0], hs["edges"][:, 0], hs["extremes"][0][:, 0],
                                             hs["extremes"][1][:, 0], 0.95, hs["ties"][:, :, 0], hs["atoms"][:, 0])
    ds["cumulative_burn"] = (("company", "quantile"), cum_q[:, 0].astype(np.float32),
                             {"units": "USD bn", "long_name": "cumulative burn to the horizon or exit",
                              "cell_methods": "quarter: sum (quantiles over paths)"})
    ds["raised"] = (("company", "quantile"), cum_q[:, 1].astype(np.float32),
                    {"units": "USD bn", "long_name": "amount raised (rounds and rescues) by the horizon",
                     "cell_methods": "quarter: sum (quantiles over paths)"})
    ds["paid_out"] = (("company", "quantile"), cum_q[:, 2].astype(np.float32),
                      {"units": "USD bn", "long_name": "amount paid out to shareholders (dividends, buybacks) by the "
                                                      "horizon", "cell_methods": "quarter: sum (quantiles over paths)"})
    ds["burn_var_95"] = (("company",), var95[order],
                         {"units": "USD bn", "long_name": "95% value at risk of cumulative burn",
                          "cell_methods": "quarter: sum"})
    ds["burn_cvar_95"] = (("company",), cvar95[order],
                          {"units": "USD bn", "long_name": "95% conditional value at risk (expected shortfall) of "
                                                        "cumulative burn", "cell_methods": "quarter: sum"})
    ds["funding_rounds"] = (("company",), hs["rounds_mean"][order],
                            {"units": "1", "long_name": "expected number of funding rounds by the horizon",
                             "cell_methods": "quarter: sum (mean over paths)"})
    ds["down_round_prob"] = (("company",), hs["down_round_prob"][order],
                             {"units": "1", "long_name": "probability of at least one down round by the horizon",
                              "cell_methods": "quarter: maximum"})

    names = list(raw.sens_inputs)
    if names:
        x = np.stack([raw.sens_inputs[k] for k in names], axis=1).astype(np.float64)
        survived = raw.final["survived"][:, order].astype(np.float64)
        burned = raw.final["cumburn"][:, order].astype(np.float64)
        ds = ds.assign_coords(input=("input", names, {"long_name": "scenario input"}))
        ds["sensitivity"] = (("input", "company"), spearman_matrix(x, survived),
                             {"units": "1", "long_name": "Spearman correlation of the input with survival at "
                                                         "the horizon", "sample_paths": int(x.shape[0]),
                              "cell_methods": "quarter: point"})
        ds["sensitivity_burn"] = (("input", "company"), spearman_matrix(x, burned),
                                  {"units": "1", "long_name": "Spearman correlation of the input with cumulative "
                                                              "burn", "sample_paths": int(x.shape[0]),
                                   "cell_methods": "quarter: sum"})

    thin = raw.thin
    n_thin = thin["cash"].shape[1]
    ds = ds.assign_coords(path=("path", np.arange(n_thin), {"long_name": "path index (thin sample)"}))
    for var in ("cash", "burn", "revenue", "runway", "debt"):
        out_name, long, units, scale = COMPANY_META[var]
        long = long.replace(" among companies still alive", "").replace(" among alive", "")
        ds[f"path_{out_name}"] = (("path", "quarter", "company"),
                                  (np.transpose(thin[var], (1, 0, 2))[:, :, order] * scale).astype(np.float32),
                                  {"units": units, "long_name": f"{long} (thin sample of raw paths)",
                                   "cell_methods": "quarter: sum" if var in FLOWS else "quarter: point"})
    ds["path_status"] = (("path", "quarter", "company"), np.transpose(thin["status"], (1, 0, 2))[:, :, order]
                         .astype(np.int8), {"units": "1", "long_name": "0 alive, 1 defaulted, 2 acquired",
                                            "flag_values": np.array([0, 1, 2], np.int8),
                                            "flag_meanings": "alive defaulted acquired",
                                            "cell_methods": "quarter: point"})
    ds["path_regime"] = (("path", "quarter"), thin["regime"].T.astype(np.int8),
                         {"units": "1", "long_name": "market regime (0 boom, 1 normal, 2 winter)",
                          "cell_methods": "quarter: point"})
    for key in INDICES:
        name, long = MARKET_NAMES[key]
        ds[f"path_{name}"] = (("path", "quarter"), thin[key].T.astype(np.float32),
                              {"units": "1", "long_name": long, "cell_methods": "quarter: point"})

    for var in ds.variables.values():  # UDUNITS has no currency: say how "USD bn" is meant (docs/engine.md)
        if str(var.attrs.get("units", "")).startswith("USD"):
            var.attrs["currency"] = ("USD bn: billions (1e9) of nominal United States dollars (ISO 4217), not a "
                                     "UDUNITS unit")
    # One time unit for the quarters and their bounds (CF), so a plain ``to_netcdf`` writes them alike.
    for name in ("quarter", "quarter_bounds"):
        ds.variables[name].encoding.update(units="days since 1970-01-01", calendar="proleptic_gregorian")
    devices = jax.devices()
    ds.attrs = {
        "title": f"mc_engine run of priors '{priors.name}'",
        "Conventions": "CF-1.10",
        "source": f"mc_engine {__version__}",
        "history": f"{dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}: simulated {n} paths with "
                   f"mc_engine {__version__}",
        "schema_version": SCHEMA_VERSION,
        "priors_name": priors.name,
        "priors_file": str(priors.path),
        "priors_digest": priors.digest,
        "as_of": priors.as_of.isoformat(),
        "seed": raw.seed,
        "n_paths": n,
        "horizon_quarters": raw.horizon,
        "prng": raw.prng,
        "block_size": model.block_size,
        "chunk_paths": raw.chunk_paths,
        "sketch": "fixed-edge histogram in asinh space, 4096 bins + under/overflow (docs/engine.md)",
        "jax_version": jax.__version__,
        "device": f"{devices[0].platform}: {devices[0].device_kind} x{len(devices)}",
        "git_commit": _git_commit(),
    }
    return plausibility.annotate(conventions.finalize(ds))
