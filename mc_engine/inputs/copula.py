"""Gaussian copula on the host: rank to normal-scale correlation, repair, and factor.

A prior file gives Spearman rank correlations between inputs. Under a Gaussian
copula, normal scores with Pearson correlation ``rho`` give ranks with Spearman
correlation ``(6 / pi) arcsin(rho / 2)``, so the copula uses
``rho = 2 sin(pi r / 6)``. A hand-written matrix need not be positive
semi-definite; :func:`nearest_correlation` repairs it, and :func:`normal_factor`
gives the lower-triangular ``L`` that the sampler multiplies independent normal
scores by (``z @ L.T``). Everything here is numpy, float64, run once per prior file.
"""

from __future__ import annotations

import numpy as np


def spearman_to_pearson(r: np.ndarray) -> np.ndarray:
    """Normal-scale (Pearson) correlation giving Spearman correlation ``r`` under a Gaussian copula.

    Args:
        r: Spearman rank correlations, shape (k, k) (any shape works elementwise), in [-1, 1].

    Returns:
        ``2 sin(pi r / 6)`` elementwise, float64, same shape; the diagonal of a
        square matrix is set to exactly 1.
    """
    r = np.asarray(r, dtype=np.float64)
    out = 2.0 * np.sin(np.pi * r / 6.0)
    if out.ndim == 2 and out.shape[0] == out.shape[1]:
        np.fill_diagonal(out, 1.0)
    return out


def is_psd(a: np.ndarray, tol: float = 1e-10) -> bool:
    """Whether symmetric ``a`` (shape (k, k)) is positive semi-definite: smallest eigenvalue >= -tol."""
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return True
    sym = 0.5 * (a + a.T)
    return bool(np.linalg.eigvalsh(sym)[0] >= -tol)


def _project_psd(a: np.ndarray) -> np.ndarray:
    """Nearest (Frobenius) positive semi-definite matrix to symmetric ``a``: clip eigenvalues at 0."""
    eigenvalues, vectors = np.linalg.eigh(a)
    out = (vectors * np.maximum(eigenvalues, 0.0)) @ vectors.T
    return 0.5 * (out + out.T)


def nearest_correlation(a: np.ndarray, tol: float = 1e-10, max_iter: int = 1000) -> tuple[np.ndarray, float]:
    """Nearest correlation matrix in Frobenius norm (Higham 2002, alternating projections).

    Alternates the projection onto positive semi-definite matrices (with
    Dykstra's correction, which makes the limit the nearest point of the
    intersection rather than just some point of it) and the projection onto
    unit-diagonal matrices, until successive iterates change by less than
    ``tol`` relative to their size. The PSD iterate is then rescaled to a unit
    diagonal (a congruence, so it stays PSD exactly; it moves by about ``tol``).

    Args:
        a: symmetric matrix with unit diagonal, shape (k, k) (e.g. a normal-scale correlation
            matrix written by hand).
        tol: relative convergence tolerance.
        max_iter: most iterations; the last iterate is used if it is reached.

    Returns:
        ``(c, distance)``: ``c`` symmetric, unit-diagonal and positive semi-definite, shape (k, k),
        float64; ``distance = ||c - a||_F``. An ``a`` that is already a correlation matrix
        (symmetric, unit diagonal and PSD, within ``tol``) is returned as a float64 copy with
        distance 0.0.
    """
    a = np.asarray(a, dtype=np.float64)
    is_correlation = np.allclose(a, a.T, rtol=0.0, atol=tol) and np.allclose(
        np.diag(a), 1.0, rtol=0.0, atol=tol
    )
    if is_correlation and is_psd(a, tol):
        return a.copy(), 0.0
    target = 0.5 * (a + a.T)
    y = target.copy()
    x = y
    correction = np.zeros_like(y)
    for _ in range(max_iter):
        x_prev, y_prev = x, y
        r = y - correction
        x = _project_psd(r)
        correction = x - r
        y = x.copy()
        np.fill_diagonal(y, 1.0)
        scale = max(np.linalg.norm(y), 1.0)
        if (
            np.linalg.norm(x - x_prev) <= tol * scale
            and np.linalg.norm(y - y_prev) <= tol * scale
            and np.linalg.norm(y - x) <= tol * scale
        ):
            break
    inv_sqrt_diag = 1.0 / np.sqrt(np.diag(x))
    c = x * np.outer(inv_sqrt_diag, inv_sqrt_diag)
    c = 0.5 * (c + c.T)
    np.fill_diagonal(c, 1.0)
    return c, float(np.linalg.norm(c - a))


def normal_factor(pearson: np.ndarray) -> np.ndarray:
    """Lower-triangular ``L`` with ``L @ L.T == pearson`` (to rounding).

    Cholesky when ``pearson`` is positive definite. A singular (or, within
    rounding, slightly indefinite) PSD matrix has no Cholesky factor in floating
    point; then ``F = V sqrt(max(lambda, 0))`` from the symmetric eigen-decomposition
    satisfies ``F F^T = pearson`` and the QR decomposition ``F^T = Q R`` turns it
    into the lower-triangular ``L = R^T`` (``L L^T = R^T Q^T Q R = F F^T``), with
    a non-negative diagonal.

    Args:
        pearson: normal-scale correlation matrix, symmetric PSD, shape (k, k).

    Returns:
        ``L``, lower triangular, float64, shape (k, k).
    """
    pearson = np.asarray(pearson, dtype=np.float64)
    try:
        return np.linalg.cholesky(pearson)
    except np.linalg.LinAlgError:
        pass
    eigenvalues, vectors = np.linalg.eigh(0.5 * (pearson + pearson.T))
    factor = vectors * np.sqrt(np.maximum(eigenvalues, 0.0))
    _, r = np.linalg.qr(factor.T)
    lower = r.T
    signs = np.where(np.diag(lower) < 0, -1.0, 1.0)
    return np.tril(lower * signs)
