"""Quantile functions, CDFs and moments of input distributions against scipy.

Statistical checks draw N = 100_000 uniforms from a fixed philox key and use
tolerances tied to Monte Carlo error: a one-sample Kolmogorov-Smirnov D below
the 0.1 %-level critical value 1.95 / sqrt(N), sample means and variances within
4 standard errors of the exact values, and fractions within 4 binomial standard
errors. Deterministic checks (round trips, closed forms) state float32 tolerances.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from mc_engine.engine.ppf import cdf, mean_sd, ppf, ppf_from_normal, quantiles
from mc_engine.inputs.distributions import Dist, ci90_dist, flat_params, n_flat, structure, support

SEED = 20_260_630
N = 100_000
KS_CRIT = 1.95 / math.sqrt(N)  # one-sample KS critical value at the 0.1 % level, large-n form
N_SE = 4.0  # tolerance in standard errors

INF = math.inf


# Compiled once per structure (family tree) and shape: the numbers travel in theta.
PPF = jax.jit(ppf, static_argnums=0)
CDF = jax.jit(cdf, static_argnums=0)


def uniforms(seed: int = SEED, n: int = N) -> jax.Array:
    return jax.random.uniform(jax.random.key(seed, impl="philox4x32"), (n,))


def run_ppf(dist: Dist, u: jax.Array) -> jax.Array:
    return PPF(structure(dist), jnp.asarray(flat_params(dist)), u)


def run_cdf(dist: Dist, x: jax.Array) -> jax.Array:
    return CDF(structure(dist), jnp.asarray(flat_params(dist)), x)


def draw(dist: Dist, seed: int = SEED, n: int = N) -> np.ndarray:
    """n values of ``dist`` from uniforms of a fixed philox key, as float64 (computed in float32)."""
    x = run_ppf(dist, uniforms(seed, n))
    assert x.shape == (n,)
    assert x.dtype == jnp.float32
    x = np.asarray(x, dtype=np.float64)
    assert np.isfinite(x).all()
    return x


def assert_ks(x: np.ndarray, exact_cdf: Callable[[np.ndarray], np.ndarray]) -> None:
    d = stats.kstest(x, exact_cdf).statistic
    assert d < KS_CRIT, f"KS D = {d:.5f} >= {KS_CRIT:.5f} (0.1 % level, n = {len(x)})"


def assert_fraction(hits: np.ndarray, p: float) -> None:
    se = math.sqrt(p * (1 - p) / hits.size)
    assert abs(hits.mean() - p) < N_SE * se, f"fraction {hits.mean():.5f} vs {p} (SE {se:.2g})"


# ---------------------------------------------------------------------------
# Every family against scipy

PERT_ALPHA, PERT_BETA = 1 + 4 * (4 - 3) / (6 - 3), 1 + 4 * (6 - 4) / (6 - 3)

FAMILY_CASES = {
    "normal": (Dist("normal", (1.5, 0.7)), stats.norm(1.5, 0.7)),
    "lognormal": (Dist("lognormal", (math.log(2.3), 0.4)), stats.lognorm(0.4, scale=2.3)),
    "beta": (Dist("beta", (2.0, 5.0, 0.0, 1.0)), stats.beta(2.0, 5.0)),
    "beta_u_shaped": (Dist("beta", (0.5, 0.5, 0.0, 1.0)), stats.beta(0.5, 0.5)),
    "beta_scaled": (Dist("beta", (0.7, 3.0, -2.0, 3.0)), stats.beta(0.7, 3.0, loc=-2.0, scale=5.0)),
    "beta_narrow": (Dist("beta", (60.0, 40.0, 0.0, 1.0)), stats.beta(60.0, 40.0)),
    "uniform": (Dist("uniform", (3.0, 6.0)), stats.uniform(3.0, 3.0)),
    "triangular": (Dist("triangular", (3.0, 4.0, 6.0)), stats.triang(1 / 3, loc=3.0, scale=3.0)),
    "triangular_mode_at_lo": (Dist("triangular", (0.0, 0.0, 2.0)), stats.triang(0.0, loc=0.0, scale=2.0)),
    "pert": (Dist("pert", (3.0, 4.0, 6.0, 4.0)), stats.beta(PERT_ALPHA, PERT_BETA, loc=3.0, scale=3.0)),
    "pert_lamb_10": (Dist("pert", (0.0, 0.9, 1.0, 10.0)), stats.beta(10.0, 2.0)),
}


@pytest.mark.parametrize("name", sorted(FAMILY_CASES))
def test_family_matches_scipy(name: str) -> None:
    """KS, mean (4 SE) and variance (4 SE, SE = sqrt((mu4 - sigma^4) / n)) of N = 100_000 draws."""
    dist, ref = FAMILY_CASES[name]
    x = draw(dist)
    assert_ks(x, ref.cdf)
    mean, var, _, excess_kurtosis = (float(v) for v in ref.stats(moments="mvsk"))
    mu4 = (excess_kurtosis + 3.0) * var**2
    se_mean = math.sqrt(var / N)
    se_var = math.sqrt((mu4 - var**2) / N)
    assert abs(x.mean() - mean) < N_SE * se_mean
    assert abs(x.var(ddof=1) - var) < N_SE * se_var
    lo, hi = support(dist)
    assert lo <= x.min() and x.max() <= hi


@pytest.mark.parametrize("name", sorted(FAMILY_CASES))
def test_mean_sd_matches_scipy(name: str) -> None:
    """Closed-form moments agree with scipy to 1e-9 relative."""
    dist, ref = FAMILY_CASES[name]
    mean, sd = mean_sd(dist)
    assert mean == pytest.approx(ref.mean(), rel=1e-9, abs=1e-12)
    assert sd == pytest.approx(ref.std(), rel=1e-9)


@pytest.mark.parametrize("name", ["normal", "lognormal", "beta_scaled", "triangular"])
def test_quantiles_match_scipy(name: str) -> None:
    """Host-side quantile table to float32 precision (rtol 2e-5)."""
    dist, ref = FAMILY_CASES[name]
    qs = [0.01, 0.05, 0.5, 0.95, 0.99]
    np.testing.assert_allclose(quantiles(dist, qs), ref.ppf(qs), rtol=2e-5, atol=2e-6)


def test_beta_cdf_accuracy_against_scipy() -> None:
    """The float32 regularised incomplete beta is within the documented error of scipy's (float64)."""
    x = jnp.linspace(0.0, 1.0, N, dtype=jnp.float32)  # N points: shares the compiled CDF of other tests
    x64 = np.asarray(x, dtype=np.float64)
    for (a, b), tol in [
        ((0.05, 0.05), 1.5e-6),
        ((0.5, 0.5), 1.5e-6),
        ((2.0, 5.0), 1.5e-6),
        ((0.2, 3.0), 1.5e-6),
        ((3.0, 0.3), 1.5e-6),
        ((10.0, 10.0), 1.5e-6),
        ((50.0, 60.0), 1e-5),
        ((200.0, 2.0), 1e-5),
        ((1000.0, 1000.0), 1e-5),
    ]:
        dist = Dist("beta", (a, b, 0.0, 1.0))
        got = np.asarray(run_cdf(dist, x), dtype=np.float64)
        err = np.abs(got - stats.beta(a, b).cdf(x64)).max()
        assert err < tol, f"beta({a}, {b}): max |F - F_scipy| = {err:.2e} >= {tol:.0e}"


# ---------------------------------------------------------------------------
# Truncation


def truncated_cdf(ref, lo: float, hi: float) -> Callable[[np.ndarray], np.ndarray]:
    f_lo, f_hi = ref.cdf(lo), ref.cdf(hi)
    return lambda x: np.clip((ref.cdf(np.clip(x, lo, hi)) - f_lo) / (f_hi - f_lo), 0.0, 1.0)


TRUNCATED_CASES = {
    "normal_both": (Dist("normal", (0.0, 1.0), bounds=(-0.5, 2.0)), stats.norm(0.0, 1.0), (-0.5, 2.0)),
    "normal_lower": (Dist("normal", (0.2, 0.3), bounds=(0.0, INF)), stats.norm(0.2, 0.3), (0.0, INF)),
    "lognormal_upper": (Dist("lognormal", (0.0, 1.0), bounds=(-INF, 3.0)), stats.lognorm(1.0), (0.0, 3.0)),
    "beta_both": (Dist("beta", (2.0, 5.0, 0.0, 1.0), bounds=(0.1, 0.5)), stats.beta(2.0, 5.0), (0.1, 0.5)),
    "triangular_lower": (
        Dist("triangular", (3.0, 4.0, 6.0), bounds=(4.5, INF)),
        stats.triang(1 / 3, loc=3.0, scale=3.0),
        (4.5, 6.0),
    ),
}


@pytest.mark.parametrize("name", sorted(TRUNCATED_CASES))
def test_truncation(name: str) -> None:
    """Draws respect the bounds; KS against (F(x) - F(lo)) / (F(hi) - F(lo)); mean_sd against quadrature."""
    dist, ref, (lo, hi) = TRUNCATED_CASES[name]
    x = draw(dist)
    assert x.min() >= lo and x.max() <= hi
    assert support(dist) == (lo, hi)
    exact = truncated_cdf(ref, lo, hi)
    assert_ks(x, exact)

    mass = ref.cdf(hi) - ref.cdf(lo)
    m1 = integrate.quad(lambda t: t * ref.pdf(t), lo, hi)[0] / mass
    m2 = integrate.quad(lambda t: t * t * ref.pdf(t), lo, hi)[0] / mass
    mean, sd = mean_sd(dist)
    assert mean == pytest.approx(m1, rel=1e-5)
    assert sd == pytest.approx(math.sqrt(m2 - m1 * m1), rel=1e-4)
    assert abs(x.mean() - m1) < N_SE * math.sqrt((m2 - m1 * m1) / N)


def test_truncated_normal_matches_scipy_truncnorm() -> None:
    dist = Dist("normal", (1.0, 2.0), bounds=(0.0, 4.0))
    ref = stats.truncnorm((0.0 - 1.0) / 2.0, (4.0 - 1.0) / 2.0, loc=1.0, scale=2.0)
    assert_ks(draw(dist), ref.cdf)
    mean, sd = mean_sd(dist)
    assert mean == pytest.approx(ref.mean(), rel=1e-9)
    assert sd == pytest.approx(ref.std(), rel=1e-9)


# ---------------------------------------------------------------------------
# Mixtures


def mixture_cdf(weights, refs) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: sum(w * r(x) for w, r in zip(weights, refs, strict=True))


def test_mixture_weights_and_ks() -> None:
    """Well-separated components: each weight recovered within 4 binomial SEs; KS against the exact mixture."""
    weights = (0.3, 0.5, 0.2)
    dist = Dist(
        "mixture",
        weights=weights,
        components=(
            Dist("normal", (0.0, 1.0)),
            Dist("normal", (20.0, 1.0)),
            Dist("lognormal", (math.log(100.0), 0.1)),
        ),
    )
    refs = [stats.norm(0, 1).cdf, stats.norm(20, 1).cdf, stats.lognorm(0.1, scale=100.0).cdf]
    x = draw(dist)
    assert_fraction(x < 10.0, 0.3)
    assert_fraction((x >= 10.0) & (x < 50.0), 0.5)
    assert_fraction(x >= 50.0, 0.2)
    assert_ks(x, mixture_cdf(weights, refs))
    mean, _ = mean_sd(dist)
    assert mean == pytest.approx(0.5 * 20.0 + 0.2 * 100.0 * math.exp(0.005), rel=1e-12)


MIXED_WEIGHTS = (0.4, 0.6)
MIXED = Dist(
    "mixture",
    weights=MIXED_WEIGHTS,
    components=(Dist("normal", (0.0, 1.0), bounds=(0.0, INF)), Dist("beta", (2.0, 3.0, 0.5, 2.5))),
)
"""A mixture of a truncated normal and a scaled beta (also in the round-trip cases)."""


def test_mixture_of_truncated_and_bounded_components() -> None:
    weights, dist = MIXED_WEIGHTS, MIXED
    refs = [truncated_cdf(stats.norm(0.0, 1.0), 0.0, INF), stats.beta(2.0, 3.0, loc=0.5, scale=2.0).cdf]
    x = draw(dist)
    assert x.min() >= 0.0
    assert_ks(x, mixture_cdf(weights, refs))
    assert support(dist) == (0.0, INF)
    m1 = 0.4 * math.sqrt(2.0 / math.pi) + 0.6 * (0.5 + 2.0 * 2.0 / 5.0)
    assert mean_sd(dist)[0] == pytest.approx(m1, rel=1e-9)


def test_mixture_with_point_mass() -> None:
    """A point component is an atom of its weight; the rest follows the other component."""
    other = ci90_dist(5.0, 6.0)
    dist = Dist("mixture", weights=(0.25, 0.75), components=(Dist("point", (4.0,)), other))
    x = draw(dist)
    atom = x == np.float32(4.0)
    assert_fraction(atom, 0.25)
    mu, sigma = other.params
    rest = x[~atom]
    d = stats.kstest(rest, stats.lognorm(sigma, scale=math.exp(mu)).cdf).statistic
    assert d < 1.95 / math.sqrt(rest.size)


def test_truncated_mixture() -> None:
    weights = (0.5, 0.5)
    components = (Dist("normal", (0.0, 1.0)), Dist("normal", (3.0, 0.5)))
    dist = Dist("mixture", weights=weights, components=components, bounds=(-1.0, 3.5))
    untruncated = mixture_cdf(weights, [stats.norm(0, 1).cdf, stats.norm(3, 0.5).cdf])
    f_lo, f_hi = untruncated(-1.0), untruncated(3.5)
    x = draw(dist)
    assert x.min() >= -1.0 and x.max() <= 3.5
    assert_ks(x, lambda t: np.clip((untruncated(np.clip(t, -1.0, 3.5)) - f_lo) / (f_hi - f_lo), 0, 1))
    density = lambda t: 0.5 * stats.norm(0, 1).pdf(t) + 0.5 * stats.norm(3, 0.5).pdf(t)  # noqa: E731
    m1 = integrate.quad(lambda t: t * density(t), -1.0, 3.5)[0] / (f_hi - f_lo)
    assert mean_sd(dist)[0] == pytest.approx(m1, rel=1e-5)


# ---------------------------------------------------------------------------
# ci90 sugar


@pytest.mark.parametrize(("lo", "hi", "family"), [(0.18, 0.40, "lognormal"), (-1.0, 3.0, "normal")])
def test_ci90(lo: float, hi: float, family: str) -> None:
    """5 % of draws below lo and 5 % above hi, each within 4 binomial SEs."""
    dist = ci90_dist(lo, hi)
    assert dist.family == family
    x = draw(dist)
    assert_fraction(x < lo, 0.05)
    assert_fraction(x > hi, 0.05)
    np.testing.assert_allclose(quantiles(dist, [0.05, 0.95]), [lo, hi], rtol=1e-5)


# ---------------------------------------------------------------------------
# Deterministic properties

ROUND_TRIP_CASES = {
    **{name: case[0] for name, case in FAMILY_CASES.items()},
    **{f"truncated_{name}": case[0] for name, case in TRUNCATED_CASES.items()},
    "mixture": MIXED,
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIP_CASES))
def test_ppf_cdf_round_trip_and_extremes(name: str) -> None:
    """On N uniforms plus u = 0, 1e-30, 1 - 1e-8 and 1: finite, in the support, monotone in u, and
    |cdf(ppf(u)) - u| <= 2e-6 + the CDF's rise over one float32 ulp of x on each side.

    2e-6 covers float32 rounding of u and of the CDF (the incomplete beta is
    good to 1.5e-6); where the density is steep, one float32 step of x moves
    the CDF by more than that, and no float32 x can do better.
    """
    dist = ROUND_TRIP_CASES[name]
    u = uniforms().at[:4].set(jnp.asarray([0.0, 1e-30, 1.0 - 1e-8, 1.0], dtype=jnp.float32))
    x = run_ppf(dist, u)
    x64 = np.asarray(x, dtype=np.float64)
    lo, hi = support(dist)
    assert np.isfinite(x64).all()
    assert (x64 >= np.float32(lo)).all() and (x64 <= np.float32(hi)).all()
    # monotone in u up to float32 rounding (jit may fuse a few ops differently for different elements)
    x_sorted = x64[np.argsort(np.asarray(u), kind="stable")]
    assert (np.diff(x_sorted) >= -4 * np.spacing(np.abs(x_sorted[1:]).astype(np.float32))).all()

    inner = np.asarray((u > 1e-4) & (u < 1 - 1e-4))  # the clipped extremes do not round-trip
    back = np.asarray(run_cdf(dist, x), dtype=np.float64)
    ulp_rise = np.asarray(
        run_cdf(dist, jnp.nextafter(x, jnp.float32(INF)))
        - run_cdf(dist, jnp.nextafter(x, jnp.float32(-INF))),
        dtype=np.float64,
    )
    err = np.abs(back - np.asarray(u, dtype=np.float64))
    assert (err <= 2e-6 + ulp_rise)[inner].all(), f"worst excess {np.max((err - ulp_rise)[inner]):.2e}"


PPF_FROM_NORMAL = jax.jit(ppf_from_normal, static_argnums=0)


def run_ppf_from_normal(dist: Dist, z: jax.Array) -> np.ndarray:
    return np.asarray(PPF_FROM_NORMAL(structure(dist), jnp.asarray(flat_params(dist)), z), dtype=np.float64)


def test_ppf_from_normal_closed_forms() -> None:
    """Untruncated normal / lognormal: the closed form to float32 rounding (rtol 2e-6); else ppf(Phi(z))."""
    z = jax.random.normal(jax.random.key(SEED, impl="philox4x32"), (N,))
    z = z.at[:2].set(jnp.asarray([-9.0, 9.0], dtype=jnp.float32))  # far tails: no trip through Phi
    z64 = np.asarray(z, dtype=np.float64)
    x = run_ppf_from_normal(Dist("normal", (1.5, 0.7)), z)
    np.testing.assert_allclose(x, 1.5 + 0.7 * z64, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(x[:2], [-4.8, 7.8], rtol=2e-6)
    x = run_ppf_from_normal(Dist("lognormal", (0.8, 0.3)), z)
    np.testing.assert_allclose(x, np.exp(0.8 + 0.3 * z64), rtol=2e-6)
    truncated = Dist("normal", (1.5, 0.7), bounds=(0.0, INF))
    np.testing.assert_array_equal(
        run_ppf_from_normal(truncated, z), np.asarray(run_ppf(truncated, jax.scipy.special.ndtr(z)))
    )


def test_jit_does_not_retrace_for_new_theta() -> None:
    """Numbers enter as a traced theta: a second theta reuses the trace (and gives its own answer)."""

    def make(w: float, mean: float, mu: float, hi: float) -> Dist:
        components = (Dist("normal", (mean, 1.0)), Dist("lognormal", (mu, 0.5), bounds=(-INF, hi)))
        return Dist("mixture", weights=(w, 1.0 - w), components=components)

    def exact_cdf(w: float, mean: float, mu: float, hi: float) -> Callable[[np.ndarray], np.ndarray]:
        return mixture_cdf(
            (w, 1.0 - w),
            [stats.norm(mean, 1.0).cdf, truncated_cdf(stats.lognorm(0.5, scale=math.exp(mu)), 0.0, hi)],
        )

    first_args, second_args = (0.3, 0.0, 1.0, 5.0), (0.6, 2.0, 0.5, 3.0)
    first_dist = make(*first_args)
    traces = 0

    def counted(theta: jax.Array, u: jax.Array) -> jax.Array:
        nonlocal traces
        traces += 1
        return ppf(first_dist, theta, u)

    jitted = jax.jit(counted)
    u = jnp.linspace(0.01, 0.99, 99, dtype=jnp.float32)
    u64 = np.asarray(u, dtype=np.float64)
    for args in (first_args, second_args):
        x = np.asarray(jitted(jnp.asarray(flat_params(make(*args))), u), dtype=np.float64)
        np.testing.assert_allclose(exact_cdf(*args)(x), u64, atol=1e-5)
    assert traces == 1

    # with dist as a static argument, dists of equal structure share one trace
    traces = 0

    def counted_static(d: Dist, theta: jax.Array, u: jax.Array) -> jax.Array:
        nonlocal traces
        traces += 1
        return ppf(d, theta, u)

    static_jit = jax.jit(counted_static, static_argnums=0)
    assert structure(make(*first_args)) == structure(make(*second_args))
    for args in (first_args, second_args):
        static_jit(structure(make(*args)), jnp.asarray(flat_params(make(*args))), u)
    assert traces == 1


def test_flat_params_layout() -> None:
    comp_a = Dist("normal", (1.0, 2.0))
    comp_b = Dist("beta", (2.0, 3.0, 0.0, 1.0), bounds=(0.1, INF))
    dist = Dist("mixture", weights=(0.25, 0.75), components=(comp_a, comp_b), bounds=(-INF, 5.0))
    expected = (-INF, 5.0, 0.25, 0.75, 1.0, 2.0, -INF, INF, 2.0, 3.0, 0.0, 1.0, 0.1, INF)
    assert flat_params(dist) == expected
    assert n_flat(dist) == len(expected) == n_flat(structure(dist))
    assert flat_params(Dist("point", (4.0,))) == (4.0, -INF, INF)


def test_support() -> None:
    assert support(Dist("point", (4.0,))) == (4.0, 4.0)
    assert support(Dist("normal", (0.0, 1.0))) == (-INF, INF)
    assert support(Dist("lognormal", (0.0, 1.0), bounds=(-INF, 3.0))) == (0.0, 3.0)
    assert support(Dist("beta", (2.0, 2.0, -1.0, 2.0), bounds=(0.0, 5.0))) == (0.0, 2.0)
    assert support(Dist("triangular", (3.0, 4.0, 6.0))) == (3.0, 6.0)
    mixture = Dist(
        "mixture", weights=(0.5, 0.5), components=(Dist("uniform", (1.0, 2.0)), Dist("point", (7.0,)))
    )
    assert support(mixture) == (1.0, 7.0)


def test_ci90_parameters() -> None:
    z95 = 1.6448536269514722
    lognormal = ci90_dist(2.0, 8.0)
    assert lognormal.params == pytest.approx((math.log(4.0), math.log(4.0) / (2 * z95)))
    normal = ci90_dist(-1.0, 3.0)
    assert normal.params == pytest.approx((1.0, 2.0 / z95))
    assert ci90_dist(0.0, 3.0).family == "normal"
