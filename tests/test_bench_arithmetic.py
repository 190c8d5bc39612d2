"""The benchmark's arithmetic split (benchmarks/bench.py::arithmetic_ratio), which docs/performance.md uses to
say how far the engine can come to the RNG floor: its parts must add up to what XLA counts in the engine's own
chunk. With the shocks on, the engine's chunk must hold about three quarters of the floor's shocks more than
with them off (two quarters drawn before the loop, one inside it); the model alone (a reducer that only sums)
must count less than the model with the real reducer. It fails if the engine draws numbers the floor does not
(or the floor numbers the engine does not), or if the split misreads XLA's count."""

from __future__ import annotations

import sys

from conftest import BASELINE, REPO

from mc_engine.inputs.loader import load_priors


def test_the_floor_draws_the_engines_shocks_and_the_split_holds():
    sys.path.insert(0, str(REPO))
    from benchmarks.bench import arithmetic_ratio

    a = arithmetic_ratio(load_priors(BASELINE), 24)
    flops = a["per_company_path"]["flops"]
    assert 2.6 <= a["shock_quarters_in_chunk"] <= 3.2, a
    assert flops["model_per_quarter"] > 0 and flops["reducer_per_quarter"] > 0, a
    # The engine's run holds the floor's arithmetic and more: model and reducer both count.
    assert a["ratio"]["flops"] > 1 and a["ratio"]["transcendentals"] > 1, a
