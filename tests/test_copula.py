"""Host-side Gaussian copula helpers: rank-to-normal correlation, nearest correlation matrix, factor."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mc_engine.inputs.copula import is_psd, nearest_correlation, normal_factor, spearman_to_pearson

# Unit diagonal and symmetric, but not PSD: x1 ~ x2 and x2 ~ x3 strongly, x1 ~ x3 strongly negative.
NON_PSD = np.array(
    [
        [1.0, 0.9, -0.7],
        [0.9, 1.0, 0.9],
        [-0.7, 0.9, 1.0],
    ]
)


def naive_repair(a: np.ndarray) -> np.ndarray:
    """Clip eigenvalues at 0, then rescale to a unit diagonal: a valid correlation matrix, rarely the nearest."""
    eigenvalues, vectors = np.linalg.eigh(a)
    clipped = (vectors * np.maximum(eigenvalues, 0.0)) @ vectors.T
    d = 1.0 / np.sqrt(np.diag(clipped))
    return clipped * np.outer(d, d)


def test_spearman_to_pearson_known_values() -> None:
    r = np.array([[1.0, 0.5, -0.5], [0.5, 1.0, 0.0], [-0.5, 0.0, 1.0]])
    rho = spearman_to_pearson(r)
    expected_half = 2.0 * math.sin(math.pi / 12.0)  # 0.5176380902
    np.testing.assert_allclose(rho[0, 1], expected_half, rtol=1e-15)
    np.testing.assert_allclose(rho[0, 2], -expected_half, rtol=1e-15)
    assert rho[1, 2] == 0.0
    np.testing.assert_array_equal(np.diag(rho), 1.0)
    # r = +-1 stays +-1 (2 sin(pi/6) = 1); elementwise on vectors too
    np.testing.assert_allclose(
        spearman_to_pearson(np.array([1.0, -1.0, 0.3])), [1.0, -1.0, 2 * math.sin(0.05 * math.pi)]
    )


def test_spearman_to_pearson_matches_gaussian_copula_ranks() -> None:
    """Normal scores with the converted correlation have the requested Spearman correlation.

    n = 200_000 pairs; the SE of the sample Spearman correlation is about (1 - r^2) / sqrt(n) < 0.0023,
    so 4 SE is 0.01.
    """
    from scipy import stats

    target = 0.6
    rho = spearman_to_pearson(np.array([[1.0, target], [target, 1.0]]))
    rng = np.random.default_rng(20_260_630)
    z = rng.standard_normal((200_000, 2)) @ normal_factor(rho).T
    assert abs(stats.spearmanr(z[:, 0], z[:, 1]).statistic - target) < 0.01


def test_is_psd() -> None:
    assert is_psd(np.eye(3))
    assert is_psd(np.ones((3, 3)))  # singular, eigenvalues 3, 0, 0
    assert not is_psd(NON_PSD)
    assert not is_psd(np.array([[1.0, 0.0], [0.0, -1e-8]]))
    assert is_psd(np.array([[1.0, 0.0], [0.0, -1e-12]]))  # within tol


def test_nearest_correlation_repairs_non_psd() -> None:
    repaired, distance = nearest_correlation(NON_PSD)
    assert is_psd(repaired)
    np.testing.assert_array_equal(repaired, repaired.T)
    np.testing.assert_array_equal(np.diag(repaired), 1.0)
    assert distance > 0.0
    assert distance == pytest.approx(np.linalg.norm(repaired - NON_PSD), rel=1e-12)
    # the nearest correlation matrix is no farther than any other one, e.g. the naive repair
    naive = naive_repair(NON_PSD)
    assert is_psd(naive)
    assert distance <= np.linalg.norm(naive - NON_PSD) + 1e-9
    # and it is a local optimum: no small step along random symmetric zero-diagonal directions,
    # projected back to a correlation matrix, gets closer
    rng = np.random.default_rng(7)
    for _ in range(20):
        step = rng.standard_normal((3, 3)) * 1e-3
        step = step + step.T
        np.fill_diagonal(step, 0.0)
        candidate = naive_repair(repaired + step)
        assert np.linalg.norm(candidate - NON_PSD) >= distance - 1e-9


def test_nearest_correlation_known_answer() -> None:
    """Higham (2002), section 4: the nearest correlation matrix to this PSD but non-unit-diagonal matrix."""
    a = np.array(
        [
            [2.0, -1.0, 0.0, 0.0],
            [-1.0, 2.0, -1.0, 0.0],
            [0.0, -1.0, 2.0, -1.0],
            [0.0, 0.0, -1.0, 2.0],
        ]
    )
    expected = np.array(
        [
            [1.0000, -0.8084, 0.1916, 0.1068],
            [-0.8084, 1.0000, -0.6562, 0.1916],
            [0.1916, -0.6562, 1.0000, -0.8084],
            [0.1068, 0.1916, -0.8084, 1.0000],
        ]
    )
    repaired, distance = nearest_correlation(a)
    np.testing.assert_allclose(repaired, expected, atol=1e-4)
    # the published matrix is rounded to 4 decimals: its distance from a agrees to ~1e-4
    assert distance == pytest.approx(np.linalg.norm(expected - a), abs=2e-4)


def test_nearest_correlation_leaves_psd_unchanged() -> None:
    a = np.array([[1.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.0]])
    repaired, distance = nearest_correlation(a)
    assert distance == 0.0
    np.testing.assert_array_equal(repaired, a)
    assert repaired is not a


@pytest.mark.parametrize(
    "pearson",
    [
        np.array([[1.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.0]]),  # full rank
        np.ones((3, 3)),  # rank 1
        nearest_correlation(NON_PSD)[0],  # rank 2 (the repair sits on the PSD boundary)
        np.array([[1.0, 0.5, 0.5], [0.5, 1.0, 1.0], [0.5, 1.0, 1.0]]),  # two identical inputs
    ],
    ids=["full_rank", "rank_1", "repaired", "duplicate_input"],
)
def test_normal_factor_reproduces_matrix(pearson: np.ndarray) -> None:
    lower = normal_factor(pearson)
    assert lower.shape == pearson.shape
    np.testing.assert_array_equal(lower, np.tril(lower))
    assert (np.diag(lower) >= 0).all()
    np.testing.assert_allclose(lower @ lower.T, pearson, atol=1e-12)
