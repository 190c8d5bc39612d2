"""A distribution family plugged in from outside the package: one class, nothing else edited.

The exponential below is registered for this module only. A prior file then names it like a built-in
(``dist = "exponential"``): the loader validates it with the class's form, the float32 checks use its reach,
the quantile functions and moments come from its methods (truncation and the grid for truncated moments are
generic), and a simulation draws it. Its numbers are checked against scipy's exponential.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from conftest import minimal_tree
from scipy import stats

from mc_engine.engine.ppf import cdf, mean_sd, quantiles
from mc_engine.engine.simulate import simulate_raw
from mc_engine.errors import PriorError
from mc_engine.inputs.distributions import Dist, flat_params, support
from mc_engine.inputs.families import FAMILY, BaseForm, Family, PositiveFinite, unregister
from mc_engine.inputs.loader import load_priors

RATE = 0.04  # mean 25
QS = [0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999]


class ExponentialForm(BaseForm):
    rate: PositiveFinite

    def params(self) -> tuple[float, ...]:
        return (self.rate,)


class Exponential(Family):
    name, params, Form, closed_form = "exponential", ("rate",), ExponentialForm, True

    def support(self, p):
        return 0.0, math.inf

    def moments(self, p, bounds):
        if self._cut(p, bounds):
            return None
        return 1 / p[0], 2 / p[0] ** 2

    def reach(self, p):
        # the ppf at u = 2**-24 and 1 - 2**-24; -log(1 - u) / rate rounds relative to its value
        return -math.log1p(-(2.0**-24)) / p[0] * (1 - 1e-6), 24 * math.log(2) / p[0] * (1 + 1e-6), 0.0

    def cdf(self, p, x, xp):
        return xp.where(x > 0, 1.0 - xp.exp(-p[0] * x), 0.0)

    def ppf(self, p, u, xp):
        return -xp.log1p(-u) / p[0]

    def bracket(self, p, tiny, xp):
        return xp.zeros((), p[0].dtype), -xp.log(xp.asarray(tiny * tiny, p[0].dtype)) / p[0]


@pytest.fixture(scope="module")
def exponential() -> Iterator[Family]:
    """The plug-in family, registered for this module only (the registry is process-wide)."""
    from mc_engine.inputs.families import register

    register(Exponential)
    yield FAMILY["exponential"]
    unregister("exponential")


def _priors_file(folder: Path, capacity: object) -> Path:
    tree = minimal_tree()
    tree["funding"]["round_capacity"] = capacity
    path = folder / "exponential.toml"
    path.write_bytes(tomli_w.dumps(tree).encode())
    return path


def test_quantiles_cdf_and_moments_come_from_the_class(exponential: Family) -> None:
    dist = Dist("exponential", (RATE,))
    ref = stats.expon(scale=1 / RATE)
    # float32: u = 0.999 is stored to 3e-8, i.e. 3e-5 of 1 - u, 4e-6 of the quantile's log
    np.testing.assert_allclose(quantiles(dist, QS), ref.ppf(QS), rtol=1e-5)
    x = np.asarray(ref.ppf(QS), np.float32)
    np.testing.assert_allclose(np.asarray(cdf(dist, np.asarray(flat_params(dist), np.float32), x)), QS, atol=1e-6)
    np.testing.assert_allclose(mean_sd(dist), (ref.mean(), ref.std()), rtol=1e-12)
    assert support(dist) == (0.0, math.inf)


def test_truncation_is_generic(exponential: Family) -> None:
    """Bounds truncate a plugged-in family like a built-in: quantiles, and moments by the grid."""
    lo, hi = 10.0, 60.0
    dist = Dist("exponential", (RATE,), (lo, hi))
    ref = stats.truncexpon(b=(hi - lo) * RATE, loc=lo, scale=1 / RATE)
    np.testing.assert_allclose(quantiles(dist, QS), ref.ppf(QS), rtol=1e-5)
    np.testing.assert_allclose(mean_sd(dist), (ref.mean(), ref.std()), rtol=1e-5)


def test_a_prior_file_names_it_and_a_run_draws_it(exponential: Family, tmp_path: Path) -> None:
    """8,192 paths drawn by the engine pass a KS test against the exponential (fixed seed; the statistic's
    5 % critical value at this n is 0.015, its 0.1 % one 0.0215)."""
    path = _priors_file(tmp_path, {"dist": "exponential", "rate": RATE, "source": "test"})
    priors = load_priors(path)
    assert priors.inputs["funding.round_capacity"].dist == Dist("exponential", (RATE,))
    raw = simulate_raw(priors, 8192, seed=5, horizon=4, sensitivity_paths=8192)
    drawn = raw.sens_inputs["funding.round_capacity"]
    assert drawn.shape == (8192,)
    ks = stats.kstest(drawn, stats.expon(scale=1 / RATE).cdf).statistic
    assert ks < 0.0215


def test_its_form_checks_the_prior_file(exponential: Family, tmp_path: Path) -> None:
    path = _priors_file(tmp_path, {"dist": "exponential", "rate": -1.0, "source": "test"})
    with pytest.raises(PriorError, match=r"funding\.round_capacity\.rate.*must be > 0"):
        load_priors(path)
    path = _priors_file(tmp_path, {"dist": "exponential", "mean": 25.0, "source": "test"})
    with pytest.raises(PriorError, match=r"unknown key 'mean'; allowed here: .*rate"):
        load_priors(path)


def test_an_unregistered_family_is_refused_by_name(tmp_path: Path) -> None:
    assert "gamma" not in FAMILY
    path = _priors_file(tmp_path, {"dist": "gamma", "shape": 2.0, "source": "test"})
    with pytest.raises(PriorError, match=r"unknown distribution family 'gamma'; allowed: point, normal"):
        load_priors(path)


def test_a_name_is_registered_once(exponential: Family) -> None:
    from mc_engine.inputs.families import register

    with pytest.raises(ValueError, match="'exponential' is registered already"):
        register(Exponential)
    with pytest.raises(ValueError, match="'normal' is registered already"):
        register(type("Normal2", (Exponential,), {"name": "normal"}))
