"""``mc_engine.simulate`` end to end on a small three-company tree.

Chunk invariance, one compilation per shape, the probability identities, counterparty contagion,
the netCDF round trip, the sensitivity table and the thin sample.

Compiling a chunk program costs ~12-15 s on 2 CPU cores and any change of priors structure,
horizon, block size, chunk blocks or thin size recompiles. So every run here has the same shapes
(``BLOCK``-path key blocks, ``HORIZON`` quarters, ``THIN`` thin paths, ``CHUNK`` paths per chunk);
variants of the tree change values, never structure, and reuse the compiled program. Only the
chunk test compiles two more (1 and 4 blocks per chunk), and :func:`sketch_traces` one
``trace_paths`` program (shared with tests/test_sketch.py).
"""

from __future__ import annotations

import copy
import functools
import math
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest
import tomli_w
import xarray as xr
from conftest import BASELINE, minimal_tree
from scipy import stats
from test_reference_hand import V2_MARKET_POINTS

import mc_engine
from mc_engine.engine.chunk import chunk_program
from mc_engine.engine.keys import STREAM_INPUTS, root_key, stream_key
from mc_engine.engine.sampler import compile_sampler
from mc_engine.engine.trace import trace_paths
from mc_engine.inputs.loader import Priors, load_priors

SEED = 20260630
BLOCK = 512
N_PATHS = 2600
"""Five full blocks and 40 paths of a sixth: the last block (and chunk) is padded."""
HORIZON = 8
THIN = BLOCK
CHUNK = 2 * BLOCK
CHUNK_BLOCKS = (1, 2, 4)
N_SKETCH = 32 * BLOCK - 300
"""Paths of the run whose every trajectory is traced (thin sample and sketch checks)."""
RUN_ATTRS = ("history", "run_seconds", "compile_seconds", "chunk_paths", "git_commit")
"""Attributes that record when, how fast or in which chunks a run went (git_commit: others may commit
between two runs of one test session), not what it computed."""
SE_TOL = 4.0

REGIMES = ("boom", "normal", "winter")
COMPANIES = ("alab", "acloud", "ahyper")
HOSTS = ("acloud", "ahyper")


def sim_tree() -> dict[str, Any]:
    """Lab, neocloud and hyperscaler linked through the counterparty matrix, volatile markets, a moving
    regime, and five uncertain inputs.

    ``companies.alab.cash0`` is wide (ci90 0.5-60 USD bn), so it decides whether the lab survives;
    ``companies.ahyper.own_chip_discount`` only enters the hyperscaler's gross margin, so it cannot move
    anyone's survival. About 11 % of labs, 70 % of neoclouds and 6 % of hyperscalers leave in 8 quarters.
    """
    tree = minimal_tree()
    tree["market"].update({
        **V2_MARKET_POINTS, "hardware_vol": 0.15, "algo_vol": 0.2, "reasoning_vol": 0.2, "price_vol": 0.15,
        "rental_vol": 0.2, "demand_growth0": {"ci90": [0.5, 1.5]}, "demand_growth_inf": 0.3,
        "demand_growth_decay": 0.5, "demand_shift": {"boom": 0.2, "normal": 0.05, "winter": -0.3},
        "price_elasticity": 0.5, "demand_vol": 0.3, "utilisation0": 0.8, "utilisation_mean": 0.75,
        "utilisation_speed": 1.0, "utilisation_shift": {"boom": 0.5, "normal": 0.1, "winter": -1.0},
        "utilisation_vol": 0.5,
    })  # fmt: skip
    tree["funding"].update({
        "raise_prob": {"boom": 0.9, "normal": 0.7, "winter": 0.3},
        "round_size": {"boom": 1.3, "normal": 1.0, "winter": 0.6},
        "valuation": {"boom": 1.5, "normal": 1.0, "winter": 0.5},
        "credit_spread": {"boom": 0.02, "normal": 0.03, "winter": 0.08},
        "refinance_prob": {"boom": 0.95, "normal": 0.45, "winter": 0.3},
        "base_rate": 0.04, "growth_sensitivity": 0.3, "round_capacity": 150.0,
    })  # fmt: skip
    companies = tree["companies"]
    companies["alab"].update({
        "cash0": {"ci90": [0.5, 60.0]}, "debt0": 5.0, "rate_spread": 0.04, "tenor": 4.0,
        "raise_trigger_q": 6.0, "min_gap_q": 2.0, "target_runway_q": 8.0, "round_size_sigma": 0.3,
        "raise_odds": 1.0, "revenue_multiple": 25.0, "valuation0": 500.0, "last_round_age0": 1.0,
        "rescue_prob": 0.3, "acquire_prob": 0.2, "revenue0": 40.0, "compute_margin0": 0.4,
        "share_drift": -0.05, "share_vol": 0.3, "training0": 20.0, "training_growth0": 0.8,
        "training_growth_inf": 0.3, "training_growth_decay": 0.5, "training_cut": 0.6, "cut_runway_q": 8.0,
        "opex0": 8.0, "opex_growth": 0.3, "commitments": [70.0, 120.0], "commitment_realisation": 0.9,
        "commitment_renewal": 0.5, "reprice_speed": 1.0, "reprice_max": 0.5, "rescue_capacity": 100.0,
        "acquire_runway_q": 1.0, "training_revenue_cap": 10.0, "payout_rate": 0.3, "cash_target_q": 6.0,
    })  # fmt: skip
    companies["acloud"].update({
        "cash0": {"ci90": [0.5, 3.0]}, "debt0": 12.0, "rate_spread": 0.05, "tenor": 5.0,
        "raise_trigger_q": 4.0, "min_gap_q": 2.0, "target_runway_q": 6.0, "round_size_sigma": 0.3,
        "raise_odds": 0.9, "revenue_multiple": 8.0, "valuation0": 20.0, "last_round_age0": 3.0,
        "rescue_prob": 0.2, "acquire_prob": 0.3, "fleet0": 300.0, "fleet_growth0": 0.5,
        "fleet_growth_inf": 0.1, "fleet_growth_decay": 0.4, "gpu_price0": 30.0, "useful_life": 5.0,
        "contract_share0": 0.7, "contract_tau": 3.0, "new_contract_share": 0.6, "contract_price": 2.2,
        "spot_price0": 1.8, "power_cost": 0.25, "opex0": 1.0, "opex_growth": 0.1, "debt_share": 0.7,
        "max_leverage": 3.3, "covenant_quarters": 2.0, "gpu_opex": 0.1, "refinance_headroom": 2.0,
        "capex_committed": 0.0, "rescue_capacity": 100.0, "acquire_runway_q": 1.0, "payout_rate": 0.1,
        "cash_target_q": 4.0,
    })  # fmt: skip
    companies["ahyper"].update({
        "cash0": {"ci90": [5.0, 40.0]}, "debt0": 80.0, "rate_spread": 0.01, "tenor": 8.0,
        "raise_trigger_q": 4.0, "min_gap_q": 2.0, "target_runway_q": 6.0, "round_size_sigma": 0.2,
        "raise_odds": 1.0, "revenue_multiple": 10.0, "valuation0": 2000.0, "last_round_age0": 8.0,
        "rescue_prob": 0.0, "acquire_prob": 0.0, "core_fcf0": 40.0, "core_growth": 0.05, "core_vol": 0.1,
        "core_regime_factor": {"boom": 1.1, "normal": 1.0, "winter": 0.8}, "ai_revenue0": 80.0,
        "ai_compute_margin0": 0.5, "own_chip_discount": {"dist": "uniform", "lo": 0.1, "hi": 0.3},
        "share_drift": 0.0, "share_vol": 0.2, "ai_capex0": 120.0, "ai_capex_growth0": 0.3,
        "ai_capex_growth_inf": 0.1, "ai_capex_growth_decay": 0.5, "capex_discipline": 0.5, "ai_opex0": 10.0,
        "opex_growth": 0.05, "credit_line": 5.0, "capex_liquidity_draw": 0.2, "bond_access": 0.95,
        "reprice_speed": 1.0, "reprice_max": 0.5, "rescue_capacity": 0.0, "acquire_runway_q": 1.0,
        "payout_rate": 0.5, "cash_target_q": 2.0,
    })  # fmt: skip
    tree["counterparty"] = {"alab": {"acloud": 0.03, "ahyper": 0.5}}
    tree["regime"] = {
        "initial": {"boom": 0.3, "normal": 0.6, "winter": 0.1},
        "transition": {
            "boom": {"boom": 0.85, "normal": 0.13, "winter": 0.02},
            "normal": {"boom": 0.06, "normal": 0.91, "winter": 0.03},
            "winter": {"boom": 0.02, "normal": 0.18, "winter": 0.80},
        },
    }
    return tree


def with_lab(**values: Any) -> dict[str, Any]:
    """:func:`sim_tree` with some of the lab's values replaced (same structure: no recompilation)."""
    tree = copy.deepcopy(sim_tree())
    tree["companies"]["alab"].update(values)
    return tree


RICH_LAB = {"cash0": {"ci90": [5000.0, 10000.0]}}
"""The lab cannot run out of cash in 8 quarters."""
DEAD_LAB = {"cash0": {"ci90": [1e-6, 2e-6]}, "opex0": 1000.0, "raise_odds": 1e-9, "rescue_prob": 0.0,
            "acquire_prob": 0.0}
"""No cash, a burn of at least 250 bn a quarter and no way to raise, be rescued or be bought: the lab
defaults in quarter 1. Its quarter-1 compute spend, hence its hosts' quarter 1, is unchanged."""


def load_tree(tree: dict[str, Any]) -> Priors:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sim.toml"
        path.write_bytes(tomli_w.dumps(tree).encode())
        return load_priors(path, require_sources=False)


def run(priors: Priors, n_paths: int = N_PATHS, *, seed: int = SEED, chunk_paths: int = CHUNK,
        **kwargs: Any) -> xr.Dataset:
    return mc_engine.simulate(priors, n_paths, seed, HORIZON, chunk_paths=chunk_paths, block_size=BLOCK,
                              thin=kwargs.pop("thin", THIN), **kwargs)


@functools.cache
def sim_priors() -> Priors:
    return load_tree(sim_tree())


@functools.cache
def sketch_traces() -> tuple[xr.Dataset, dict[str, np.ndarray]]:
    """A run of ``N_SKETCH`` paths and the full trajectories of the same paths (``trace_paths``)."""
    priors = sim_priors()
    return run(priors, N_SKETCH), trace_paths(priors, N_SKETCH, SEED, HORIZON, block_size=BLOCK)


def without_run_attrs(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs = {k: v for k, v in ds.attrs.items() if k not in RUN_ATTRS}
    return ds


@pytest.fixture(scope="module")
def base() -> xr.Dataset:
    return run(sim_priors())


# ------------------------------------------------------------------------------------------ chunking


@pytest.fixture(scope="module")
def by_chunk(base) -> dict[int, tuple[xr.Dataset, int]]:
    """Dataset and number of programs compiled for each chunk size (``CHUNK`` is ``base``)."""
    out = {}
    for blocks in CHUNK_BLOCKS:
        before = chunk_program._cache_size()
        ds = base if blocks * BLOCK == CHUNK else run(sim_priors(), chunk_paths=blocks * BLOCK)
        out[blocks] = ds, chunk_program._cache_size() - before
    return out


def test_same_dataset_for_any_chunk_size(by_chunk):
    """1, 2 and 4 blocks per chunk (6, 3 and 2 chunks; the last 4-block chunk holds 2 padding blocks and
    the last block 40 valid paths): every variable, coordinate and attribute is bitwise the same."""
    reference = without_run_attrs(by_chunk[CHUNK_BLOCKS[0]][0])
    for blocks in CHUNK_BLOCKS:
        ds = by_chunk[blocks][0]
        assert ds.attrs["chunk_paths"] == blocks * BLOCK
        xr.testing.assert_identical(without_run_attrs(ds), reference)
        for name, var in ds.data_vars.items():  # assert_identical treats NaN == NaN; be explicit on bits
            np.testing.assert_array_equal(var.values, reference[name].values, strict=True, err_msg=name)


def test_correlated_inputs_do_not_depend_on_the_length_of_their_chunk():
    """The baseline's inputs of its first 6 blocks (256 paths each), drawn in a chunk of 6 blocks and in one of
    17, are bitwise the same: the copula's correlated normals as a dot moved 20 of 1,536 paths' last
    correlated input (its kernel, and summation order, chosen by size). Every quarter of whole paths:
    tests/test_sketch_tails.py::test_a_path_does_not_depend_on_the_length_of_its_chunk."""
    sampler = compile_sampler(mc_engine.load_priors(BASELINE), 256)
    short, long = (sampler.draw_blocks(root_key(5), 0, blocks) for blocks in (6, 17))
    for name, values in short.items():
        np.testing.assert_array_equal(np.asarray(long[name])[: 6 * 256], np.asarray(values), strict=True, err_msg=name)


def test_one_program_per_chunk_shape(by_chunk):
    """A new chunk shape compiles exactly one program, used by the pilot and every chunk."""
    ds, compiled = by_chunk[4]
    assert compiled == 1


def test_thin_larger_than_a_block_does_not_depend_on_chunk_size(base):
    """``thin`` beyond one key block is capped at the block: the thin sample and the sketch pilot (its first
    paths) are then the same paths for every chunk size, so the Dataset is too."""
    one = run(sim_priors(), chunk_paths=BLOCK, thin=3 * BLOCK)
    two = run(sim_priors(), chunk_paths=2 * BLOCK, thin=3 * BLOCK)
    assert one.sizes["path"] == two.sizes["path"] == BLOCK
    xr.testing.assert_identical(without_run_attrs(one), without_run_attrs(two))
    xr.testing.assert_identical(without_run_attrs(two), without_run_attrs(base))


def test_the_sensitivity_subsample_does_not_depend_on_chunk_size(monkeypatch):
    """The run keeps the inputs and outcomes of its first ``sensitivity_paths`` paths. A chunk that starts past
    them skips gathering its own (a ``lax.cond`` in ``ChunkReducer.finish``) and returns zeros there. With 1.5
    blocks kept, one-block chunks take them from chunks 0 and 1 (half of it), and a 4-block chunk holds them
    all: the same numbers either way, and the chunks past them return only zeros."""
    from mc_engine.engine import simulate as sim

    keep = BLOCK + BLOCK // 2
    heads: dict[int, dict[int, np.ndarray]] = {1: {}, 4: {}}
    call = sim._ChunkRunner._call

    def recorded(self, first, *args):  # noqa: ANN001, ANN202
        out = call(self, first, *args)
        heads[self.plan.chunk_blocks][int(first)] = np.asarray(out["horizon"]["head"]["inputs"])
        return out

    monkeypatch.setattr(sim._ChunkRunner, "_call", recorded)
    raw = {blocks: sim.simulate_raw(sim_priors(), N_PATHS, SEED, HORIZON, chunk_paths=blocks * BLOCK,
                                    block_size=BLOCK, thin=THIN, sensitivity_paths=keep) for blocks in (1, 4)}
    assert sorted(heads[1]) == list(range(-(-N_PATHS // BLOCK)))
    for first, inputs in heads[1].items():
        assert (not inputs.any()) is (first * BLOCK >= keep), first
    for name, values in raw[1].sens_inputs.items():
        assert values.shape == (keep,)
        np.testing.assert_array_equal(values, raw[4].sens_inputs[name], err_msg=name)
    for name, values in raw[1].final.items():
        np.testing.assert_array_equal(values, raw[4].final[name], err_msg=name)


def test_a_first_run_compiles_its_chunk_program_once(tmp_path: Path):
    """The chunk program is compiled in a second thread while the quantile tables are built
    (``simulate._ChunkRunner.arrays``); the pilot's call must then find it, not compile it again.

    In a fresh process with the persistent cache off (with it, a second compile would be a cache read),
    2 quarters of the small tree: the backend compiles ``jit(chunk_program)`` exactly once."""
    import os
    import subprocess
    import sys

    path = tmp_path / "sim.toml"
    path.write_bytes(tomli_w.dumps(sim_tree()).encode())
    code = (
        "import jax\n"
        "names = []\n"
        "jax.monitoring.register_event_duration_secs_listener(\n"
        "    lambda e, d, **kw: names.append(kw.get('fun_name'))\n"
        "    if e == '/jax/core/compile/backend_compile_duration' else None)\n"
        "from mc_engine.inputs.loader import load_priors\n"
        "from mc_engine.engine.simulate import simulate_raw\n"
        f"simulate_raw(load_priors({str(path)!r}, require_sources=False), 700, 0, 2, block_size=256)\n"
        "print(names.count('jit(chunk_program)'), names.count('jit(draw_arrays)'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "MC_ENGINE_NO_JAX_CACHE": "1"})
    assert out.stdout.split()[-2:] == ["1", "1"], out.stderr[-2000:]


def test_every_chunk_runs_once(base, monkeypatch):
    """The pilot is the run's first chunk (it takes its edges from its own first paths and is merged as it is),
    so a run of k chunks calls the chunk program k times, not k + 1; on a process whose range does not start
    at block 0 the pilot cannot be reused and runs as well. (Chunk-size invariance, tested above, checks that
    the pilot's output equals what the chunk gives with the returned edges: with 1, 2 and 4 blocks a chunk,
    the same blocks are sketched by the pilot in one plan and by a later chunk in another.)"""
    from mc_engine.engine import simulate as sim

    calls: list[int] = []
    call = sim._ChunkRunner._call

    def counted(self, first, *args):  # noqa: ANN001, ANN202
        calls.append(int(first))
        return call(self, first, *args)

    monkeypatch.setattr(sim._ChunkRunner, "_call", counted)
    sim.simulate_raw(sim_priors(), N_PATHS, SEED, HORIZON, chunk_paths=CHUNK, block_size=BLOCK, thin=THIN)
    n_blocks = -(-N_PATHS // BLOCK)
    assert calls == list(range(0, n_blocks, CHUNK // BLOCK)), calls
    many = 4 * sim.SUPERBLOCK * BLOCK
    for index, reusable in ((0, True), (1, False)):  # the first and the second of two processes
        plan = sim.ChunkPlan.make(many, BLOCK, CHUNK, "philox4x32", 0, index, 2)
        assert sim.Pilot({}, {}, {}, min(many, CHUNK)).reusable(plan) is reusable


def test_second_call_does_not_recompile(base):
    """Same shapes, other seed, path count and prior values: no program is compiled, not even a small one."""
    before = chunk_program._cache_size()
    events: list[str] = []

    def listen(event: str, duration: float, **kwargs: Any) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        again = run(load_tree(with_lab(**RICH_LAB)), N_PATHS + 700, seed=SEED + 1)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert chunk_program._cache_size() == before
    assert events == []
    assert float(again.survival_prob.sel(company="alab").min()) == 1.0  # the new values were used


# ------------------------------------------------------------------------------------------ probabilities


def test_survival_is_non_increasing(base):
    assert (base.survival_prob.diff("quarter") <= 0).all()
    assert (base.default_prob.diff("quarter") >= 0).all()
    assert (base.acquired_prob.diff("quarter") >= 0).all()
    # the tree is built so that every kind of exit happens (else the checks above are empty)
    assert float(base.default_prob.isel(quarter=0).max()) > 0
    assert float(base.acquired_prob.isel(quarter=-1).max()) > 0
    assert float(base.survival_prob.isel(quarter=-1).min()) < 0.7  # the neocloud loses ~40 % by the horizon


def test_exit_probabilities_sum_to_one(base):
    total = base.survival_prob + base.default_prob + base.acquired_prob
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(base.n_alive, np.round(base.survival_prob * N_PATHS).astype(np.int64))
    np.testing.assert_allclose(base.default_quarter.cumsum("quarter"), base.default_prob, rtol=0, atol=1e-12)
    np.testing.assert_allclose(base.regime_prob.sum("regime"), 1.0, rtol=0, atol=1e-12)
    # exits by cause: they add up to every exit, the defaults' causes to default_prob
    np.testing.assert_allclose(base.exit_prob.sum("cause"), 1 - base.survival_prob, rtol=0, atol=1e-12)
    np.testing.assert_allclose(base.exit_prob.sel(cause=["cash", "covenant", "maturity"]).sum("cause"),
                               base.default_prob, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(base.exit_prob.sel(cause="acquisition"), base.acquired_prob)
    assert (base.exit_prob.diff("quarter") >= 0).all()
    assert float(base.exit_prob.sel(company="acloud", cause="covenant").isel(quarter=-1)) > 0


def test_standard_errors_are_binomial(base):
    for name in ("survival_prob", "default_prob", "acquired_prob"):
        p = base[name].values
        np.testing.assert_allclose(base[f"{name}_se"], np.sqrt(p * (1 - p) / N_PATHS), rtol=1e-12, atol=0)


def quantile_vars(ds: xr.Dataset) -> list[str]:
    return [k for k, v in ds.data_vars.items() if set(v.dims) == {"company", "quarter", "quantile"}]


def assert_finite_except_empty(ds: xr.Dataset) -> None:
    """Everything finite, except per-(company, quarter) statistics of cells no path is alive in; there the
    quantiles are NaN (undefined), not some number."""
    empty = ds.n_alive == 0
    left_before = (ds.path_status != 0).shift(quarter=1, fill_value=False)
    for name, var in ds.data_vars.items():
        if not np.issubdtype(var.dtype, np.number):
            continue
        bad = ~np.isfinite(var)
        if name.startswith("path_") and "company" in var.dims:
            assert not bool((bad & ~left_before).any()), f"{name} is not finite while the company exists"
        elif {"company", "quarter"} <= set(var.dims):
            assert not bool((bad & ~empty).any()), f"{name} is not finite in a cell with live paths"
        else:
            assert not bool(bad.any()), f"{name} is not finite"
    for name in quantile_vars(ds):
        assert bool(ds[name].where(empty, 0.0).isnull().all("quantile").equals(empty)), name


def test_outputs_are_finite(base):
    assert not bool((base.n_alive == 0).any())
    assert_finite_except_empty(base)
    assert len(quantile_vars(base)) == 6


def test_quantiles_are_ordered_and_inside_the_range(base):
    for name in quantile_vars(base):
        assert (base[name].diff("quantile") >= 0).all(), name
    assert (base.survival_prob >= 0).all() and (base.survival_prob <= 1).all()
    runway = base.runway_quarters
    assert (runway >= 0).all() and (runway <= 100).all()
    assert (base.gross_margin >= -5).all() and (base.gross_margin <= 1).all()


# ------------------------------------------------------------------------------------------ contagion


@pytest.fixture(scope="module")
def contagion(base) -> dict[str, xr.Dataset]:
    return {"rich": run(load_tree(with_lab(**RICH_LAB))), "dead": run(load_tree(with_lab(**DEAD_LAB)))}


def test_dead_lab_has_no_live_statistics(contagion):
    """The lab defaults in quarter 1 on every path: its quantiles and means are NaN, the rest finite."""
    dead = contagion["dead"]
    lab = dead.sel(company="alab")
    np.testing.assert_array_equal(lab.default_prob, 1.0)
    assert int(lab.n_alive.max()) == 0
    assert_finite_except_empty(dead)
    assert bool(dead.revenue.sel(company="alab").isnull().all())


def test_lab_default_hurts_its_hosts(contagion):
    """Same seed, same hosts; only the lab differs. The lab that lives pays its hosts every quarter; the
    one that defaults in quarter 1 pays them only in quarter 1, after which they recover only the spot
    value of its capacity. Quarter 1 is identical; in quarters 2-4 the neocloud's median and mean revenue
    is lower, and by the horizon its survival is lower by more than 4 combined standard errors. (Later
    revenue statistics are among surviving hosts only, and the dead lab's world has killed the weaker
    hosts by then, so they are not compared. The hyperscaler also sells AI to the lab's customers: it
    takes over part of the lab's share of market spend (docs/model.md 3.0), which can outweigh the lost
    payments, so only the neocloud, a pure host, is held to this.)"""
    rich, dead = contagion["rich"], contagion["dead"]
    assert float(rich.survival_prob.sel(company="alab").min()) == 1.0
    assert float(dead.default_prob.sel(company="alab").isel(quarter=0)) == 1.0
    for host in HOSTS:
        r, d = rich.sel(company=host), dead.sel(company=host)
        q1 = {"quarter": 0}
        if str(r.kind.values) != "neocloud":
            np.testing.assert_array_equal(d.revenue.isel(q1), r.revenue.isel(q1))
            continue
        np.testing.assert_array_equal(d.revenue.isel(q1), r.revenue.isel(q1))
        assert float(d.survival_prob.isel(q1)) == float(r.survival_prob.isel(q1))
        later = {"quarter": slice(1, 4)}
        assert (d.revenue.sel(quantile=0.5).isel(later) < r.revenue.sel(quantile=0.5).isel(later)).all(), host
        assert (d.revenue_mean.isel(later) < r.revenue_mean.isel(later)).all(), host
        gap = float(r.survival_prob[-1] - d.survival_prob[-1])
        se = math.hypot(float(r.survival_prob_se[-1]), float(d.survival_prob_se[-1]))
        assert gap > SE_TOL * se, (host, gap, se)


# ------------------------------------------------------------------------------------------ netCDF


GLOBAL_ATTRS = ("title", "source", "history", "priors_digest", "seed", "n_paths", "prng", "jax_version", "device",
                "git_commit")


def bounds_variables(ds: xr.Dataset) -> set[str]:
    """CF boundary variables (named by a coordinate's ``bounds``): they take the coordinate's metadata."""
    return {v.attrs["bounds"] for v in ds.coords.values() if "bounds" in v.attrs}


def test_cf_attributes(base):
    for name, var in base.data_vars.items():
        if name in bounds_variables(base):
            continue
        for attr in ("units", "long_name", "cell_methods"):
            assert var.attrs.get(attr), f"{name} has no {attr}"
    for attr in GLOBAL_ATTRS:
        assert attr in base.attrs and base.attrs[attr] != "", attr
    assert base.attrs["seed"] == SEED and base.attrs["n_paths"] == N_PATHS
    assert base.attrs["block_size"] == BLOCK and base.attrs["horizon_quarters"] == HORIZON


def test_netcdf_round_trip(base, tmp_path):
    path = tmp_path / "r.nc"
    base.to_netcdf(path)
    with xr.open_dataset(path) as back:
        back.load()
    xr.testing.assert_identical(back, base)
    for name, var in base.variables.items():
        np.testing.assert_array_equal(back[name].values, var.values, strict=True, err_msg=name)


# ------------------------------------------------------------------------------------------ sensitivity


def test_sensitivity_finds_the_driver(base):
    """The lab's wide cash0 has the largest |rho| with its survival; the hyperscaler's own_chip_discount,
    which only enters a gross margin, has |rho| < 4 / sqrt(sample) with every company's survival."""
    sens = base.sensitivity
    n = sens.attrs["sample_paths"]
    assert n == min(N_PATHS, 10_000)
    lab = np.abs(sens.sel(company="alab"))
    assert str(lab.idxmax("input").item()) == "companies.alab.cash0"
    assert float(lab.max()) > 0.1
    irrelevant = sens.sel(input="companies.ahyper.own_chip_discount")
    assert (np.abs(irrelevant) < 4 / math.sqrt(n)).all(), irrelevant.values
    assert (np.abs(base.sensitivity_burn) <= 1).all()


def test_sensitivity_subsample_is_the_first_paths():
    """The Spearman table is computed on the first ``sensitivity_paths`` paths: it equals scipy's Spearman
    of the sampler's inputs (same key stream) and the traced survival of those paths."""
    keep = 1500
    ds = run(sim_priors(), sensitivity_paths=keep)
    assert ds.sensitivity.attrs["sample_paths"] == keep
    _, traced = sketch_traces()
    priors = sim_priors()
    key = stream_key(root_key(SEED), STREAM_INPUTS)
    inputs = compile_sampler(priors, BLOCK).sample_inputs(key, keep)
    survived = (traced["status"][-1, :keep] == 0).astype(np.float64)  # (paths, companies), prior-file order
    burned = traced["cumburn"][-1, :keep]
    for name in ds.input.values:
        x = np.asarray(inputs[str(name)], np.float64)
        for j, company in enumerate(priors.company_ids):
            for var, outcome in (("sensitivity", survived[:, j]), ("sensitivity_burn", burned[:, j])):
                expected = 0.0 if np.ptp(outcome) == 0 else stats.spearmanr(x, outcome).statistic
                got = float(ds[var].sel(input=name, company=company))
                assert abs(got - expected) < 1e-9, (var, str(name), company, got, expected)


# ------------------------------------------------------------------------------------------ thin sample


THIN_COMPANY = {"path_cash": "cash", "path_burn": "burn", "path_revenue": "revenue",
                "path_runway_quarters": "runway", "path_debt": "debt"}
THIN_MARKET = {"path_hardware_cost_index": "H", "path_compute_per_token_index": "E",
               "path_tokens_per_work_index": "R", "path_serving_cost_index": "C", "path_price_index": "P",
               "path_gpu_rental_index": "G", "path_demand_index": "D", "path_utilisation": "U",
               "path_market_spend_index": "S", "path_capacity_index": "K"}


def test_thin_sample_is_the_first_traced_paths(base):
    """``path_*`` are the first ``THIN`` paths of ``trace_paths`` with the same seed, bit for bit."""
    _, traced = sketch_traces()
    assert base.sizes["path"] == THIN
    assert [str(c) for c in base.company.values] == list(sim_priors().company_ids)
    first = slice(0, THIN)
    status = np.transpose(traced["status"][:, first], (2, 0, 1))  # (company, quarter, path)
    # a company's figures stop after the quarter in which it left: NaN from the next quarter on
    left_before = np.concatenate([np.zeros_like(status[:, :1]), status[:, :-1]], axis=1) != 0
    assert left_before.any(), "some sampled company leaves, so the NaN rule is exercised"
    for name, key in THIN_COMPANY.items():
        expected = np.transpose(traced[key][:, first], (2, 0, 1)).astype(np.float32)  # USD bn, as traced
        expected = np.where(left_before, np.float32(np.nan), expected)
        assert base[name].dims == ("company", "quarter", "path") and base[name].attrs["units"] != "USD"
        np.testing.assert_array_equal(base[name].values, expected, err_msg=name)
    np.testing.assert_array_equal(base.path_status.values, status)
    np.testing.assert_array_equal(base.path_regime.values, traced["regime"][:, first])
    for name, key in THIN_MARKET.items():
        np.testing.assert_array_equal(base[name].values, traced[key][:, first].astype(np.float32), err_msg=name)
    assert set(THIN_COMPANY) | set(THIN_MARKET) | {"path_status", "path_regime"} == {
        k for k in base.data_vars if k.startswith("path_")}


def test_survival_matches_the_traced_paths():
    """Counts merged over chunks equal the status of every traced path (``N_SKETCH`` paths, 32 blocks)."""
    ds, traced = sketch_traces()
    alive = (traced["status"] == 0).sum(axis=1).T  # (companies, quarters)
    np.testing.assert_array_equal(ds.n_alive.values, alive)
    np.testing.assert_array_equal(ds.default_prob.values, (traced["status"] == 1).mean(axis=1).T)


# ------------------------------------------------------------------------------------------ baseline


@pytest.mark.slow
def test_baseline_smoke(request):
    """priors/baseline.toml runs and gives a well-formed Dataset (structure only: it is being retuned)."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("compiling the baseline takes ~30 s: run with -m slow")
    if not BASELINE.exists():
        pytest.skip("priors/baseline.toml does not exist")
    priors = load_priors(BASELINE, require_sources=False)
    ds = mc_engine.simulate(priors, 4 * BLOCK, SEED, HORIZON, chunk_paths=4 * BLOCK, block_size=BLOCK, thin=64)
    assert list(ds.company.values) == list(priors.company_ids)
    assert ds.sizes["quarter"] == HORIZON and ds.sizes["path"] == 64
    np.testing.assert_allclose(ds.survival_prob + ds.default_prob + ds.acquired_prob, 1.0, atol=1e-12)
    assert_finite_except_empty(ds)


def test_dataset_conventions_for_notebooks(base):
    """Amounts in USD bn, probabilities tied to their standard errors, cell_methods on real dimensions, no
    user or host in history, one dimension order, paths NaN after the company left."""
    for name in ("cash", "burn", "revenue", "debt", "cumulative_burn", "raised", "burn_var_95", "path_cash"):
        assert base[name].attrs["units"] == "USD bn", name
    for name in ("survival_prob", "default_prob", "acquired_prob"):
        assert base[name].attrs["ancillary_variables"] == f"{name}_se"
    dims = set(base.dims)
    for name, var in base.data_vars.items():
        method = var.attrs.get("cell_methods")
        if method:
            assert method.split(":")[0] in dims, (name, method)
        if {"company", "quarter"} <= set(var.dims):
            assert var.dims[:2] == ("company", "quarter"), (name, var.dims)
    import getpass
    import platform

    history = base.attrs["history"]
    assert getpass.getuser() not in history.split() and platform.node() not in history
    # a naive mean over the sampled paths only counts futures where the company exists
    status = base.path_status
    left = (status != 0).shift(quarter=1, fill_value=False)
    assert bool(left.any())
    assert bool(base.path_cash.where(left).isnull().where(left, True).all())
    assert bool(base.path_cash.where(~left).notnull().where(~left, True).all())
