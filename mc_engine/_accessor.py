"""``ds.mc``: a small xarray accessor for the Datasets of runs (registered by ``import mc_engine``).

>>> ds = mc_engine.open_run("runs/baseline")
>>> ds.mc.survival("coreweave", 8)                # Estimate(value, se, low, high), 95 % Monte Carlo interval
>>> ds.mc.fan("cash", "openai").plot()            # 5-95 %, 25-75 % and median among surviving futures
>>> idata = ds.mc.to_arviz()                      # the thin sample of raw paths as ArviZ InferenceData

Matplotlib and ArviZ are imported only by the methods that need them.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from .output.standard_errors import binomial_se

Z95: float = 1.959963984540054
"""Two-sided 95 % normal quantile."""


class Estimate(NamedTuple):
    """A Monte Carlo estimate of a probability with its standard error and 95 % interval (clipped to [0, 1])."""

    value: float
    se: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.1%} ± {self.se:.1%} (95 %: {self.low:.1%}-{self.high:.1%})"


class Fan(NamedTuple):
    """Quantiles of one variable of one company, ``data`` with dims (quarter, quantile)."""

    data: xr.DataArray
    company_name: str

    def plot(self, ax: Any = None, colour: str | None = None) -> Any:
        """Draw the fan (5-95 %, 25-75 %, median) on ``ax`` (default: the current Axes); returns the Axes."""
        import matplotlib.pyplot as plt

        from .report.charts import fan
        from .report.palette import company_colours

        ax = ax if ax is not None else plt.gca()
        cid = str(self.data.company.values)
        fan(ax, self.data.quarter.values, self.data, colour or company_colours([cid])[cid])
        units = self.data.attrs.get("units", "")
        ax.set(title=f"{self.company_name}: {self.data.attrs.get('long_name', self.data.name)}",
               xlabel="quarter end", ylabel=f"{self.data.name} ({units})" if units else str(self.data.name))
        ax.legend(loc="upper left", fontsize=8)
        return ax


@xr.register_dataset_accessor("mc")
class MonteCarloAccessor:
    """Shortcuts for a run Dataset: probabilities with intervals, fan charts, the thin sample for ArviZ."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    def _probability(self, var: str, company: str, quarter: int) -> Estimate:
        ds = self._ds
        if not 1 <= quarter <= ds.sizes["quarter"]:
            raise ValueError(f"quarter {quarter} is outside 1..{ds.sizes['quarter']} (quarters after as_of)")
        p = float(ds[var].sel(company=company).isel(quarter=quarter - 1))
        se = float(ds[f"{var}_se"].sel(company=company).isel(quarter=quarter - 1)) if f"{var}_se" in ds else (
            float(binomial_se(p, float(ds.attrs["n_paths"]))))
        return Estimate(p, se, max(0.0, p - Z95 * se), min(1.0, p + Z95 * se))

    def survival(self, company: str, quarter: int) -> Estimate:
        """Probability that ``company`` is still independent and solvent ``quarter`` quarters after as_of."""
        return self._probability("survival_prob", company, quarter)

    def default(self, company: str, quarter: int) -> Estimate:
        """Cumulative probability of default by ``quarter``."""
        return self._probability("default_prob", company, quarter)

    def acquired(self, company: str, quarter: int) -> Estimate:
        """Cumulative probability of acquisition by ``quarter``."""
        return self._probability("acquired_prob", company, quarter)

    def fan(self, var: str, company: str) -> Fan:
        """Quantiles of ``var`` (e.g. ``cash``, ``burn``, ``runway_quarters``) of ``company`` by quarter."""
        ds = self._ds
        if var not in ds or "quantile" not in ds[var].dims or "company" not in ds[var].dims:
            raise ValueError(f"{var!r} is not a per-company quantile variable of this Dataset")
        names = dict(zip(map(str, ds.company.values), map(str, ds.company_name.values), strict=True))
        return Fan(ds[var].sel(company=company).transpose("quarter", "quantile"), names[company])

    def paths(self, var: str, company: str | None = None) -> xr.DataArray:
        """The thin sample of ``var`` (``cash`` or ``path_cash``): NaN after the company left."""
        name = var if var.startswith("path_") else f"path_{var}"
        da = self._ds[name]
        return da.sel(company=company) if company is not None else da

    def to_arviz(self, group: str = "prior_predictive") -> Any:
        """The thin sample of raw paths (every ``path_*`` variable) as ArviZ InferenceData.

        Each sampled future is one draw of a single chain, under ``group`` (the futures are simulated from the
        priors, hence ``prior_predictive``). Needs ``pip install arviz``.
        """
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # ArviZ announces its refactor at import
                import arviz as az
        except ImportError as error:
            raise ImportError("ds.mc.to_arviz() needs ArviZ: pip install arviz") from error
        ds = self._ds
        names = [n for n in ds.data_vars if n.startswith("path_")]
        if not names:
            raise ValueError("this Dataset has no thin sample (no path_* variables)")
        sample = ds[names].rename({n: n.removeprefix("path_") for n in names}).rename({"path": "draw"})
        sample = sample.drop_vars("draw").expand_dims(chain=[0]).transpose("chain", "draw", ...)
        sample = sample.assign_coords(draw=np.arange(sample.sizes["draw"]))
        return az.InferenceData(**{group: sample})
