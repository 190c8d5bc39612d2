"""Every quantile a baseline run reports against the exact quantiles of its own traced paths.

The bundled baseline (model v2) has market indices and company quantities whose lower tails span
decades toward zero by quarter 24. A sketch centred on the median put all of that tail into the one
bin that straddles ``x = 0``; its 1-5 % quantiles came out near or below zero and were clipped to the
exact minimum (a 1e6-path run reported a 5 % demand index of 1.7e-11 where its paths gave 1.11). The
error measure of tests/test_sketch.py (``|q - q_exact| / (|q_exact| + IQR)``) is blind to that, as
the IQR dwarfs a tail near zero; here every reported quantile must be right in rank or relative to
itself.

One run of ``N_PATHS`` paths (16 full key blocks and 300 paths of a 17th; 3 chunks of 6 blocks, the
last with one padding block) and ``trace_paths`` of the same seed; quarters 1 and ``HORIZON``,
levels 1-99 %, every company and market quantile and the horizon sketches (cumulative burn, raised).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BASELINE

import mc_engine
from mc_engine.engine.trace import trace_paths
from mc_engine.output.dataset import COMPANY_META, MARKET_NAMES

SEED = 11
BLOCK = 1024
N_PATHS = 16 * BLOCK + 300
CHUNK = 6 * BLOCK
HORIZON = 24
LEVELS = tuple(np.round(np.linspace(0.01, 0.99, 99), 2))

RANK_TOL = 10
"""Paths between a reported quantile and the exact one (see :func:`rank_error`): 0.06 % of the paths."""
REL_TOL = 1e-2
"""``|q - q_exact| / |q_exact|``. A quantile fails if it is off by more than ``RANK_TOL`` in rank *and* by
more than ``REL_TOL`` relative: in the far tails neighbouring order statistics can differ by more than a
bin (rank is the honest measure); in a dense bulk a bin holds several paths (relative is). Measured on
quantities of one sign (19,998 quantiles in all): every quantile more than 1 % off relative is within
0.8 paths in rank, every one more than 10 paths off in rank is within 1.8e-4 relative. The median-centred sketch failed both on the quarter-24 serving cost index (1 %: rank 20,
13 % relative), price index (2 %: rank 19, 6.6 %) and runway; before ties at the extremes were counted,
the nothing-raised atom put anthropic's median amount raised at 0.09 bn where most paths raised nothing.
"""
SIGNED_TOL = 5e-3
"""For a quantity that takes both signs (burn of a cash-generating hyperscaler), a relative error near
zero means nothing and the sketch's bins there are linear in x with a width set by the interquartile
range: such a quantile also passes within ``SIGNED_TOL`` x IQR of the exact one (a dense cluster of
burns just above zero sits inside one or two bins: measured up to 159 paths in rank, 7.4e-4 IQR)."""


def rank_error(sorted_x: np.ndarray, q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """How many paths ``q`` is off: distance of ``levels * n`` from the range of ranks of values equal
    to ``q`` (0 when an order statistic at that level equals ``q``)."""
    n = len(sorted_x)
    below = np.searchsorted(sorted_x, q, side="left")
    upto = np.searchsorted(sorted_x, q, side="right")
    return np.maximum(0.0, np.maximum(below - levels * n, levels * n - upto))


@pytest.fixture(scope="module")
def run_and_traces():
    priors = mc_engine.load_priors(BASELINE)
    ds = mc_engine.simulate(priors, N_PATHS, seed=SEED, horizon=HORIZON, chunk_paths=CHUNK, block_size=BLOCK,
                            quantiles=LEVELS)
    return ds, trace_paths(priors, N_PATHS, SEED, HORIZON, block_size=BLOCK)


def check(name: str, q: np.ndarray, x: np.ndarray, where: str) -> list[str]:
    """Failures of the reported quantiles ``q`` (at ``LEVELS``) against the values ``x``."""
    levels = np.asarray(LEVELS)
    x = np.sort(np.asarray(x, np.float64))
    q = np.asarray(q, np.float64)
    assert np.all(np.isfinite(q)), (name, where)
    q_exact = np.quantile(x, levels)
    ranks = rank_error(x, q, levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(q - q_exact) / np.abs(q_exact)
    bad = (ranks > RANK_TOL) & ~(rel <= REL_TOL)
    if x[0] < 0 < x[-1]:
        iqr = np.subtract(*np.quantile(x, [0.75, 0.25]))
        bad &= np.abs(q - q_exact) > SIGNED_TOL * iqr
    return [f"{name} {where} {levels[i]:.2f}: reported {q[i]:.4g}, exact {q_exact[i]:.4g} "
            f"(rank error {ranks[i]:.0f} of {len(x)}, relative {rel[i]:.2g})" for i in np.flatnonzero(bad)]


def test_every_reported_quantile_matches_the_traced_paths(run_and_traces):
    ds, traced = run_and_traces
    np.testing.assert_allclose(ds["quantile"].values, LEVELS)
    failures = []
    quarters = (0, HORIZON - 1)
    for key, (name, _) in MARKET_NAMES.items():
        for t in quarters:
            failures += check(name, ds[name].values[t], traced[key][t], f"quarter {t + 1}")
    alive = traced["status"] == 0  # (T, paths, companies), prior-file order like the Dataset
    for var, (name, _, _, scale) in COMPANY_META.items():
        for j, company in enumerate(ds.company.values):
            for t in quarters:
                x = traced[var][t, alive[t, :, j], j]
                assert len(x) == int(ds.n_alive.values[j, t]), (name, company, t + 1)
                if len(x) < 100:
                    continue
                failures += check(name, ds[name].values[j, t] / scale, x, f"{company} quarter {t + 1}")
    for name, key in (("cumulative_burn", "cumburn"), ("raised", "raised")):
        for j, company in enumerate(ds.company.values):
            # horizon amounts are in the Dataset's money unit, like cash (USD bn: COMPANY_META's scale)
            failures += check(name, ds[name].values[j] / COMPANY_META["cash"][3], traced[key][-1, :, j], str(company))
    assert not failures, f"{len(failures)} quantiles off:\n" + "\n".join(failures[:40])


def test_a_path_does_not_depend_on_the_length_of_its_chunk(run_and_traces):
    """The run's thin sample (its first paths, run in chunks of 6 blocks) equals the same paths traced in one
    chunk of 17 blocks, every quarter bit for bit. The chunk-size test of the Dataset aggregates, so it misses a
    path whose last bit moves; this one sees it: summing the companies with ``jnp.sum`` over the leading axis
    moved 2,471 of 6,144 paths' sums between these two lengths (XLA picks the summation order by size)."""
    ds, traced = run_and_traces
    first = slice(0, ds.sizes["path"])
    status = traced["status"][:, first]  # (quarter, path, company), prior-file order like the Dataset
    left_before = np.concatenate([np.zeros_like(status[:1]), status[:-1]]) != 0
    for var in ("cash", "burn", "revenue", "runway", "debt"):
        name, _, _, scale = COMPANY_META[var]
        expected = np.where(left_before, np.float32(np.nan), (traced[var][:, first] * scale).astype(np.float32))
        np.testing.assert_array_equal(ds[f"path_{name}"].transpose("quarter", "path", "company").values, expected,
                                      err_msg=var)
    np.testing.assert_array_equal(ds["path_status"].transpose("quarter", "path", "company").values, status)
    for key, (name, _) in MARKET_NAMES.items():
        np.testing.assert_array_equal(ds[f"path_{name}"].transpose("quarter", "path").values,
                                      traced[key][:, first].astype(np.float32), err_msg=name)


def test_the_check_sees_a_tail_pushed_toward_zero(run_and_traces):
    """The same check fails a quantile that sits in the right bin of the old median-centred sketch but
    not at the right rank: the price index's 1 % quantile moved 20 % toward zero."""
    ds, traced = run_and_traces
    q = ds["price_index"].values[HORIZON - 1].astype(np.float64)
    assert not check("price_index", q, traced["P"][HORIZON - 1], "")
    q[0] *= 0.8
    assert check("price_index", q, traced["P"][HORIZON - 1], "")
