"""The credit table: each company's six-year default probability beside its rating's historical band and its
market-implied band (design notes section 7.3).

Historical: S&P 2024 annual global corporate default study, five-year cumulative default rates by rating class.
Market-implied: a five-year CDS spread ``s`` gives a risk-neutral default intensity ``s / (1 - R)`` with the
market's standard recovery ``R = 40 %``; real-world intensities are 2-3x lower, so the band is
``1 - exp(-6 s / (1 - R) / k)`` for ``k`` from 3 to 2, over the run's horizon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import xarray as xr

SP_FIVE_YEAR_DEFAULT: dict[str, float] = {
    "AAA": 0.0034, "AA": 0.0028, "A": 0.0039, "BBB": 0.0136, "BB": 0.0575, "B": 0.156, "CCC": 0.465,
}
"""S&P 2024 annual default study, global corporates: five-year cumulative default rate by rating class."""
RECOVERY: float = 0.40
"""Recovery rate the market assumes in CDS pricing."""
RISK_PREMIUM: tuple[float, float] = (2.0, 3.0)
"""Risk-neutral over real-world default intensity for corporate credits (EST: 2-3x)."""


@dataclass(frozen=True)
class CreditRow:
    """One company of the credit table; probabilities over ``years``."""

    company: str
    rating: str
    default_prob: float
    default_se: float
    rating_rate: float | None
    market_band: tuple[float, float] | None
    years: float
    verdict: str


def rating_class(rating: str) -> str:
    """``"AA-"`` -> ``"AA"``: the class of a notched rating."""
    return rating.rstrip("+-")


def market_band(cds_bp: float, years: float) -> tuple[float, float]:
    """Real-world default probability over ``years`` implied by a CDS spread, low to high."""
    hazard = cds_bp / 1e4 / (1 - RECOVERY)
    return tuple(1 - math.exp(-hazard * years / k) for k in sorted(RISK_PREMIUM, reverse=True))  # type: ignore[return-value]


def verdict(p: float, se: float, rating_rate: float | None, band: tuple[float, float] | None) -> str:
    """Where the model sits: inside the market band, or within a factor of 3 of the rating's rate, or not."""
    if band is not None:
        lo, hi = band
        if lo - 3 * se <= p <= hi + 3 * se:
            return "inside the market-implied band"
        return "below the market-implied band" if p < lo else "above the market-implied band"
    if rating_rate is not None:
        if p + 3 * se < rating_rate / 3:
            return "below the rating's rate (more than 3x)"
        if p - 3 * se > rating_rate * 3:
            return "above the rating's rate (more than 3x)"
        return "within 3x of the rating's rate"
    return "no rating or spread in the priors"


def credit_table(ds: xr.Dataset) -> list[CreditRow]:
    """Rows for every company with a rating or a spread in the priors, at the run's horizon."""
    rows = []
    years = ds.sizes["quarter"] / 4
    for c in ds.company.values:
        rating = str(ds.rating.sel(company=c).values) if "rating" in ds.coords else ""
        cds = float(ds.cds_bp.sel(company=c).values) if "cds_bp" in ds.coords else math.nan
        if not rating and math.isnan(cds):
            continue
        p = float(ds.default_prob.sel(company=c).isel(quarter=-1))
        se = float(ds.default_prob_se.sel(company=c).isel(quarter=-1))
        rate = SP_FIVE_YEAR_DEFAULT.get(rating_class(rating)) if rating else None
        band = None if math.isnan(cds) else market_band(cds, years)
        rows.append(CreditRow(str(c), rating or "-", p, se, rate, band, years, verdict(p, se, rate, band)))
    return rows
