"""Run folders: atomic writes, manifest, verified opening, the CLI run command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tomli_w
import xarray as xr
from conftest import minimal_tree

import mc_engine
from mc_engine import RunError
from mc_engine.output.runs import MANIFEST, RESULT, write_run


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small simulated Dataset of the minimal priors (one compiled program for the module)."""
    folder = tmp_path_factory.mktemp("priors")
    path = folder / "minimal.toml"
    path.write_bytes(tomli_w.dumps(minimal_tree()).encode())
    priors = mc_engine.load_priors(path)
    ds = mc_engine.simulate(priors, 600, seed=3, horizon=4, block_size=256, thin=50, sensitivity_paths=200)
    return priors, ds, path


def test_write_and_open_round_trip(small, tmp_path):
    priors, ds, _ = small
    folder = write_run(ds, tmp_path / "run", priors)
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "priors.json", "priors.toml", "result.nc"]
    assert not list(tmp_path.glob(".run*")), "no temporary folder or lock left behind"
    back = mc_engine.open_run(folder)
    for name in ("survival_prob", "default_prob", "n_alive", "path_status"):
        np.testing.assert_allclose(back[name].values, ds[name].values, rtol=1e-6)
    np.testing.assert_allclose(back.cash.values, ds.cash.values, rtol=1e-6)
    assert back.attrs["priors_digest"] == priors.digest
    assert back.survival_prob.attrs["units"] == "1" and back.cash.attrs["units"] == "USD bn"
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["status"] == "complete" and manifest["run"]["seed"] == 3
    assert set(manifest["files"]) == {"result.nc", "priors.json", "priors.toml"}
    # the resolved priors written with the run load again and are the same priors
    again = mc_engine.load_priors(folder / "priors.toml")
    assert again.digest == priors.digest
    assert xr.open_dataset(folder / RESULT).sizes["company"] == 3


def test_existing_folder_needs_overwrite(small, tmp_path):
    priors, ds, _ = small
    write_run(ds, tmp_path / "run", priors)
    with pytest.raises(RunError, match="already exists; pass --overwrite"):
        write_run(ds, tmp_path / "run", priors)
    write_run(ds, tmp_path / "run", priors, overwrite=True)


def test_truncated_or_edited_result_is_refused(small, tmp_path):
    priors, ds, _ = small
    folder = write_run(ds, tmp_path / "run", priors)
    data = (folder / RESULT).read_bytes()
    (folder / RESULT).write_bytes(data[: len(data) // 2])
    with pytest.raises(RunError, match="checksum does not match"):
        mc_engine.open_run(folder)


def test_unfinished_or_newer_runs_are_refused(small, tmp_path):
    priors, ds, _ = small
    folder = write_run(ds, tmp_path / "run", priors)
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps({**manifest, "schema_version": 99}))
    with pytest.raises(RunError, match="newer than this mc_engine reads"):
        mc_engine.open_run(folder)
    (folder / MANIFEST).unlink()
    with pytest.raises(RunError, match="not a finished run"):
        mc_engine.open_run(folder)


def test_second_writer_is_refused(small, tmp_path):
    priors, ds, _ = small
    lock = tmp_path / ".run.lock"
    lock.write_text(str(__import__("os").getpid()))  # a live writer holds the folder
    with pytest.raises(RunError, match="another run .* is writing this folder"):
        write_run(ds, tmp_path / "run", priors)
    assert not (tmp_path / "run").exists()


def test_cli_run_writes_a_folder_and_prints_the_table(small, tmp_path):
    _, _, path = small
    out = tmp_path / "cli-run"
    proc = subprocess.run(
        [sys.executable, "-m", "mc_engine.cli", "run", str(path), "--paths", "300", "--horizon", "2",
         "--out", str(out)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "survival 2q" in proc.stdout and "alab" in proc.stdout
    ds = mc_engine.open_run(out)
    assert ds.attrs["n_paths"] == 300 and ds.sizes["quarter"] == 2
