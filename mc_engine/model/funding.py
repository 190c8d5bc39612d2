"""Funding rounds, strategic rescue, acquisition and default.

Market-wide funding conditions (per regime) and the funding parameters every
company carries are declared here; the quarterly step lives beside them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._paramspec import ParamSpec
from ._math import materialise, pick
from .state import DT, EPS, RUNWAY_CAP

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("raise_prob", "1", "prob", "p_raise: probability that a round attempt succeeds, before company odds and growth", per_regime=True),
    ParamSpec("round_size", "1", "positive", "multiplier on round size in each regime (normal = 1)", per_regime=True),
    ParamSpec("valuation", "1", "positive", "multiplier on revenue multiples in each regime (normal = 1)", per_regime=True),
    ParamSpec("credit_spread", "1/yr", "real", "credit spread added to the base rate in each regime", per_regime=True),
    ParamSpec("refinance_prob", "1", "prob", "probability that a maturing debt tranche is refinanced", per_regime=True),
    ParamSpec("base_rate", "1/yr", "nonneg", "risk-free base interest rate"),
    ParamSpec("growth_sensitivity", "1", "nonneg", "how strongly round success odds rise with year-on-year revenue growth"),
    ParamSpec("round_capacity", "USD bn", "positive", "largest equity round private investors can fill in the normal "
              "regime (scaled by round_size in the others): caps every equity round", label="largest fillable round"),
)

COMPANY_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("cash0", "USD bn", "nonneg", "cash and equivalents at as_of"),
    ParamSpec("debt0", "USD bn", "nonneg", "debt outstanding at as_of"),
    ParamSpec("rate_spread", "1/yr", "real", "company spread over base rate + regime credit spread, paid on debt"),
    ParamSpec("tenor", "yr", "positive", "average debt tenor; debt*dt/tenor matures each quarter", minimum=DT,
              minimum_why="debt * dt / tenor matures each quarter: a shorter tenor repays more than the debt"),
    ParamSpec("raise_trigger_q", "quarters", "positive", "a round is tried when runway falls below this"),
    ParamSpec("min_gap_q", "quarters", "nonneg", "minimum time between rounds"),
    ParamSpec("target_runway_q", "quarters", "positive", "a round is sized to cover this many quarters of burn"),
    ParamSpec("round_size_sigma", "1", "nonneg", "log-sd of the round-size factor"),
    ParamSpec("raise_odds", "1", "positive", "multiplier on the regime's round success probability (top labs > 1)"),
    ParamSpec("revenue_multiple", "1", "positive", "post-money valuation / annualised revenue in the normal regime"),
    ParamSpec("valuation0", "USD bn", "nonneg", "post-money valuation of the last round before as_of"),
    ParamSpec("last_round_age0", "quarters", "nonneg", "quarters since the last round at as_of"),
    ParamSpec("rescue_prob", "1", "prob", "probability a strategic backer funds a failed raise"),
    ParamSpec("rescue_capacity", "USD bn", "nonneg", "most the strategic backer can put in over the horizon, all "
              "rescues together (what the backer itself can raise)"),
    ParamSpec("payout_rate", "1", "prob", "share of the cash above the target returned to shareholders (dividends, "
              "buybacks, distributions) in a quarter when the company generates cash after the principal falling due"),
    ParamSpec("cash_target_q", "quarters", "nonneg", "cash a company keeps before paying out: the larger of cash0 and "
              "this many quarters of the quarter's costs net of core cash flow (revenue + burn)"),
    ParamSpec("acquire_prob", "1", "prob", "acquisition hazard per quarter at zero runway (never for hyperscalers)"),
    ParamSpec("acquire_runway_q", "quarters", "positive", "the acquisition hazard falls as exp(-runway / this): "
              "acquirers buy labs that still have cash, more often the shorter the runway"),
)

STARTING_KEYS: tuple[str, ...] = ("cash0", "debt0", "valuation0", "last_round_age0")
"""Common company parameters that are observations at ``as_of`` (balance sheet and funding history)."""

NORMALS: tuple[str, ...] = ("round_size",)
"""Normal shocks every company draws each quarter for funding: the round-size factor."""
UNIFORMS: tuple[str, ...] = ("refinance", "round", "rescue", "acquisition")
"""Uniforms every company draws each quarter: a maturity refinanced, a round raised, a rescue, an acquisition."""

CAUSES: tuple[str, ...] = ("cash", "covenant", "maturity", "acquisition")
"""Exit causes, in output order: cash exhausted, covenant breach left uncured, a maturity not refinanced
(the company would have had cash without that repayment), acquisition. ``cause`` codes are 1-based."""


def debt_service(f: dict[str, jax.Array], c: dict[str, jax.Array], debt: jax.Array, regime: jax.Array,
                 u_refinance: jax.Array, bond: jax.Array, bond_access: jax.Array,
                 cap: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Interest, principal due, principal repaid from cash, and debt after repayment (docs/model.md 3.1).

    All (companies, paths).

    ``bond`` (companies, 1) marks investment-grade issuers (hyperscalers): their maturities are refinanced with
    their own ``bond_access`` (companies, paths) whatever the equity regime; a winter still widens the spread.
    ``cap`` (companies, paths) is the most debt lenders will hold after refinancing (the collateral's loan
    value for GPU-backed neocloud debt, +inf otherwise): a maturity is refinanced only up to it.
    """
    rate = f["base_rate"][None] + pick(f["credit_spread"], regime)[None] + c["rate_spread"]
    interest = debt * rate * DT
    due = debt * DT / c["tenor"]
    refinanced = u_refinance < jnp.where(bond, bond_access, pick(f["refinance_prob"], regime)[None])
    kept = debt - due
    rolled = jnp.where(refinanced, jnp.clip(cap - kept, 0.0, due), 0.0)
    repaid = due - rolled
    return interest, due, repaid, kept + rolled


def step(f: dict[str, jax.Array], c: dict[str, jax.Array], s, regime: jax.Array, cash: jax.Array,
         burn: jax.Array, revenue: jax.Array, credit_line: jax.Array, covenant_breached: jax.Array,
         covenant_default: jax.Array, due: jax.Array, repaid: jax.Array, bond: jax.Array, bond_access: jax.Array,
         u: jax.Array, z_round: jax.Array) -> dict[str, jax.Array]:
    """Rounds, rescue, acquisition and default (docs/model.md section 4), for every company.

    Args:
        f: market-wide funding parameters; c: company funding parameters, each (companies, paths).
        s: the company state at the start of the quarter.
        cash: cash after this quarter's flows and repayments (``cash'``).
        burn, revenue: this quarter's burn and revenue.
        credit_line: undrawn credit usable before failure (0 except hyperscalers).
        covenant_breached: the covenant is breached this quarter (a cure round is tried).
        covenant_default: a breach left uncured for the covenant's quarters (neoclouds).
        due: principal falling due this quarter, refinanced or not (debt service counted in the runway).
        repaid: principal repaid from cash this quarter (a maturity not refinanced).
        bond: (companies, 1) investment-grade issuers (hyperscalers): a round is a bond issue that succeeds
            with ``bond_access`` whatever the equity regime, and they are never acquired.
        u: uniforms (3, companies, paths): raise, rescue, acquisition.
        z_round: normals for the round size (companies, paths).
    """
    # Runway is liquidity over burn plus the principal falling due (refinanced or not), the liquidity cover a
    # credit analyst reads: a maturity wall shortens it, and a round is tried before the wall.
    outflow = burn + due
    positive_burn = outflow > 0
    safe_burn = jnp.where(positive_burn, outflow, 1.0)
    runway_pre = jnp.where(positive_burn, (cash + credit_line) / safe_burn, RUNWAY_CAP)
    gq = 0.5 * s.gq + 0.5 * jnp.log(jnp.maximum(revenue, EPS) / jnp.maximum(s.rev_prev, EPS))
    attempt = (runway_pre < c["raise_trigger_q"]) | covenant_breached
    # The minimum gap is a hazard, not a wall: inside it a bridge round succeeds with odds scaled by the
    # share of the gap that has passed.
    gap = jnp.clip((s.age + 1) / jnp.maximum(c["min_gap_q"], EPS), 0.0, 1.0)
    equity_odds = pick(f["raise_prob"], regime)[None] * c["raise_odds"] * jnp.exp(f["growth_sensitivity"][None] * 4 * gq)
    odds = jnp.where(bond, bond_access, equity_odds) * gap
    success = attempt & (u[0] < jnp.clip(odds, 0.0, 1.0))
    sigma = c["round_size_sigma"]
    m = jnp.where(bond, 1.0, pick(f["round_size"], regime)[None])
    size = c["target_runway_q"] * jnp.maximum(outflow, 0.0) * m * jnp.exp(sigma * z_round - 0.5 * sigma**2)
    # An equity round is capped by what private investors can fill (the regime scales it like the size).
    size = jnp.where(bond, size, jnp.minimum(size, f["round_capacity"][None] * m))
    valuation = c["revenue_multiple"] * pick(f["valuation"], regime)[None] * 4 * revenue
    # A backer rescues a failed raise outside the gap, up to what it can still put in.
    room = jnp.maximum(c["rescue_capacity"] - s.rescued, 0.0)
    rescue = attempt & ~success & (gap >= 1) & (room > 0) & (u[1] < c["rescue_prob"])
    amount = jnp.where(success, size, jnp.where(rescue, jnp.minimum(size, room), 0.0))
    success, rescue, amount = materialise(success, rescue, amount, token=regime >= 0)
    funded = success | rescue
    cash = cash + amount
    liquidity = cash + credit_line
    runway_post = jnp.where(positive_burn, jnp.maximum(liquidity, 0.0) / safe_burn, RUNWAY_CAP)
    hazard = c["acquire_prob"] * jnp.exp(-runway_post / c["acquire_runway_q"])
    acquired = ~bond & ~funded & (u[2] < hazard)
    broke = liquidity < 0
    defaulted = ~acquired & (broke | covenant_default)
    acquired, defaulted, cash, liquidity = materialise(acquired, defaulted, cash, liquidity,
                                                       token=regime >= 0)
    cause = jnp.where(acquired, 4, jnp.where(
        ~defaulted, 0, jnp.where(covenant_default, 2, jnp.where((repaid > 0) & (liquidity + repaid >= 0), 3, 1))))
    runway = jnp.where(positive_burn, jnp.clip(liquidity / safe_burn, 0.0, RUNWAY_CAP), RUNWAY_CAP)
    # A company that generates cash after the principal falling due returns part of what it holds above its
    # target (the larger of its starting cash and cash_target_q quarters of its costs) to shareholders.
    target = jnp.maximum(c["cash0"], c["cash_target_q"] * jnp.maximum(revenue + burn, 0.0))
    pays = ~positive_burn & ~funded & ~acquired & ~defaulted
    payout = jnp.where(pays, c["payout_rate"] * jnp.maximum(cash - target, 0.0), 0.0)
    return {
        "cash": cash - payout,
        "payout": payout,
        "status": jnp.where(acquired, 2, jnp.where(defaulted, 1, 0)).astype(jnp.int32),
        "cause": cause.astype(jnp.int32),
        "rounds": s.rounds + success,
        "rescues": s.rescues + rescue,
        "rescued": s.rescued + jnp.where(rescue, amount, 0.0),
        "down_rounds": s.down_rounds + (success & (valuation < s.v_last)),
        "raised": s.raised + amount,
        "paid_out": s.paid_out + payout,
        "v_last": jnp.where(success, valuation, s.v_last),
        "age": jnp.where(funded, 0.0, s.age + 1),
        "gq": gq,
        "runway": runway,
    }
