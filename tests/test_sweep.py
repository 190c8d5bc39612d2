"""``mc_engine.sweep``: grid and scenario dims, one compiled program, resume, precision stop, devices.

Every sweep here reuses the shapes of tests/test_simulate.py (``BLOCK``-path blocks, ``HORIZON``
quarters, ``CHUNK`` paths per chunk, the same tree structure), so in one pytest session the chunk
program compiles once for both files; the scenario file changes values only, never structure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr
from test_simulate import BLOCK, CHUNK, HORIZON, SEED, THIN, sim_tree

import mc_engine
from mc_engine.engine.chunk import chunk_program
from mc_engine.engine.shard import process_block_range
from mc_engine.inputs.loader import load_priors
from mc_engine.output.sweep import pin_inputs, sobol_first

N_PATHS = 2600
GRID = {"market.algo_gain": [0.3, 0.6], "funding.base_rate": [0.02, 0.08]}
SETTINGS = {"n_paths": N_PATHS, "seed": SEED, "horizon": HORIZON, "chunk_paths": CHUNK, "block_size": BLOCK,
            "thin": THIN, "sensitivity_paths": N_PATHS}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("sweep")
    base = folder / "base.toml"
    base.write_bytes(tomli_w.dumps(sim_tree()).encode())
    alt_tree = sim_tree()
    alt_tree["name"] = "winter"
    alt_tree["market"]["hardware_decline"] = 0.1
    alt_tree["funding"]["raise_prob"] = {"boom": 0.6, "normal": 0.4, "winter": 0.1}
    alt = folder / "winter.toml"
    alt.write_bytes(tomli_w.dumps(alt_tree).encode())
    return base, alt


@pytest.fixture(scope="module")
def swept(files: tuple[Path, Path]) -> tuple[xr.Dataset, int]:
    base, alt = files
    mc_engine.simulate(load_priors(base), N_PATHS, SEED, HORIZON, chunk_paths=CHUNK, block_size=BLOCK,
                       thin=THIN, sensitivity_paths=N_PATHS)  # warm: the sweep must then compile nothing
    before = chunk_program._cache_size()
    ds = mc_engine.sweep(base, GRID, [alt], **SETTINGS)
    return ds, chunk_program._cache_size() - before


def test_dims_and_coordinates(swept: tuple[xr.Dataset, int]) -> None:
    ds, _ = swept
    assert list(ds["scenario"].values) == ["base", "winter"]
    for key, values in GRID.items():
        assert list(ds[key].values) == values
    assert ds["survival_prob"].dims == ("scenario", *GRID, "company", "quarter")
    assert ds["paths_used"].dims == ("scenario", *GRID)
    assert (ds["paths_used"] == N_PATHS).all()
    assert np.isfinite(ds["survival_prob"]).all()
    horizon = ds["survival_prob"].isel(quarter=-1)
    assert not horizon.sel(scenario="winter").equals(horizon.sel(scenario="base"))
    assert not horizon.isel({"market.algo_gain": 0}).equals(horizon.isel({"market.algo_gain": 1}))


def test_points_reuse_one_compiled_program(swept: tuple[xr.Dataset, int]) -> None:
    assert swept[1] == 0


def test_point_equals_simulate_of_pinned_priors(swept: tuple[xr.Dataset, int], files: tuple[Path, Path]) -> None:
    ds, _ = swept
    values = {"market.algo_gain": 0.6, "funding.base_rate": 0.02}
    one = mc_engine.simulate(pin_inputs(load_priors(files[0]), values), N_PATHS, SEED, HORIZON, chunk_paths=CHUNK,
                             block_size=BLOCK, thin=THIN, sensitivity_paths=N_PATHS)
    point = ds.sel(scenario="base", **values)
    np.testing.assert_array_equal(point["survival_prob"].values, one["survival_prob"].values)
    np.testing.assert_array_equal(point["cash"].values, one["cash"].values)


def test_sobol_first(swept: tuple[xr.Dataset, int]) -> None:
    s = swept[0]["sobol_first"].sel(scenario="base").isel({k: 0 for k in GRID})
    # cash0 decides the lab's survival; the hyperscaler's chip discount cannot move anyone's.
    # No effect reads about (bins - 1) / n = 0.0035 here (the estimator's upward bias).
    assert float(s.sel(input="companies.alab.cash0", company="alab")) > 0.02
    assert float(s.sel(input="companies.ahyper.own_chip_discount", company="alab")) < 0.01
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 2))
    y = np.stack([x[:, 0] + 0.1 * rng.normal(size=20_000)], 1)
    est = sobol_first(x, y)
    assert 0.9 < est[0, 0] <= 1 / 1.01 + 0.01  # decile bins lose the within-bin part of E[Y|X] (~5 %)
    assert est[1, 0] < 0.002


def test_resume_after_crash_equals_fresh(files: tuple[Path, Path], tmp_path: Path) -> None:
    base, alt = files

    class Crash(Exception):
        pass

    def crash_after_two(point) -> None:  # noqa: ANN001
        if point.index == 1:
            raise Crash

    with pytest.raises(Crash):
        mc_engine.sweep(base, GRID, [alt], out=tmp_path / "a", after_point=crash_after_two, **SETTINGS)
    assert sorted(p.name for p in (tmp_path / "a" / "points").glob("*.json")) == ["0.json", "1.json"]
    assert not (tmp_path / "a" / "result.nc").exists()
    (tmp_path / "a" / "points" / "1.json").write_text('{"index": ')  # a corrupt record: that point is redone
    redone: list[int] = []
    resumed = mc_engine.sweep(base, GRID, [alt], out=tmp_path / "a", after_point=lambda p: redone.append(p.index),
                              **SETTINGS)
    assert redone == [1, 2, 3, 4, 5, 6, 7]
    fresh = mc_engine.sweep(base, GRID, [alt], out=tmp_path / "b", **SETTINGS)
    xr.testing.assert_identical(resumed.drop_attrs(), fresh.drop_attrs())
    on_disk = xr.open_dataset(tmp_path / "a" / "result.nc")
    xr.testing.assert_equal(on_disk["survival_prob"], fresh["survival_prob"])
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["status"] == "complete"
    with pytest.raises(mc_engine.RunError, match="different sweep"):
        mc_engine.sweep(base, GRID, [alt], out=tmp_path / "a", **{**SETTINGS, "seed": SEED + 1})


def test_precision_stop(files: tuple[Path, Path]) -> None:
    target = 0.015  # p(1-p)/n <= 0.25/n: about 1,100 paths suffice; whole chunks give 2,048
    ds = mc_engine.sweep(files[0], {"market.algo_gain": [0.5]}, None, target_se=target,
                         **{**SETTINGS, "n_paths": 8 * CHUNK})
    used = int(ds["paths_used"].squeeze())
    assert used % CHUNK == 0 and used < 8 * CHUNK
    assert float(ds["survival_prob_se"].max()) < target
    again = mc_engine.simulate(files[0], used, SEED, HORIZON, chunk_paths=CHUNK, block_size=BLOCK, thin=THIN,
                               sensitivity_paths=N_PATHS)
    np.testing.assert_array_equal(ds["survival_prob"].squeeze().values, again["survival_prob"].values)


def test_process_block_range_splits_disjointly() -> None:
    for total in (0, 1, 7, 64):
        for count in (1, 3, 4):
            ranges = [process_block_range(total, i, count) for i in range(count)]
            assert [b for r in ranges for b in r] == list(range(total))


DEVICES_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, jax
    sys.path.insert(0, {tests!r})
    import mc_engine
    assert jax.local_device_count() == 2
    args = dict(n_paths=4600, seed=3, horizon=4, chunk_paths=512, block_size=256, thin=256,
                sensitivity_paths=1000)
    one = mc_engine.sweep({base!r}, {{"market.algo_gain": [0.5]}}, devices=jax.local_devices()[:1], **args)
    two = mc_engine.sweep({base!r}, {{"market.algo_gain": [0.5]}}, **args)
    for name in one.data_vars:
        np.testing.assert_array_equal(one[name].values, two[name].values, err_msg=name)
    print("identical")
""")


def test_two_devices_identical_to_one(files: tuple[Path, Path]) -> None:
    """18 blocks in chunks of 2 over 2 devices: 5 groups, the last with one chunk and one idle device.
    (Two devices, not four: with four this test took 81-87 s of a cold CI run on 2 cores.)"""
    script = DEVICES_SCRIPT.format(tests=str(Path(__file__).parent), base=str(files[0]))
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "identical" in done.stdout


def test_grid_over_an_uncertain_input(files: tuple[Path, Path]) -> None:
    """Pinning an uncertain input changes the sampler's structure: both values share one new program
    (at most one compile for the key), each point equals simulate() of the pinned priors, and the lab
    with USD 30 bn of cash outlives the one with USD 1 bn."""
    key = "companies.alab.cash0"
    assert not load_priors(files[0]).inputs[key].is_point
    before = chunk_program._cache_size()
    ds = mc_engine.sweep(files[0], {key: [1.0, 30.0]}, **SETTINGS)
    assert chunk_program._cache_size() - before <= 1
    assert "companies.alab.cash0" not in ds["input"].values  # pinned: no longer a sensitivity input
    one = mc_engine.simulate(pin_inputs(load_priors(files[0]), {key: 30.0}), N_PATHS, SEED, HORIZON,
                             chunk_paths=CHUNK, block_size=BLOCK, thin=THIN, sensitivity_paths=N_PATHS)
    np.testing.assert_array_equal(ds.sel({key: 30.0, "scenario": "base"})["survival_prob"].values,
                                  one["survival_prob"].values)
    horizon = ds["survival_prob"].sel(company="alab", scenario="base").isel(quarter=-1)
    assert float(horizon.sel({key: 30.0})) > float(horizon.sel({key: 1.0})) + 0.05
