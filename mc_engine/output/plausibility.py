"""Plausibility guards: figures of a run beyond stated bounds, with how many paths they concern.

A simulated figure can be arithmetically right and economically impossible (a
company holding more cash than the world produces in a year). The model bounds
its processes; this module is the last line: whatever the model does, a figure
beyond :data:`BOUNDS` is flagged in the run table, the report and the Dataset
attributes, never printed silently.

Each check reads the stored quantiles (and the thin sample of raw paths, when
there is one). "Paths concerned" is stated two ways, both from the run itself:

- from the quantile grid: if the ``q`` quantile lies beyond the bound, at least
  ``1 - q`` of the futures alive at that quarter do (and at most ``1 - q'`` if the
  next level ``q'`` lies inside), times the number of paths alive;
- from the thin sample: how many of the sampled paths cross the bound at any
  quarter while the company is alive (a count, not an estimate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import xarray as xr

WORLD_GDP_USD: float = 110e12
"""World GDP, USD per year (about USD 110 tn in 2024-25, IMF World Economic Outlook); an upper bound for any
single company's cash, debt, cumulative burn or capital raised."""
LARGEST_CASH_USD: float = 1e12
"""USD 1 tn: about four times the largest cash pile any company has held; above it a company's cash is implausible."""
_CHEAPER = " (10x a year cheaper at most)"
INDEX_BOUNDS: dict[str, tuple[float, float, str]] = {
    "hardware_cost_index": (1e-3, 1e3, ""),
    "tokens_per_work_index": (1e-3, 1e3, ""),
    "gpu_rental_index": (1e-3, 1e3, ""),
    "market_spend_index": (1e-3, 1e3, ""),
    "capacity_index": (1e-3, 1e3, ""),
    # Algorithms ~3x a year more efficient and token prices ~10x a year cheaper at fixed capability: 10x a
    # year for six years (1e-6) is the edge of belief for compute per token, serving cost and price.
    "compute_per_token_index": (1e-6, 1e3, _CHEAPER),
    "serving_cost_index": (1e-6, 1e3, _CHEAPER),
    "price_index": (1e-6, 1e3, _CHEAPER),
    # Work demanded is spend over price: spend stays under ~1e3, the price above ~1e-6.
    "demand_index": (1e-3, 1e6, " (spend over price)"),
}
"""Bounds of each market index (1 at as_of) beyond which its level is implausible within the horizon, and why."""


@dataclass(frozen=True)
class Bound:
    """A bound on a variable: ``low <= value <= high`` (in the variable's own units, USD)."""

    variable: str
    what: str
    low: float | None
    high: float | None
    text: str


BOUNDS: tuple[Bound, ...] = (
    Bound("cash", "quarter-end cash", -WORLD_GDP_USD, LARGEST_CASH_USD, "cash within ±world GDP, below USD 1 tn"),
    Bound("debt", "quarter-end debt", None, WORLD_GDP_USD, "debt below world GDP"),
    Bound("burn", "burn per quarter", -WORLD_GDP_USD / 4, WORLD_GDP_USD / 4, "burn within ±world GDP / 4 a quarter"),
    Bound("revenue", "revenue per quarter", None, WORLD_GDP_USD / 4, "revenue below world GDP / 4 a quarter"),
    Bound("cumulative_burn", "cumulative burn", -WORLD_GDP_USD, WORLD_GDP_USD, "cumulative burn within ±world GDP"),
    Bound("raised", "capital raised", None, WORLD_GDP_USD, "capital raised below world GDP"),
    Bound("paid_out", "cash paid out", None, WORLD_GDP_USD, "cash paid out below world GDP"),
    Bound("burn_var_95", "burn VaR 95", None, WORLD_GDP_USD, "below world GDP"),
    Bound("burn_cvar_95", "burn CVaR 95", None, WORLD_GDP_USD, "below world GDP"),
) + tuple(
    Bound(name, name.replace("_", " "), low, high, f"index within {low:g} .. {high:g} of as_of{why}")
    for name, (low, high, why) in INDEX_BOUNDS.items()
)


@dataclass(frozen=True)
class Flag:
    """One figure beyond its bound. Amounts are in the printed unit (USD bn for money)."""

    variable: str
    what: str
    company: str | None
    value: str
    bound: str
    paths: str
    paths_low: int
    """Lower estimate of the number of paths concerned (from the quantile grid, or the VaR level)."""
    sampled: int | None
    """Sampled paths (thin sample) that cross the bound, or None without a thin sample."""
    n_sampled: int | None


def _usd_scale(da: xr.DataArray) -> float:
    """USD per unit of ``da``: 1e9 for ``USD bn``, 1 for ``USD``, 1 for anything else."""
    units = str(da.attrs.get("units", ""))
    return 1e9 if units.startswith("USD bn") else 1.0


def _printed(bound: Bound, value_usd: float) -> str:
    if bound.variable.endswith("_index"):
        return f"{value_usd:.3g}"
    return f"USD {value_usd / 1e9:,.0f} bn"


def _bound_text(bound: Bound) -> str:
    if bound.variable.endswith("_index"):
        return f"{bound.low:g} .. {bound.high:g}"
    if bound.low is None:
        return f"<= USD {bound.high / 1e9:,.0f} bn"
    return f"USD {bound.low / 1e9:,.0f} .. {bound.high / 1e9:,.0f} bn"


def beyond(variable: str, value: float) -> bool:
    """Whether ``value`` (USD for money, the index for indices) of ``variable`` lies beyond its bound."""
    return any(bool(_outside(b, np.asarray(value, np.float64))) for b in BOUNDS if b.variable == variable)


def _outside(bound: Bound, x: np.ndarray) -> np.ndarray:
    bad = np.zeros(np.shape(x), bool)
    with np.errstate(invalid="ignore"):
        if bound.low is not None:
            bad |= x < bound.low
        if bound.high is not None:
            bad |= x > bound.high
    return bad


def _grid_share(bound: Bound, quantiles: np.ndarray, levels: np.ndarray) -> tuple[float, float]:
    """Share of paths beyond the bound implied by one quantile curve: (at least, at most), both tails added."""
    at_least = at_most = 0.0
    with np.errstate(invalid="ignore"):
        if bound.low is not None and (below := np.flatnonzero(quantiles < bound.low)).size:
            k = int(below.max())
            at_least += float(levels[k])
            at_most += float(levels[k + 1]) if k + 1 < len(levels) else 1.0
        if bound.high is not None and (above := np.flatnonzero(quantiles > bound.high)).size:
            k = int(above.min())
            at_least += 1.0 - float(levels[k])
            at_most += 1.0 - float(levels[k - 1]) if k > 0 else 1.0
    return min(at_least, 1.0), min(at_most, 1.0)


def _sampled(ds: xr.Dataset, bound: Bound, company: str | None) -> tuple[int | None, int | None]:
    """Sampled paths that cross ``bound`` at any quarter while the company is alive."""
    name = f"path_{bound.variable}"
    if bound.variable == "cumulative_burn" and "path_burn" in ds:
        name = "path_burn"
    if name not in ds or "path" not in ds.dims:
        return None, None
    da = ds[name]
    if company is not None:
        if "company" not in da.dims:
            return None, None
        x = da.sel(company=company).transpose("path", "quarter").values.astype(np.float64) * _usd_scale(da)
        if "path_status" in ds:
            alive = ds.path_status.sel(company=company).transpose("path", "quarter").values == 0
            # the exit quarter's figure is the last one the company reported
            alive = alive | np.c_[np.ones((alive.shape[0], 1), bool), alive[:, :-1]]
            x = np.where(alive, x, np.nan)
        if bound.variable == "cumulative_burn":
            x = np.nancumsum(x, axis=1)
    else:
        x = da.transpose("path", "quarter").values.astype(np.float64)
    return int(_outside(bound, x).any(axis=1).sum()), int(x.shape[0])


def check(ds: xr.Dataset) -> list[Flag]:
    """Every figure of ``ds`` beyond :data:`BOUNDS`, the most extreme printed value of each."""
    flags: list[Flag] = []
    n_paths = int(ds.attrs.get("n_paths", 0))
    levels = np.asarray(ds["quantile"].values, np.float64) if "quantile" in ds.coords else np.array([])
    for bound in BOUNDS:
        if bound.variable not in ds:
            continue
        da = ds[bound.variable]
        companies = [str(c) for c in ds.company.values] if "company" in da.dims else [None]
        for company in companies:
            sub = da.sel(company=company) if company is not None else da
            x = np.asarray(sub.values, np.float64) * _usd_scale(da)
            bad = _outside(bound, x)
            if not bad.any():
                continue
            worst = x[bad][np.argmax(np.abs(np.log(np.abs(x[bad]) + 1e-300)))] if bound.variable.endswith(
                "_index") else x[bad][np.argmax(np.abs(x[bad]))]
            if "quantile" in sub.dims:
                q = sub.transpose(..., "quantile")
                curves = np.asarray(q.values, np.float64).reshape(-1, len(levels)) * _usd_scale(da)
                if "quarter" in sub.dims and company is not None and "n_alive" in ds:
                    alive = ds.n_alive.sel(company=company).values.astype(np.int64)
                else:
                    alive = np.full(len(curves), n_paths, np.int64)
                shares = [_grid_share(bound, c, levels) for c in curves]
                k = int(np.argmax([s[0] * a for s, a in zip(shares, alive, strict=True)]))
                (at_least, at_most), n_alive = shares[k], int(alive[k])
                paths_low = int(np.floor(at_least * n_alive))
                among = "futures alive" if "quarter" in sub.dims and company is not None else "futures"
                text = (f"at least {paths_low:,} of {n_alive:,} paths ({at_least:.0%}-{at_most:.0%} of the "
                        f"{among}, from the quantile grid)")
            elif bound.variable in ("burn_var_95", "burn_cvar_95"):
                paths_low = int(np.ceil(0.05 * n_paths)) if bound.variable == "burn_var_95" else 1
                text = (f"at least {paths_low:,} of {n_paths:,} paths (the worst 5 %)" if bound.variable ==
                        "burn_var_95" else f"some of the worst 5 % of {n_paths:,} paths")
            else:
                paths_low, text = 0, "unknown"
            sampled, n_sampled = _sampled(ds, bound, company)
            if sampled is not None:
                text += f"; {sampled:,} of {n_sampled:,} sampled paths"
            flags.append(Flag(bound.variable, bound.what, company, _printed(bound, float(worst)),
                              _bound_text(bound), text, paths_low, sampled, n_sampled))
    return flags


def as_attrs(flags: Sequence[Flag]) -> dict[str, object]:
    """Dataset attributes recording the flags: a count and one line per flag (netCDF-safe strings)."""
    return {"plausibility_flags": len(flags),
            "plausibility": "; ".join(f"{f.variable}[{f.company or 'market'}] {f.value} beyond {f.bound}: "
                                      f"{f.paths}" for f in flags) or "all figures within bounds"}


def annotate(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the plausibility attributes set (on the Dataset and on each flagged variable)."""
    flags = check(ds)
    ds.attrs.update(as_attrs(flags))
    by_variable: dict[str, list[Flag]] = {}
    for f in flags:
        by_variable.setdefault(f.variable, []).append(f)
    for name, group in by_variable.items():
        ds[name].attrs["plausibility"] = "; ".join(f"{f.company or 'market'}: {f.value} beyond {f.bound}"
                                                   for f in group)
    return ds


def records(flags: Sequence[Flag]) -> list[dict[str, object]]:
    """The flags as plain dicts (for JSON and the report's tables)."""
    return [asdict(f) for f in flags]
