"""The credit table: rating classes, market-implied bands from CDS spreads (closed form), verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from mc_engine.report.credit import SP_FIVE_YEAR_DEFAULT, credit_table, market_band, rating_class, verdict


def test_rating_class_drops_notches():
    assert [rating_class(r) for r in ("AA-", "AA+", "BBB", "B-")] == ["AA", "AA", "BBB", "B"]


def test_market_band_closed_form():
    # 600bp with 40 % recovery: a 10 %/yr risk-neutral intensity; real-world 2-3x lower over 6 years
    lo, hi = market_band(600.0, 6.0)
    assert lo == pytest.approx(1 - math.exp(-0.1 * 6 / 3))
    assert hi == pytest.approx(1 - math.exp(-0.1 * 6 / 2))
    assert lo < hi


def test_verdicts():
    assert verdict(0.10, 0.003, None, (0.18, 0.26)) == "below the market-implied band"
    assert verdict(0.20, 0.003, None, (0.18, 0.26)) == "inside the market-implied band"
    assert verdict(0.0, 0.0, 0.0034, None).startswith("below the rating's rate")
    assert verdict(0.004, 0.001, 0.0034, None) == "within 3x of the rating's rate"
    assert verdict(0.05, 0.001, 0.0136, None).startswith("above")


def test_credit_table_reads_the_dataset():
    ds = xr.Dataset(
        {"default_prob": (("company", "quarter"), np.array([[0.0, 0.01], [0.0, 0.2], [0.0, 0.5]])),
         "default_prob_se": (("company", "quarter"), np.full((3, 2), 0.001))},
        coords={"company": ["a", "b", "c"], "quarter": [1, 2], "rating": ("company", ["BBB", "BB-", ""]),
                "cds_bp": ("company", [np.nan, 600.0, np.nan])},
    )
    rows = {r.company: r for r in credit_table(ds)}
    assert set(rows) == {"a", "b"}  # c has neither a rating nor a spread
    assert rows["a"].rating_rate == SP_FIVE_YEAR_DEFAULT["BBB"] and rows["a"].market_band is None
    assert rows["b"].market_band == market_band(600.0, 0.5)
    assert rows["a"].default_prob == 0.01


def test_credit_table_block_for_the_report():
    from mc_engine.report.sections import credit_table_block

    ds = xr.Dataset(
        {"default_prob": (("company", "quarter"), np.array([[0.0, 0.01], [0.0, 0.0]])),
         "default_prob_se": (("company", "quarter"), np.full((2, 2), 0.001))},
        coords={"company": ["a", "b"], "quarter": [1, 2], "rating": ("company", ["BBB", ""]),
                "cds_bp": ("company", [140.0, np.nan])},
    )
    table = credit_table_block(ds, {"a": "A Co", "b": "B Co"})
    assert [r[0] for r in table.rows] == ["A Co"]  # B has neither a rating nor a spread
    assert table.rows[0][1] == "BBB" and table.rows[0][3] == "1.36% (5-yr)"
    assert table.rows[0][-1] == "above the market-implied band"
