"""Payouts: a company that generates cash returns what it holds above its target (docs/model.md section 4,
step 11).

In a quarter whose burn plus principal due is not positive, a company alive after funding pays
``payout_rate max(cash' - target, 0)`` with ``target = max(cash0, cash_target_q max(rev + burn, 0))``.
Checked on every traced quarter of a hyperscaler made a cash machine (no debt, core cash flow far
above its AI spending): with ``payout_rate = 1`` its cash sits at ``min(cash_{t-1} - burn_t, target)``,
with ``payout_rate = 0`` it keeps every dollar, and with a rate in between it pays that share of the
excess. The funding step itself is checked case by case against the same arithmetic by hand.
"""

from __future__ import annotations

import copy

import jax.numpy as jnp
import numpy as np
import pytest
from test_simulate import load_tree, sim_tree

from mc_engine.engine.trace import trace_paths
from mc_engine.model import funding
from mc_engine.model.state import CompanyState

N_PATHS, SEED, HORIZON = 1024, 3, 8
CASH0, TARGET_Q = 20.0, 2.0
RTOL = 2e-5
"""float32 arithmetic on amounts of tens to hundreds of USD bn."""


def cash_machine(payout_rate: float) -> tuple[dict[str, np.ndarray], int]:
    """Traced paths of sim_tree with the hyperscaler debt-free and its core cash flow 10x its AI spending."""
    tree = copy.deepcopy(sim_tree())
    tree["companies"]["ahyper"].update({"debt0": 0.0, "core_fcf0": 1500.0, "cash0": CASH0, "payout_rate": payout_rate,
                                        "cash_target_q": TARGET_Q})
    priors = load_tree(tree)
    return trace_paths(priors, N_PATHS, SEED, HORIZON), priors.company_ids.index("ahyper")


@pytest.mark.parametrize("rate", [0.0, 0.35, 1.0])
def test_cash_above_the_target_is_paid_out_at_the_rate(rate: float):
    tr, j = cash_machine(rate)
    cash, burn, revenue, status = (tr[k][:, :, j] for k in ("cash", "burn", "revenue", "status"))
    assert (status == 0).all(), "the cash machine never leaves"
    assert (burn < 0).all(), "the cash machine generates cash every quarter"
    before = np.concatenate([np.full((1, cash.shape[1]), CASH0), cash[:-1]]) - burn
    target = np.maximum(CASH0, TARGET_Q * np.maximum(revenue + burn, 0.0))
    expected = before - rate * np.maximum(before - target, 0.0)
    np.testing.assert_allclose(cash, expected, rtol=RTOL)
    # the running total the Dataset's paid_out sketches
    np.testing.assert_allclose(tr["paid_out"][:, :, j], np.cumsum(before - cash, axis=0), rtol=RTOL, atol=1e-3)
    if rate > 0:
        assert (before > target * 1.01).mean() > 0.5, "the payout binds in most quarters"
        assert (cash < before * (1 - 1e-3)).mean() > 0.5


def company_state(cash: float) -> CompanyState:
    one = jnp.ones((1, 1))
    return CompanyState(cash=cash * one, debt=0 * one, status=0 * one, cause=0 * one, rounds=0 * one,
                        rescues=0 * one, rescued=0 * one, down_rounds=0 * one, raised=0 * one, paid_out=0 * one, v_last=one,
                        age=10 * one, gq=0 * one, rev_prev=one, runway=100 * one, cumburn=0 * one,
                        base_last=0 * one, host_share=0 * one)


@pytest.mark.parametrize(("cash", "burn", "due", "revenue", "breached", "paid"), [
    (100.0, -10.0, 0.0, 30.0, False, 0.5 * (100.0 - 40.0)),  # target 2 x (30 - 10) = 40 over cash0 = 25
    (100.0, -28.0, 0.0, 30.0, False, 0.5 * (100.0 - 25.0)),  # costs 2: cash0 = 25 is the target
    (20.0, -10.0, 0.0, 30.0, False, 0.0),                    # below the target: nothing
    (100.0, -10.0, 15.0, 30.0, False, 0.0),                  # the principal due outweighs the cash generated
    (100.0, 10.0, 0.0, 30.0, False, 0.0),                    # burning cash
    (100.0, -10.0, 0.0, 30.0, True, 0.0),                    # a covenant cure round is funded instead
])  # fmt: skip
def test_funding_step_pays_by_hand(cash, burn, due, revenue, breached, paid):
    """``funding.step`` for one company against the rule by hand (cash0 25, cash_target_q 2, rate 0.5)."""
    one = jnp.ones((1, 1))
    f = {"raise_prob": jnp.ones((3, 1)), "round_size": jnp.ones((3, 1)), "valuation": jnp.ones((3, 1)),
         "growth_sensitivity": jnp.zeros(1), "round_capacity": jnp.full(1, 1e6)}
    c = {"cash0": 25 * one, "payout_rate": 0.5 * one, "cash_target_q": 2 * one, "raise_trigger_q": 4 * one,
         "min_gap_q": one, "target_runway_q": 4 * one, "round_size_sigma": 0 * one, "raise_odds": one,
         "revenue_multiple": one, "rescue_prob": 0 * one, "rescue_capacity": 0 * one, "acquire_prob": 0 * one,
         "acquire_runway_q": one}
    out = funding.step(f, c, company_state(cash), jnp.ones(1, jnp.int32), cash * one, burn * one, revenue * one,
                       0 * one, jnp.full((1, 1), breached), jnp.zeros((1, 1), bool), due * one, 0 * one,
                       jnp.zeros((1, 1), bool), 0 * one, jnp.zeros((3, 1, 1)), 0 * one)
    funded = float(out["raised"][0, 0])
    assert float(out["payout"][0, 0]) == pytest.approx(paid, rel=1e-6)
    assert float(out["cash"][0, 0]) == pytest.approx(cash + funded - paid, rel=1e-6)
    assert bool(out["rounds"][0, 0] > 0) == breached  # the cure round succeeds (it raises 0: no burn to cover)
