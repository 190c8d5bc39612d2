"""Conventions a run Dataset keeps for the people who open it in a notebook.

- One dimension order for every variable: ``company``, ``quarter``, then what a variable adds (``quantile``,
  ``path``, ``input``, ``regime``, ``bounds``): ``ds.cash`` is (company, quarter, quantile) and ``ds.path_cash``
  (company, quarter, path).
- Sampled paths stop where the company stops: a company's ``path_*`` figures are NaN in the quarters after the
  one in which it defaulted or was acquired (``path_status`` still says which), so a plain mean over paths is a
  mean over the futures in which the company exists.
- Each probability names its Monte Carlo standard error (``ancillary_variables``).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

DIMENSION_ORDER: tuple[str, ...] = ("company", "quarter")
"""Leading dimensions of every variable that has them, in this order."""
PROBABILITIES: tuple[str, ...] = ("survival_prob", "default_prob", "acquired_prob")


def gone(ds: xr.Dataset) -> xr.DataArray:
    """True where a sampled company left in an earlier quarter (dims of ``path_status``)."""
    status = ds.path_status
    left = (status != 0).astype(np.int8)
    return left.shift(quarter=1, fill_value=0).astype(bool)


def finalize(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the conventions of the module docstring applied."""
    if "path_status" in ds:
        after = gone(ds)
        for name, var in ds.data_vars.items():
            if (name.startswith("path_") and name != "path_status" and "company" in var.dims
                    and np.issubdtype(var.dtype, np.floating)):
                ds[name] = var.where(~after).astype(var.dtype)
                ds[name].attrs = {**var.attrs, "comment": "NaN in the quarters after the company defaulted or "
                                                          "was acquired (path_status)"}
    for name in PROBABILITIES:
        if name in ds and f"{name}_se" in ds:
            ds[name].attrs["ancillary_variables"] = f"{name}_se"
    return ds.transpose(*[d for d in DIMENSION_ORDER if d in ds.dims], ...)
