"""Command-line output a person reads: priors show as a table, priors check filters, make run's guard."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import BASELINE, REPO

from mc_engine.cli import main


def run_cli(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out = capsys.readouterr()
    assert exit_info.value.code == 0, out.err
    return out.out


def test_priors_show_is_a_readable_table(capsys):
    out = run_cli(capsys, "priors", "show", str(BASELINE), "companies.openai.round_size_sigma")
    assert "Dist(" not in out
    assert "distribution" in out and "lognormal(mu=" in out and "sigma=" in out
    assert "companies.openai.round_size_sigma" in out.splitlines()[0]  # the title line holds the whole name
    for label in ("meaning", "units", "source", "as of", "50%", "mean", "sd"):
        assert label in out


def test_priors_check_only_and_grep_filter_the_listing_not_the_validation(capsys):
    everything = run_cli(capsys, "priors", "check", str(BASELINE))
    only = run_cli(capsys, "priors", "check", str(BASELINE), "--only", "companies.openai")
    both = run_cli(capsys, "priors", "check", str(BASELINE), "--only", "companies.openai", "--grep", "runway")
    assert len(only.splitlines()) < len(everything.splitlines()) / 5
    assert "companies.anthropic." not in only and "companies.openai.cash0" in only
    assert "companies.openai.target_runway_q" in both and "companies.openai.cash0" not in both
    for out in (everything, only, both):
        assert "is valid" in out


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_refuses_a_runs_baseline_it_did_not_make(tmp_path):
    """A real runs/baseline folder is never overwritten: make stops before simulating anything."""
    work = tmp_path / "clone"
    work.mkdir()
    shutil.copy(REPO / "Makefile", work / "Makefile")
    (work / "runs" / "baseline").mkdir(parents=True)
    (work / "runs" / "baseline" / "result.nc").write_text("precious")
    # a stand-in venv, so make does not install anything: the mc-engine it calls always succeeds
    bin_dir = work / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "mc-engine"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    (work / "pyproject.toml").write_text("")
    (work / ".venv" / ".installed").write_text("")
    done = subprocess.run(["make", "-s", "run"], cwd=work, capture_output=True, text=True)
    assert done.returncode != 0 and "did not make" in done.stderr
    assert (work / "runs" / "baseline" / "result.nc").read_text() == "precious"
    # once it is gone, make run writes a dated folder and links runs/baseline to it
    shutil.rmtree(work / "runs" / "baseline")
    done = subprocess.run(["make", "-s", "run"], cwd=work, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (work / "runs" / "baseline").is_symlink()
    assert (work / "runs" / "baseline").readlink().name.startswith("baseline-")
