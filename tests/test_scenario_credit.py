"""Credit behaviour of the shipped stress scenarios (model v2): hyperscaler default ceilings in a funding winter
and in a winter lasting the whole horizon, and gross margins off the clip in a price war.

One traced run per scenario, N_PATHS paths, SEED, 24 quarters. Bounds are the design notes' (section 7.2: bond
access does not depend on the equity regime) with the tolerance of 3 binomial standard errors at N_PATHS.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from mc_engine.engine.trace import trace_paths
from mc_engine.inputs.loader import load_priors

SCENARIOS = Path(__file__).resolve().parents[1] / "priors" / "scenarios"
N_PATHS = 8192
SEED = 3
HORIZON = 24

WINTER_CEILINGS = {
    "funding_winter": {"microsoft": 0.02, "alphabet": 0.02, "amazon": 0.03, "meta": 0.04},
    "winter_throughout": {"microsoft": 0.03, "alphabet": 0.03},
}
"""Six-year default ceilings per scenario (issue: credit behaviour, 'Done when')."""


@cache
def traced(name: str) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    priors = load_priors(SCENARIOS / f"{name}.toml")
    return priors.company_ids, trace_paths(priors, N_PATHS, SEED, HORIZON)


@pytest.mark.parametrize("scenario", sorted(WINTER_CEILINGS))
def test_hyperscalers_keep_bond_access_in_winters(scenario: str) -> None:
    ids, tr = traced(scenario)
    for company, ceiling in WINTER_CEILINGS[scenario].items():
        p = float(np.mean(tr["status"][-1, :, ids.index(company)] == 1))
        tol = 3 * math.sqrt(max(p * (1 - p), 1 / N_PATHS) / N_PATHS)
        assert p <= ceiling + tol, f"{scenario}: {company} defaults in {p:.4f} of futures (ceiling {ceiling})"
        assert not np.any(tr["status"][:, :, ids.index(company)] == 2), f"{scenario}: {company} acquired"


def test_winter_throughout_is_winter_every_quarter() -> None:
    _, tr = traced("winter_throughout")
    assert np.all(tr["regime"] == 2)


def test_price_war_margins_stay_off_the_clip() -> None:
    """No company's median gross margin among live paths is below -1 at the horizon of a price war."""
    ids, tr = traced("price_war")
    for j, company in enumerate(ids):
        alive = tr["status"][-1, :, j] == 0
        if alive.sum() < 100:
            continue
        median = float(np.median(tr["gross_margin"][-1, alive, j]))
        assert median >= -1.0, f"price_war: {company} median gross margin {median:.2f} at the horizon"
