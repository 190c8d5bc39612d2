"""AI lab: share, revenue, serving and training compute, opex, commitments."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._params import ParamSpec
from ._math import plan_log_growth
from .state import DT, EPS

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
    ParamSpec("cut_runway_q", "quarters", "nonneg", "training is cut when runway falls below this"),
    ParamSpec("opex0", "USD bn/yr", "nonneg", "annualised non-compute operating expense at as_of"),
    ParamSpec("opex_growth", "1/yr", "real", "annual log growth of opex"),
    ParamSpec("commitments", "USD bn/yr", "nonneg", "take-or-pay compute commitments by year after as_of", schedule=True),
    ParamSpec("commitment_realisation", "1", "nonneg", "share of the commitment schedule that is actually owed (renegotiation)"),
)


def flows(p: dict[str, jax.Array], ln_s: jax.Array, norm: jax.Array, mk: dict[str, jax.Array], u0: jax.Array,
          t: jax.Array, runway_prev: jax.Array, schedule: jax.Array, wdead: jax.Array) -> dict[str, jax.Array]:
    """One quarter of every lab (docs/model.md 3.2); arrays (paths, labs), amounts USD bn per quarter.

    Args:
        p: lab parameters, each (paths, labs).
        ln_s: log share weight this quarter (0 at as_of), see :func:`mc_engine.model.shares.step`.
        norm: share normaliser ``N_0 / N_t`` (paths, 1): the market's total weight at as_of over now.
        mk: market levels this quarter (H, E, R, C, P, G, D, U, S, K), each (paths,).
        u0: starting utilisation (paths,).
        t: quarter number, 1-based.
        runway_prev: runway at the end of last quarter, quarters.
        schedule: commitment schedule, USD bn/yr, (labs, years + 1) with a trailing zero column.
        wdead: share of each lab's compute placed with hosts that have left.

    Returns:
        revenue, serve (serving compute), need, base (owed to hosts), spend (cash cost of
        compute), opex, gross_margin.
    """
    d, price, cost, util, g = (mk[k][:, None] for k in ("D", "P", "C", "U", "G"))
    share = jnp.exp(ln_s) * norm
    quarter0 = p["revenue0"] / 4
    revenue = quarter0 * d * price * share
    serve = quarter0 * (1 - p["compute_margin0"]) * d * share * cost * u0[:, None] / util
    plan = p["training0"] / 4 * jnp.exp(
        plan_log_growth(p["training_growth0"], p["training_growth_inf"], p["training_growth_decay"], t, DT)
    )
    train = plan * jnp.where(runway_prev < p["cut_runway_q"], p["training_cut"], 1.0)
    opex = p["opex0"] / 4 * jnp.exp(p["opex_growth"] * t * DT)
    year = jnp.minimum((t.astype(jnp.int32) - 1) // 4, schedule.shape[1] - 1)
    commit = p["commitment_realisation"] * schedule[:, year][None, :] / 4
    need = serve + train
    base = jnp.maximum(need, commit)
    spend = base * (1 - wdead) + need * wdead * g
    gross_margin = jnp.clip((revenue - serve) / jnp.maximum(revenue, EPS), -5.0, 1.0)
    return {"revenue": revenue, "serve": serve, "need": need, "base": base, "spend": spend,
            "opex": opex, "gross_margin": gross_margin}


def revenue0(p: dict[str, jax.Array]) -> jax.Array:
    """Quarterly revenue at as_of (all indices at 1), (paths, labs)."""
    return p["revenue0"] / 4
