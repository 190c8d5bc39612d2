"""An equity round never exceeds what private investors can fill (``funding.round_capacity``).

docs/model.md section 4, step 4: ``S = min(S, round_capacity m[k])``, ``m[k]`` the regime's round-size
multiplier (1.3 / 1.0 / 0.6 in :func:`test_simulate.sim_tree`). Checked on every traced path-quarter of
the lab, whose rounds and rescues are the only money it raises; the same priors with the cap far away
raise more than the cap in some quarter, so the check can fail.
"""

from __future__ import annotations

import copy

import numpy as np
from test_simulate import load_tree, sim_tree

from mc_engine.engine.trace import trace_paths

N_PATHS, SEED, HORIZON = 4096, 5, 12
"""4,096 paths x 12 quarters: a few hundred rounds of the lab."""
CAP = 3.0
"""USD bn: below the rounds this lab asks for (8 quarters of a burn of several USD bn a quarter)."""
LARGEST_MULTIPLIER = 1.3
"""The boom's round_size in sim_tree."""


def lab_raises(round_capacity: float) -> np.ndarray:
    """Money the lab raised in each quarter of each path (rounds and rescues), shape (quarters, paths)."""
    tree = copy.deepcopy(sim_tree())
    tree["funding"]["round_capacity"] = round_capacity
    priors = load_tree(tree)
    raised = trace_paths(priors, N_PATHS, SEED, HORIZON)["raised"][:, :, priors.company_ids.index("alab")]
    return np.diff(raised, axis=0, prepend=0.0)


def test_no_round_exceeds_the_capacity():
    steps = lab_raises(CAP)
    assert (steps > 0).sum() > 100, "too few rounds to test the cap"
    assert steps.max() <= CAP * LARGEST_MULTIPLIER * (1 + 1e-5)
    # The cap binds: the largest rounds sit at it (normal or boom regime), not below.
    assert steps.max() >= CAP * (1 - 1e-5)


def test_without_the_cap_rounds_are_larger():
    steps = lab_raises(1e6)
    assert steps.max() > CAP * LARGEST_MULTIPLIER * 2
