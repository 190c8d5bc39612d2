"""The squigglepy peer benchmark runs the same case as the engine (benchmarks/bench_squigglepy.py).

squigglepy comes with the ``dev`` (and ``bench``) extra, which the test suite needs anyway: it is
imported directly, so a broken install fails here instead of skipping.
"""

from __future__ import annotations

import sys

import numpy as np
import squigglepy  # noqa: F401
from conftest import REPO

sys.path.insert(0, str(REPO))  # the benchmarks live in the checkout, not in the package
from benchmarks.bench_squigglepy import (  # noqa: E402
    case_params,
    engine_runway,
    squigglepy_runway,
    survival_diff_se,
)

N_SQUIGGLE = 2_000
N_ENGINE = 20_000
HORIZON = 24


def test_squigglepy_and_engine_survival_agree() -> None:
    """Survival by quarter of benchmarks/one_lab_runway.toml from squigglepy (2,000 paths, seed 0) and from
    the engine (20,000 paths, seed 0) differ by at most 4 binomial standard errors of the difference
    (pooled p) at every one of the 24 quarters. The curve is not trivial (0.05-0.95 at the horizon), so the
    test can fail: dropping the hardware-cost walk (hardware_vol 0) moves squigglepy's curve 8 SE off the
    engine's, doubling opex growth 12 SE, 5 % less cash 6.6 SE."""
    peer = squigglepy_runway(N_SQUIGGLE, HORIZON, case_params(), seed=0)
    engine = engine_runway(N_ENGINE, HORIZON, seed=0)
    assert peer.shape == engine.shape == (HORIZON,)
    assert 0.05 < engine[-1] < 0.95
    assert np.all(np.diff(peer) <= 0)
    se = survival_diff_se(peer, N_SQUIGGLE, engine, N_ENGINE)
    bad = np.abs(peer - engine) > 4 * se
    assert not bad.any(), (f"quarters {np.flatnonzero(bad) + 1}: squigglepy {peer[bad]} vs engine "
                           f"{engine[bad]} (4 SE = {4 * se[bad]})")


def test_cli_bench_points_to_the_checkout_suite() -> None:
    """``mc-engine bench`` is not the suite any more: it says where the suite is and exits 2."""
    from typer.testing import CliRunner

    from mc_engine.cli import app

    result = CliRunner().invoke(app, ["bench", "--full"])
    assert result.exit_code == 2
    assert "python -m benchmarks" in result.output


def test_benchmarks_run_as_a_module_shows_its_options() -> None:
    import subprocess

    out = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], cwd=REPO, capture_output=True, text=True,
                         check=True)
    assert "--full" in out.stdout and "--out" in out.stdout
