"""``ds.mc``: probabilities with 95 % intervals, fan charts, the thin sample for ArviZ."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

import mc_engine  # noqa: F401 - registers the accessor
from mc_engine._accessor import Z95, Estimate

N = 10_000


@pytest.fixture
def ds() -> xr.Dataset:
    quarters = np.array(["2026-09-30", "2026-12-31", "2027-03-31"], dtype="datetime64[ns]")
    p = np.array([[0.99, 0.95, 0.9], [1.0, 1.0, 0.5]])
    levels = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    cash = np.array([[[1, 2, 3, 4, 5]] * 3, [[10, 20, 30, 40, 50]] * 3], dtype=np.float32)
    status = np.zeros((2, 3, 4), np.int8)
    status[0, 1:, 0] = 1
    path_cash = np.ones((2, 3, 4), np.float32)
    path_cash[0, 2, 0] = np.nan
    return xr.Dataset(
        {"survival_prob": (("company", "quarter"), p),
         "survival_prob_se": (("company", "quarter"), np.sqrt(p * (1 - p) / N)),
         "cash": (("company", "quarter", "quantile"), cash, {"units": "USD bn", "long_name": "cash"}),
         "path_cash": (("company", "quarter", "path"), path_cash, {"units": "USD bn"}),
         "path_status": (("company", "quarter", "path"), status)},
        coords={"company": ["coreweave", "acme"], "company_name": ("company", ["CoreWeave", "Acme"]),
                "quarter": quarters, "quantile": levels, "path": np.arange(4)},
        attrs={"n_paths": N})


def test_survival_has_its_interval(ds):
    est = ds.mc.survival("coreweave", 2)
    se = math.sqrt(0.95 * 0.05 / N)
    assert isinstance(est, Estimate)
    assert est.value == pytest.approx(0.95) and est.se == pytest.approx(se)
    assert (est.low, est.high) == pytest.approx((0.95 - Z95 * se, 0.95 + Z95 * se))
    assert ds.mc.survival("acme", 1) == (1.0, 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="outside 1..3"):
        ds.mc.survival("coreweave", 0)


def test_fan_plots_quantiles_on_an_axes(ds):
    fan = ds.mc.fan("cash", "acme")
    assert fan.data.dims == ("quarter", "quantile") and float(fan.data.sel(quantile=0.5)[0]) == 30
    ax = Figure().subplots()
    assert fan.plot(ax=ax) is ax
    assert len(ax.lines) == 1 and len(ax.collections) == 2
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [30, 30, 30])
    assert "USD bn" in ax.get_ylabel()
    with pytest.raises(ValueError, match="not a per-company quantile variable"):
        ds.mc.fan("survival_prob", "acme")
    assert matplotlib.get_backend()  # the accessor leaves the backend alone


def test_to_arviz_puts_each_sampled_future_in_a_draw(ds):
    pytest.importorskip("arviz")
    idata = ds.mc.to_arviz()
    sample = idata.prior_predictive
    assert sample["cash"].dims == ("chain", "draw", "company", "quarter")
    assert sample.sizes["draw"] == 4 and sample.sizes["chain"] == 1
    assert bool(np.isnan(sample["cash"].sel(company="coreweave").isel(chain=0, draw=0, quarter=2)))
