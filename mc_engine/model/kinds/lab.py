"""AI lab: share, revenue, serving and training compute, opex, commitments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..._paramspec import ParamSpec
from .._math import materialise, plan_log_growth
from ..shares import PRICING_PARAMS, reprice
from ..state import DT, EPS
from .base import Block, CompanyKind, Context, DebtTerms, Flows, KindInputs, Peer, Settled, no_covenant

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("revenue0", "USD bn/yr", "nonneg", "annualised revenue run rate at as_of"),
    ParamSpec("compute_margin0", "1", "real", "m_0: starting compute margin, 1 - serving cost / revenue"),
    ParamSpec("share_drift", "1/yr", "real", "annual log drift of market share s"),
    ParamSpec("share_vol", "1/sqrt(yr)", "nonneg", "s_s: volatility of ln s"),
    ParamSpec("training0", "USD bn/yr", "nonneg", "annualised training compute spend at as_of"),
    ParamSpec("training_growth0", "1/yr", "real", "g_T: starting annual log growth of training spend"),
    ParamSpec("training_growth_inf", "1/yr", "real", "long-run annual log growth of training spend"),
    ParamSpec("training_growth_decay", "1/yr", "nonneg", "rate at which training growth decays to its long-run value"),
    ParamSpec("training_cut", "1", "prob", "cut: training spend multiplier while runway is short"),
    ParamSpec("training_revenue_cap", "1", "positive", "training spend is at most this multiple of the quarter's "
              "revenue: investors fund frontier training in proportion to what the lab sells"),
    ParamSpec("cut_runway_q", "quarters", "nonneg", "training is cut when runway falls below this"),
    ParamSpec("opex0", "USD bn/yr", "nonneg", "annualised non-compute operating expense at as_of"),
    ParamSpec("opex_growth", "1/yr", "real", "annual log growth of opex"),
    ParamSpec("commitments", "USD bn/yr", "nonneg", "take-or-pay compute commitments by year after as_of", schedule=True),
    ParamSpec("commitment_realisation", "1", "nonneg", "share of the commitment schedule that is actually owed (renegotiation)"),
    ParamSpec("commitment_renewal", "1", "nonneg", "after the schedule ends, commitments are renewed at this share "
              "of its last year's level (reached over one year)"),
    *PRICING_PARAMS,
)


def commitment(p: dict[str, jax.Array], t: jax.Array, schedule: jax.Array, years: jax.Array) -> jax.Array:
    """Commitment owed in quarter ``t``, USD bn per quarter, (labs, paths) (docs/model.md 3.2).

    The yearly schedule ``y_0 .. y_{n-1}`` is interpolated linearly between year centres (no steps at year
    boundaries); after it ends the level moves over one year to ``commitment_renewal y_{n-1}`` and stays.
    ``schedule`` (labs, years + 1) with a trailing zero column; ``years`` (labs,) its length per lab.
    """
    x = jnp.maximum((t - 0.5) / 4 - 0.5, 0.0)
    i = jnp.floor(x)
    frac = x - i
    i = i.astype(jnp.int32)
    width = schedule.shape[1]

    def column(j: jax.Array) -> jax.Array:
        # schedule[:, j] as a select over the (few) static columns: an indexed read would be a dynamic slice
        # inside the lab's fused loops, whose index load keeps XLA's CPU loops from being vectorised.
        j = jnp.clip(j, 0, width - 1)
        return sum(jnp.where(j == y, schedule[:, y], 0.0) for y in range(width))

    # The three schedule values of this quarter, (labs,), stored once. Left to fusion, the selects were copied
    # into every reader: the host-revenue fusions (model/links.py) read each lab's payment 25 times, and so
    # large a sub-function LLVM does not always inline, which leaves those loops scalar.
    now, following, last = materialise(column(i), column(i + 1), column(years - 1), token=t >= 0)
    renewed = p["commitment_renewal"] * last[:, None]
    level = jnp.where((i < years)[:, None], now[:, None], renewed)
    level_next = jnp.where((i + 1 < years)[:, None], following[:, None], renewed)
    return p["commitment_realisation"] * (level + frac * (level_next - level)) / 4


def flows(p: dict[str, jax.Array], ln_s: jax.Array, norm: jax.Array, premium: jax.Array, mk: dict[str, jax.Array],
          u0: jax.Array, elasticity: jax.Array, t: jax.Array, runway_prev: jax.Array, schedule: jax.Array,
          years: jax.Array, wdead: jax.Array) -> dict[str, jax.Array]:
    """One quarter of every lab (docs/model.md 3.2); arrays (labs, paths), amounts USD bn per quarter.

    Args:
        p: lab parameters, each (labs, paths).
        ln_s: log share weight this quarter (0 at as_of), see :func:`mc_engine.model.shares.step`.
        norm: share normaliser ``N_0 / N_t`` (1, paths): the market's total weight at as_of over now.
        premium: log price premium over the market at the end of last quarter (labs, paths).
        mk: market levels this quarter (H, E, R, C, P, G, D, U, S, K), each (paths,).
        u0: starting utilisation (paths,).
        elasticity: provider-level price elasticity (paths,): volume lost per unit of log premium.
        t: quarter number, 1-based.
        runway_prev: runway at the end of last quarter, quarters.
        schedule, years: commitment schedule, USD bn/yr, see :func:`commitment`.
        wdead: share of each lab's compute placed with hosts that have left.

    Returns:
        revenue, serve (serving compute), need, base (owed to hosts), spend (cash cost of
        compute), opex, gross_margin, premium.
    """
    d, price, cost, util, g = (mk[k][None] for k in ("D", "P", "C", "U", "G"))
    share = jnp.exp(ln_s) * norm
    quarter0 = p["revenue0"] / 4
    ratio = (1 - p["compute_margin0"]) * cost * u0[None] / (price * util)
    premium = reprice(premium, ratio, p["reprice_speed"], p["reprice_max"])
    volume = quarter0 * d * share * jnp.exp(-elasticity[None] * premium)
    revenue = volume * price * jnp.exp(premium)
    serve = volume * price * ratio
    plan = p["training0"] / 4 * jnp.exp(
        plan_log_growth(p["training_growth0"], p["training_growth_inf"], p["training_growth_decay"], t, DT)
    )
    train = (jnp.minimum(plan, p["training_revenue_cap"] * revenue)
             * jnp.where(runway_prev < p["cut_runway_q"], p["training_cut"], 1.0))
    opex = p["opex0"] / 4 * jnp.exp(p["opex_growth"] * t * DT)
    commit = commitment(p, t, schedule, years)
    need = serve + train
    base = jnp.maximum(need, commit)
    spend = base * (1 - wdead) + need * wdead * g
    gross_margin = jnp.clip((revenue - serve) / jnp.maximum(revenue, EPS), -5.0, 1.0)
    return {"revenue": revenue, "serve": serve, "need": need, "base": base, "spend": spend,
            "opex": opex, "gross_margin": gross_margin, "premium": premium}


def revenue0(p: dict[str, jax.Array]) -> jax.Array:
    """Quarterly revenue at as_of (all indices at 1), (labs, paths)."""
    return p["revenue0"] / 4


class LabState(NamedTuple):
    """A lab's own state, each (labs, paths)."""

    ln_s: jax.Array  # log market-share index (0 at as_of)
    premium: jax.Array  # log price premium over the market


class Lab(CompanyKind):
    """AI lab: sells a share of market spend, buys compute from hosts under take-or-pay commitments."""

    name = "lab"
    params = PARAMS
    State = LabState
    normals = ("share",)
    client = True
    spend_weight0 = "revenue0"
    starting_keys = ("revenue0", "compute_margin0", "training0", "opex0", "commitments")

    def constants(self, ids: tuple[str, ...], schedules: Mapping[str, tuple[float, ...]]) -> dict[str, np.ndarray]:
        """``schedule`` (labs, years + 1): each lab's commitment schedule, USD bn/yr, zero-padded;
        ``schedule_years`` (labs,): its length."""
        rows = [schedules.get(f"companies.{cid}.commitments", ()) for cid in ids]
        schedule = np.zeros((len(ids), max((len(r) for r in rows), default=0) + 1), np.float32)
        years = np.zeros(len(ids), np.int32)
        for i, values in enumerate(rows):
            schedule[i, : len(values)] = values
            years[i] = len(values)
        return {"schedule": schedule, "schedule_years": years}

    def init(self, p_market: dict[str, jax.Array], kp: KindInputs) -> tuple[LabState, jax.Array]:
        zeros = jnp.zeros_like(kp.company["cash0"])
        return LabState(ln_s=zeros, premium=zeros), revenue0(kp.own)

    def flows(self, ctx: Context, kp: KindInputs, s: Block, z: Any, dead_hosts: jax.Array | None) -> Flows:
        f = flows(kp.own, s.own.ln_s, ctx.share_norm, s.own.premium, ctx.market, ctx.p_market["utilisation0"],
                  ctx.p_market["provider_elasticity"], ctx.t, s.company.runway, kp.consts["schedule"],
                  kp.consts["schedule_years"], dead_hosts)
        return Flows(pay=f["base"], own=None, rho=None, detail=f)

    def settle(self, ctx: Context, kp: KindInputs, s: Block, z: Any, f: Flows, revenue: jax.Array,
               interest: jax.Array, debt: jax.Array, cash: jax.Array, terms: DebtTerms,
               peers: Mapping[str, Peer]) -> Settled:
        d = f.detail
        burn = d["spend"] + d["opex"] + interest - d["revenue"]
        return no_covenant(d["revenue"], burn, d["gross_margin"], jnp.zeros_like(burn), debt,
                           LabState(ln_s=s.own.ln_s, premium=d["premium"]))


KIND = Lab()
