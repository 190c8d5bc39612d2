"""The compiled sampler: reproducible per-block draws, copula correlations, marginals intact."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import tomli_w
from conftest import minimal_tree
from scipy import stats

from mc_engine import compile_sampler, load_priors
from mc_engine.engine.ppf import cdf
from mc_engine.inputs.distributions import flat_params

SEED = 20260630


def key(seed: int = SEED) -> jax.Array:
    return jax.random.key(seed, impl="philox4x32")


@pytest.fixture
def correlated(tmp_path):
    """Priors with four uncertain market inputs of different families and a rank-correlation block."""
    tree = minimal_tree()
    tree["market"]["algo_gain"] = {"ci90": [0.5, 2.0]}
    tree["market"]["hardware_decline"] = {"dist": "pert", "lo": 0.1, "mode": 0.3, "hi": 0.6}
    tree["market"]["reasoning_growth"] = {"dist": "normal", "mean": 0.8, "sd": 0.4}
    tree["market"]["price_elasticity"] = {"dist": "beta", "alpha": 2.0, "beta": 3.0, "lo": 0.5, "hi": 2.0}
    tree["correlation"] = {
        "inputs": ["market.algo_gain", "market.hardware_decline", "market.reasoning_growth",
                   "market.price_elasticity"],
        "matrix": [[1.0, 0.5, -0.3, 0.0], [0.5, 1.0, 0.2, 0.3], [-0.3, 0.2, 1.0, -0.4], [0.0, 0.3, -0.4, 1.0]],
    }
    path = tmp_path / "correlated.toml"
    path.write_bytes(tomli_w.dumps(tree).encode())
    return load_priors(path)


def test_same_key_same_draws_and_prefix_property(correlated):
    sampler = compile_sampler(correlated, block_size=1024)
    big = sampler.sample_inputs(key(), 5000)
    again = sampler.sample_inputs(key(), 5000)
    small = sampler.sample_inputs(key(), 1500)
    for name in big:
        assert big[name].shape == (5000,)
        np.testing.assert_array_equal(np.asarray(big[name]), np.asarray(again[name]))
        np.testing.assert_array_equal(np.asarray(big[name])[:1500], np.asarray(small[name]))
    other = sampler.sample_inputs(key(SEED + 1), 5000)
    assert not np.array_equal(np.asarray(big["market.algo_gain"]), np.asarray(other["market.algo_gain"]))


def test_blocks_drawn_in_any_chunking_agree(correlated):
    sampler = compile_sampler(correlated, block_size=512)
    whole = sampler.draw_blocks(key(), 0, 6)
    parts = [sampler.draw_blocks(key(), first, 2) for first in (0, 2, 4)]
    for name in whole:
        np.testing.assert_array_equal(np.asarray(whole[name]),
                                      np.concatenate([np.asarray(p[name]) for p in parts]))


def test_point_inputs_are_constant(correlated):
    draws = compile_sampler(correlated).sample_inputs(key(), 100)
    assert np.all(np.asarray(draws["market.hardware_vol"]) == np.float32(1.0))
    assert np.all(np.asarray(draws["funding.raise_prob.winter"]) == np.float32(0.5))


def test_copula_recovers_spearman_and_keeps_marginals(correlated):
    """n = 100,000; Spearman SE ~ (1 - rho^2) / sqrt(n) <= 0.0032, tolerance 4 SE + 0.002 float slack."""
    n = 100_000
    draws = compile_sampler(correlated).sample_inputs(key(), n)
    names = correlated.correlation.inputs
    x = np.stack([np.asarray(draws[k], dtype=np.float64) for k in names], axis=1)
    rho, _ = stats.spearmanr(x)
    target = correlated.correlation.spearman
    se = (1 - target**2) / np.sqrt(n)
    assert np.all(np.abs(rho - target) <= 4 * se + 0.002), (rho, target)
    crit = 1.95 / np.sqrt(n)  # KS critical value at the 0.1 % level
    for j, name in enumerate(names):
        dist = correlated.inputs[name].dist
        theta = jax.numpy.asarray(flat_params(dist), dtype=jax.numpy.float32)
        u = np.sort(np.asarray(cdf(dist, theta, jax.numpy.asarray(np.sort(x[:, j]), jax.numpy.float32))))
        ecdf_hi = np.arange(1, n + 1) / n
        d = max(np.max(ecdf_hi - u), np.max(u - (ecdf_hi - 1 / n)))
        assert d < crit, (name, d)


def test_uncorrelated_inputs_stay_independent(correlated):
    n = 50_000
    draws = compile_sampler(correlated).sample_inputs(key(), n)
    a = np.asarray(draws["market.algo_gain"], dtype=np.float64)
    b = np.asarray(draws["market.price_elasticity"], dtype=np.float64)
    rho = stats.spearmanr(a, b)[0]
    assert abs(rho) < 4 / np.sqrt(n)


def test_new_theta_does_not_recompile(correlated):
    sampler = compile_sampler(correlated, block_size=256)
    sampler.draw_blocks(key(), 0, 2)
    before = sampler._jitted._cache_size()
    theta = sampler.theta.copy()
    theta[0] = theta[0] + 0.5
    sampler.draw_blocks(key(), 0, 2, theta=jax.numpy.asarray(theta))
    assert sampler._jitted._cache_size() == before
