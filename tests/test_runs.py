"""Run folders: atomic writes, manifest, verified opening, the CLI run command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
    assert back.survival_prob.attrs["units"] == "1" and back.cash.attrs["units"] == "USD"
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


# --------------------------------------------------------------------------- --overwrite under SIGKILL

KILL_DRIVER = r"""
import json, os, signal, sys
import mc_engine
from mc_engine.output import runs

folder, cases = sys.argv[1], json.loads(sys.argv[2])
ds = mc_engine.open_run(folder)  # loaded once; each case forks a writer that is killed at its step
ds.attrs["seed"] = 99
priors = mc_engine.load_priors(os.path.join(folder, "priors.toml"), require_sources=False)


def kill(at, step):
    if at == step:
        os.kill(os.getpid(), signal.SIGKILL)


def half(path):  # killed half way through deleting the old run
    next(iter(sorted(path.iterdir()))).unlink()
    os.kill(os.getpid(), signal.SIGKILL)


status = {}
for mode, step, target in cases:
    pid = os.fork()
    if pid == 0:
        if mode == "renames":
            runs._exchange = lambda a, b: False  # the fallback where the kernel cannot exchange two folders
        runs._fault_point = lambda at: kill(at, step)
        if step == "removing-old":
            runs._remove_old = half
        runs.write_run(ds, target, priors, overwrite=True)
        os._exit(0)
    status[target] = os.waitpid(pid, 0)[1]
print(json.dumps(status))
"""

STEPS = [("exchange", s) for s in ("written", "published", "removing-old")] + [
    ("renames", s) for s in ("written", "old-aside", "published", "removing-old")]


def test_killed_overwrite_leaves_the_whole_old_or_the_whole_new_run(small, tmp_path):
    """SIGKILL at each step of replacing a run, on both publishing paths: the target is always the complete old
    run or the complete new one (after the next writer's recovery at the latest); the old run is never deleted
    before the new one is in place."""
    priors, ds, _ = small
    source = write_run(ds, tmp_path / "source", priors)
    cases = []
    for mode, step in STEPS:
        (tmp_path / mode / step).mkdir(parents=True)
        cases.append((mode, step, str(write_run(ds, tmp_path / mode / step / "target", priors))))  # old: seed 3
    proc = subprocess.run([sys.executable, "-c", KILL_DRIVER, str(source), json.dumps(cases)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout.strip().splitlines()[-1])
    for mode, step, target in cases:
        target = Path(target)
        assert os.WIFSIGNALED(status[str(target)]) and os.WTERMSIG(status[str(target)]) == 9, (mode, step)
        if mode == "exchange" or step != "old-aside":  # readers never see a gap
            assert mc_engine.open_run(target).attrs["seed"] in (3, 99), (mode, step)
        with pytest.raises(RunError, match="already exists"):  # the next writer recovers first
            write_run(ds, target, priors)
        seed = mc_engine.open_run(target).attrs["seed"]
        assert seed == (99 if step in ("published", "removing-old") else 3), (mode, step, seed)
        assert sorted(p.name for p in target.parent.iterdir()) == ["target"], ("debris", mode, step)


def test_overwrite_replaces_only_a_run_folder(small, tmp_path):
    priors, ds, _ = small
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    (tmp_path / "file.txt").write_text("keep me too")
    for target in ("mine", "file.txt"):
        with pytest.raises(RunError, match="replaces only a run folder"):
            write_run(ds, tmp_path / target, priors, overwrite=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert (tmp_path / "file.txt").read_text() == "keep me too"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "mine"], "nothing hidden, nothing left"


# --------------------------------------------------------------------------- manifests


def test_edited_manifests_are_refused_by_checksum_then_by_field(small, tmp_path):
    from mc_engine.output.runs import manifest_digest

    priors, ds, _ = small
    folder = write_run(ds, tmp_path / "run", priors)
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps({**manifest, "run": {**manifest["run"], "seed": 4}}))
    with pytest.raises(RunError, match="the manifest was edited"):
        mc_engine.open_run(folder)
    secret = tmp_path / "secret.txt"
    secret.write_text("not part of the run")
    for edit, message in (({"files": {str(secret): "0" * 64}}, "is not a file of a run folder"),
                          ({"run": {**manifest["run"], "seed": -1}}, r"run.seed -1: must be"),
                          ({"run": {**manifest["run"], "prng": "rbg"}}, "unknown PRNG"),
                          ({"run": {**manifest["run"], "chunk_paths": 1000}}, "run.chunk_paths 1000"),
                          ({"run": {**manifest["run"], "quantiles": [0.5, 2]}}, "run.quantiles"),
                          ({"run": "x"}, "run: must be a table")):
        edited = {**manifest, **edit}
        edited["manifest_sha256"] = manifest_digest(edited)  # consistent checksum, bad field
        (folder / MANIFEST).write_text(json.dumps(edited))
        with pytest.raises(RunError, match=message):
            mc_engine.open_run(folder)


def test_distinct_seeds_give_distinct_futures_and_seeds_outside_32_bits_are_refused(small):
    priors, ds, _ = small
    other = mc_engine.simulate(priors, 600, seed=3 + 2**31, horizon=4, block_size=256, thin=50,
                               sensitivity_paths=200)
    top = mc_engine.simulate(priors, 600, seed=2**32 - 1, horizon=4, block_size=256, thin=50, sensitivity_paths=200)
    assert other.attrs["seed"] == 3 + 2**31 and top.attrs["seed"] == 2**32 - 1
    for a, b in ((ds, other), (ds, top), (other, top)):
        assert not np.array_equal(a.path_cash.values, b.path_cash.values)
    for seed in (-1, 2**32, 2**64):
        with pytest.raises(RunError, match="must be a whole number from 0 to 4,294,967,295"):
            mc_engine.simulate(priors, 600, seed=seed, horizon=4, block_size=256)


# --------------------------------------------------------------------------- CF conventions


def _compliance_checker():  # noqa: ANN202
    """The IOOS compliance checker; skip only where its UDUNITS-2 library cannot be loaded."""
    try:
        import cf_units  # noqa: F401 - loads libudunits2 (bundled in its wheels; Debian: libudunits2-0)
    except (ImportError, OSError) as exc:
        if "udunits" in str(exc).lower():
            pytest.skip(f"compliance-checker needs the UDUNITS-2 library, missing here: {exc}")
        raise
    from compliance_checker.runner import CheckSuite, ComplianceChecker

    CheckSuite().load_all_available_checkers()
    return ComplianceChecker


def test_result_passes_the_cf_1_10_compliance_checker(small, tmp_path):
    """No high-priority (error) finding but the documented one: "USD" is not a UDUNITS unit (docs/engine.md)."""
    checker = _compliance_checker()
    priors, ds, _ = small
    folder = write_run(ds, tmp_path / "run", priors)
    report = tmp_path / "cf.json"
    checker.run_checker(str(folder / RESULT), ["cf:1.10"], 0, "normal", output_filename=str(report),
                        output_format="json")
    results = json.loads(report.read_text())["cf:1.10"]
    errors = [msg for item in results["high_priorities"] if item["value"][0] < item["value"][1]
              for msg in item["msgs"]]
    assert errors, "the checker ran and reported the USD units"
    others = [m for m in errors if not m.endswith('"USD" are not recognized by UDUNITS')]
    assert others == [], others
    assert {v.attrs.get("currency", "")[:3] for v in xr.open_dataset(folder / RESULT).data_vars.values()
            if v.attrs.get("units") == "USD"} == {"USD"}
