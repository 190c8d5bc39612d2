"""The squigglepy peer benchmark runs the same case as the engine (mc_engine/bench_squigglepy.py)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("squigglepy")

from mc_engine.bench_squigglepy import (  # noqa: E402
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
