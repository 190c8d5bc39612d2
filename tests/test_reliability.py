"""Reliability: non-finite outputs, SIGKILL mid-run, stale locks, concurrent writers, reruns.

Real ``mc-engine`` subprocesses do the work. They share one compiled program (same priors structure,
horizon 2, one key block of 8,192 paths per chunk) through JAX's persistent compilation cache in a
temporary folder: the first run compiles (~15 s on two cores), later ones load it in about a second.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from conftest import minimal_tree
from typer.testing import CliRunner

import mc_engine
from mc_engine import RunError
from mc_engine.cli import app
from mc_engine.output import runs
from mc_engine.output.rerun import compare
from mc_engine.output.runs import MANIFEST, PRIORS_TOML, RESULT, open_run, write_run
from mc_engine.output.standard_errors import standard_errors

CHUNK = 8192
RUN_ARGS = ("--horizon", "2", "--chunk-paths", str(CHUNK))


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """Subprocess environment with a shared persistent compilation cache."""
    cache = tmp_path_factory.mktemp("jax-cache")
    return {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1", "COLUMNS": "200"}


@pytest.fixture(scope="module")
def priors_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("priors") / "minimal.toml"
    path.write_bytes(tomli_w.dumps(minimal_tree()).encode())
    return path


def cli(env: dict[str, str], *args: str, check_rc: int | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "mc_engine.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stdout + proc.stderr
    return proc


def run_args(priors_file: Path, out: Path, paths: int = 2 * CHUNK, *extra: str) -> list[str]:
    return ["run", str(priors_file), "--paths", str(paths), *RUN_ARGS, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def stored_run(env, priors_file, tmp_path_factory) -> Path:
    """A finished run folder made by ``mc-engine run`` (this compiles the shared program)."""
    out = tmp_path_factory.mktemp("runs") / "stored"
    cli(env, *run_args(priors_file, out, 2 * CHUNK, "--seed", "5"), check_rc=0)
    return out


def leftovers(folder: Path) -> list[str]:
    """Hidden temporary folders and lock files beside run folders."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def assert_absent_or_complete(target: Path) -> bool:
    """The crash-safety invariant: the folder is absent, or complete and verified. True if present."""
    if not target.exists():
        return False
    ds = open_run(target)  # raises if half-written, unverifiable or edited
    manifest = json.loads((target / MANIFEST).read_text())
    assert manifest["status"] == "complete" and ds.sizes["quarter"] == 2
    return True


# --------------------------------------------------------------------------- finite outputs

NON_FINITE_DRIVER = r"""
import sys
import numpy as np
import mc_engine.output.dataset as dataset
from mc_engine.cli import main

original = dataset.to_dataset

def poisoned(raw, *args, **kwargs):
    ds = original(raw, *args, **kwargs)
    ds["revenue"].loc[dict(company="acloud")] = ds["revenue"].loc[dict(company="acloud")].where(
        ds["quarter"] != ds["quarter"][1], np.inf)
    return ds

split = sys.argv.index("::")
for label, patch, argv in ((b"POISONED", True, sys.argv[1:split]), (b"EXPLODING", False, sys.argv[split + 1 :])):
    dataset.to_dataset = poisoned if patch else original
    sys.stderr.buffer.write(b"\n=== " + label + b"\n"); sys.stderr.flush()
    try:
        main(argv)
    except SystemExit as exc:
        sys.stderr.write(f"\n=== exit {exc.code}\n")
"""


def test_non_finite_output_fails_the_run_naming_it_and_writes_no_folder(env, priors_file, stored_run, tmp_path):
    """An inf in an output (forced by a patched model output, then by inputs that overflow float32) fails
    ``mc-engine run`` with exit 2 and a message naming variable, company and quarter; no folder, no debris."""
    exploding = minimal_tree()
    exploding["companies"]["ahyper"] |= {"core_fcf0": 1e12, "core_growth": 1e4}  # valid, but exp(2500) = inf
    exploding_file = tmp_path / "exploding.toml"
    exploding_file.write_bytes(tomli_w.dumps(exploding).encode())
    poisoned_out, exploding_out = tmp_path / "poisoned", tmp_path / "exploding"
    argv = [*run_args(priors_file, poisoned_out), "::", *run_args(exploding_file, exploding_out)]
    proc = subprocess.run([sys.executable, "-c", NON_FINITE_DRIVER, *argv], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    poisoned, exploding_err = proc.stderr.split("=== EXPLODING")
    assert "=== exit 2" in poisoned and "=== exit 2" in exploding_err, proc.stderr
    assert "output 'revenue' is not finite (inf) at" in poisoned, poisoned
    assert "company=acloud" in poisoned and "quarter=2026-12-31" in poisoned, poisoned  # the second quarter
    assert "np." not in proc.stderr and "RuntimeWarning" not in proc.stderr, proc.stderr  # plain words only
    assert "nothing was written" in poisoned
    # inf, or nan once the overflowed cash meets the payout's inf - inf: either is named
    assert re.search(r"is not finite \((inf|nan)\) at", exploding_err) and "company=ahyper" in exploding_err, exploding_err
    assert "Traceback" not in proc.stderr
    assert not poisoned_out.exists() and not exploding_out.exists()
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- crash safety


def _start_with_tty(env: dict[str, str], args: list[str]) -> tuple[subprocess.Popen, int]:
    """Start ``mc-engine`` with stderr on a pseudo-terminal, so its progress bar is drawn live."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mc_engine.cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=slave)
    os.close(slave)
    return proc, master


def _wait_for_output(proc: subprocess.Popen, master: int, text: bytes, timeout: float = 240) -> None:
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
            if text in seen:
                return
    raise AssertionError(f"never saw {text!r}: {seen[-2000:]!r}")


def test_sigkill_mid_run_never_leaves_a_folder_that_open_run_accepts(env, priors_file, stored_run, tmp_path):
    target = tmp_path / "run"
    # 1. killed while simulating (after compiling): nothing may appear
    proc, master = _start_with_tty(env, run_args(priors_file, target, 400 * CHUNK))  # killed long before the end
    try:
        _wait_for_output(proc, master, b"simulating")
        time.sleep(0.5)
        assert proc.poll() is None, "the run finished before it could be killed: give it more paths"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        os.close(master)
    assert not assert_absent_or_complete(target)
    # 2. killed while writing: the moment its temporary folder appears
    proc = subprocess.Popen([sys.executable, "-m", "mc_engine.cli", *run_args(priors_file, target)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_writing = False
    while proc.poll() is None:
        if any(p.name.startswith(".run.tmp-") for p in tmp_path.iterdir()):
            proc.send_signal(signal.SIGKILL)
            killed_writing = True
            break
        time.sleep(0.001)
    proc.wait(timeout=30)
    present = assert_absent_or_complete(target)
    if killed_writing:
        assert not present, "a run killed before its rename must not leave the target folder"
        assert (tmp_path / ".run.lock").exists(), "the killed writer's lock stays behind (stale)"
    # 3. the next run into the same folder is not blocked by the stale lock, and clears the debris
    cli(env, *run_args(priors_file, target), *(["--overwrite"] if present else []), check_rc=0)
    assert assert_absent_or_complete(target)
    assert leftovers(tmp_path) == []


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_lock_and_debris_of_a_killed_writer_do_not_block(stored_run, tmp_path):
    ds, priors = open_run(stored_run), mc_engine.load_priors(stored_run / PRIORS_TOML, require_sources=False)
    pid = _dead_pid()
    (tmp_path / ".run.lock").write_text(str(pid))
    (tmp_path / f".run.tmp-{pid}").mkdir()
    (tmp_path / f".run.tmp-{pid}" / RESULT).write_bytes(b"half a netCDF file")
    folder = write_run(ds, tmp_path / "run", priors)
    assert open_run(folder).attrs["seed"] == 5
    assert leftovers(tmp_path) == []
    # a writer killed between moving the old folder aside and renaming the new one in: the old one returns
    pid = _dead_pid()
    folder.rename(tmp_path / f".run.old-{pid}")
    (tmp_path / ".run.lock").write_text(str(pid))
    with pytest.raises(RunError, match="already exists"):
        write_run(ds, tmp_path / "run", priors)
    assert assert_absent_or_complete(tmp_path / "run") and leftovers(tmp_path) == []


# --------------------------------------------------------------------------- concurrency


def test_concurrent_runs_different_folders_succeed_same_folder_refuses_cleanly(env, priors_file, stored_run,
                                                                              tmp_path):
    """Three runs at once: one to its own folder, two aimed at the same one (exactly one of those wins)."""
    targets = [tmp_path / "own", tmp_path / "same", tmp_path / "same"]
    procs = [subprocess.Popen([sys.executable, "-m", "mc_engine.cli", *run_args(priors_file, t, 4 * CHUNK)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for t in targets]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    assert results[0][0] == 0, results[0]
    same = sorted(results[1:], key=lambda r: r[0])
    assert [r[0] for r in same] == [0, 2], same
    assert open_run(tmp_path / "own").attrs["n_paths"] == open_run(tmp_path / "same").attrs["n_paths"] == 4 * CHUNK
    assert ("is writing this folder" in same[1][2]) or ("already exists" in same[1][2]), same[1][2]
    assert "Traceback" not in same[1][2]
    assert assert_absent_or_complete(tmp_path / "same") and leftovers(tmp_path) == []


def test_second_writer_is_refused_while_the_first_holds_the_folder(stored_run, tmp_path, monkeypatch):
    """Deterministic interleaving with threads: B tries while A is inside the lock, then after A is done."""
    ds, priors = open_run(stored_run), mc_engine.load_priors(stored_run / PRIORS_TOML, require_sources=False)
    inside, release = threading.Event(), threading.Event()
    original = runs._rerun_settings

    def slow(dataset, priors):  # called by write_run while it holds the lock
        if threading.current_thread().name == "writer-a":
            inside.set()
            assert release.wait(60)
        return original(dataset, priors)

    monkeypatch.setattr(runs, "_rerun_settings", slow)
    errors: list[BaseException] = []
    a = threading.Thread(target=lambda: _capture(errors, write_run, ds, tmp_path / "run", priors), name="writer-a")
    a.start()
    assert inside.wait(60)
    with pytest.raises(RunError, match=r"another run \(pid \d+\) is writing this folder"):
        write_run(ds, tmp_path / "run", priors)
    release.set()
    a.join(60)
    assert not errors, errors
    with pytest.raises(RunError, match="already exists"):
        write_run(ds, tmp_path / "run", priors)
    assert assert_absent_or_complete(tmp_path / "run") and leftovers(tmp_path) == []


def _capture(errors: list[BaseException], fn, *args) -> None:  # noqa: ANN001
    try:
        fn(*args)
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread
        errors.append(exc)


# --------------------------------------------------------------------------- rerun


def test_rerun_is_bit_for_bit_identical_on_the_same_backend(env, stored_run, tmp_path):
    proc = cli(env, "rerun", str(stored_run), "--out", str(tmp_path / "again"), check_rc=0)
    assert "identical: the rerun is bit-for-bit the stored result" in proc.stdout, proc.stdout
    manifest = json.loads((tmp_path / "again" / MANIFEST).read_text())
    assert manifest["rerun_of"] == str(stored_run)
    assert manifest["run"]["seed"] == 5 and manifest["run"]["chunk_paths"] == CHUNK
    assert manifest["run"]["quantiles"] == list(open_run(stored_run)["quantile"].values)


def test_rerun_of_a_result_that_does_not_match_its_recipe_exits_1(env, stored_run, tmp_path):
    ds, priors = open_run(stored_run), mc_engine.load_priors(stored_run / PRIORS_TOML, require_sources=False)
    ds["survival_prob"].loc[dict(company="alab")] = ds["survival_prob"].loc[dict(company="alab")] * 0.5
    tampered = write_run(ds, tmp_path / "tampered", priors)  # consistent checksums, wrong numbers
    proc = cli(env, "rerun", str(tampered), check_rc=1)
    assert "differs:" in proc.stdout and "survival_prob" in proc.stdout, proc.stdout


def test_rerun_refuses_an_edited_or_incomplete_folder(stored_run, tmp_path):
    edited = tmp_path / "edited"
    shutil.copytree(stored_run, edited)
    with (edited / PRIORS_TOML).open("a") as f:
        f.write("\n# edited\n")
    result = CliRunner().invoke(app, ["rerun", str(edited)])
    assert result.exit_code == 2 and "checksum does not match" in result.output, result.output
    (edited / MANIFEST).unlink()
    result = CliRunner().invoke(app, ["rerun", str(edited)])
    assert result.exit_code == 2 and "not a finished run" in result.output, result.output


SE_SEEDS = 12
"""Independent runs (seeds 0-11) in :func:`test_standard_errors_match_the_spread_across_seeds`."""


def test_standard_errors_match_the_spread_across_seeds(priors_file):
    """The standard errors ``compare`` judges by, against the spread of ``SE_SEEDS`` independent runs.

    For each family of cells, ``R`` = the mean over cells of (sample variance over the seeds) / (mean
    reported SE^2). With right SEs one cell's ratio is chi^2_{k-1} / (k - 1), k = ``SE_SEEDS``; a family's
    cells are correlated (levels, quarters of one run), so the tolerance is that of a single cell, the
    two-sided 99.9 % range of chi^2_11 / 11: [0.14, 3.01]. A standard error too small by a factor 2
    (R = 4) lands outside; one too large needs a factor 2.7 (R < 0.14). Checked: probabilities (binomial), the 10-90 % quantiles and the
    means of the ten market indices. Measured on the minimal tree (8,192 paths, 2 quarters):
    R = 1.15 survival, 1.17 default, 1.11 regime; quantiles 0.6-1.2 per index; means 0.9-1.8.
    Not claimed: the 1 % and 99 % levels (R 2-4: the density between 1 % and 5 % is too coarse for
    them), debt and runway (atoms; R up to ~100 on debt quantiles, 2-4 on their means).
    """
    from scipy import stats

    from mc_engine.model.market import INDICES
    from mc_engine.output.dataset import MARKET_NAMES
    from mc_engine.output.standard_errors import standard_errors

    priors = mc_engine.load_priors(priors_file, require_sources=False)
    runs = [mc_engine.simulate(priors, CHUNK, seed=seed, horizon=2, chunk_paths=CHUNK, thin=100,
                               sensitivity_paths=1000) for seed in range(SE_SEEDS)]
    errors = [standard_errors(ds) for ds in runs]
    low, high = (stats.chi2.ppf(p, SE_SEEDS - 1) / (SE_SEEDS - 1) for p in (0.0005, 0.9995))

    def ratio(name: str, levels: slice = slice(None)) -> float:
        def stack(arrays):  # noqa: ANN001, ANN202
            return np.stack([a[name].transpose(*runs[0][name].dims).values.astype(np.float64) for a in arrays])

        values, se = stack(runs), stack(errors)
        if "quantile" in runs[0][name].dims:
            values, se = values[..., levels], se[..., levels]
        var = values.var(axis=0, ddof=1)
        se2 = (se**2).mean(axis=0)
        mean = values.mean(axis=0)
        keep = se2 > 0
        if name.endswith("_prob"):
            keep &= (mean > 0.02) & (mean < 0.98)  # p near 0 or 1 gets the floor of one path in n
        assert keep.any(), name
        return float((var[keep] / se2[keep]).mean())

    families = {name: ratio(name) for name in ("survival_prob", "default_prob", "regime_prob")}
    interior = slice(2, 7)  # 10 % to 90 %
    assert np.allclose(runs[0]["quantile"].values[interior], [0.1, 0.25, 0.5, 0.75, 0.9])
    for key in INDICES:
        name = MARKET_NAMES[key][0]
        families[name] = ratio(name, interior)
        families[f"{name}_mean"] = ratio(f"{name}_mean")
    outside = {k: round(v, 2) for k, v in families.items() if not low <= v <= high}
    assert not outside, f"variance / SE^2 outside [{low:.2f}, {high:.2f}]: {outside}"


def test_compare_measures_differences_in_standard_errors(stored_run):
    """Another backend's rerun is judged in Monte Carlo standard errors, variable by variable: how
    ``compare`` counts and reports them (the standard errors themselves are checked against independent
    seeds in :func:`test_standard_errors_match_the_spread_across_seeds`)."""
    stored = open_run(stored_run)
    assert compare(stored, stored.copy(deep=True)).identical
    se = standard_errors(stored)
    assert {"survival_prob", "cash", "cash_mean", "regime_prob", "n_alive"} <= set(se)
    assert all(bool(np.all(np.isfinite(v.values))) for v in se.values())

    def shifted(name: str, n_se: float, device: str = "gpu: H100 x1"):  # noqa: ANN202
        other = stored.copy(deep=True)
        other.attrs["device"] = device
        other[name] = other[name] + n_se * se[name].astype(other[name].dtype)
        return compare(stored, other)

    near = shifted("survival_prob", 0.5)
    assert not near.identical and not near.same_backend and near.ok
    assert near.diffs[0].name == "survival_prob" and 0.4 < near.diffs[0].max_se <= 0.5 + 1e-3
    assert "within Monte Carlo error" in near.report()[-1]
    far = shifted("survival_prob", 10)
    assert not far.ok and "differs:" in far.report()[-1] and far.diffs[0].max_se > 9
    assert shifted("cash", 0.5).ok and not shifted("cash", 20).ok
    assert shifted("utilisation_mean", 2).ok and not shifted("utilisation_mean", 8).ok
    same_backend = shifted("survival_prob", 0.5, device=stored.attrs["device"])
    assert same_backend.same_backend and "not bit-for-bit" in same_backend.report()[-1]
    missing = compare(stored, stored.drop_vars("cash"))
    assert not missing.ok and "missing" in missing.diffs[0].note
