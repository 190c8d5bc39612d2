"""A fourth company kind defined outside the package: a GPU vendor selling into the neoclouds' capex.

Its sales are a share of what the live neoclouds spend on GPUs each quarter (read from the neoclouds'
settlement, so the neoclouds' own cash is untouched), booked as revenue and collected a quarter later
(a receivable); it has other revenue with its own volatility, a cost of sales, opex, and the common
funding (cash, debt, rounds, default). Register it with ``mc_engine.model.kinds.register(KIND)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from mc_engine._paramspec import ParamSpec
from mc_engine.model._math import company_sum
from mc_engine.model.kinds.base import (
    Block,
    CompanyKind,
    Context,
    DebtTerms,
    Flows,
    KindInputs,
    Peer,
    Settled,
    no_covenant,
)
from mc_engine.model.state import DT

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("capex_share", "1", "prob", "share of the neoclouds' GPU capex that buys this vendor's chips"),
    ParamSpec("gross_margin", "1", "prob", "gross margin on chip sales"),
    ParamSpec("receivable0", "USD bn", "nonneg", "sales to neoclouds booked last quarter, collected this quarter"),
    ParamSpec("other_revenue0", "USD bn/yr", "nonneg", "annualised revenue from everyone else at as_of"),
    ParamSpec("other_growth", "1/yr", "real", "annual log growth of other revenue"),
    ParamSpec("other_vol", "1/sqrt(yr)", "nonneg", "volatility of ln other revenue"),
    ParamSpec("opex0", "USD bn/yr", "nonneg", "annualised operating expense at as_of"),
    ParamSpec("opex_growth", "1/yr", "real", "annual log growth of opex"),
)


class ChipVendorState(NamedTuple):
    """A chip vendor's own state, each (vendors, paths)."""

    ln_other: jax.Array  # log index of other revenue (0 at as_of)
    receivable: jax.Array  # sales to neoclouds booked this quarter, collected next, USD bn


class ChipVendor(CompanyKind):
    name = "chip_vendor"
    params = PARAMS
    State = ChipVendorState
    normals = ("other",)
    starting_keys = ("receivable0", "other_revenue0", "opex0")

    def init(self, p_market: dict[str, jax.Array], kp: KindInputs) -> tuple[ChipVendorState, jax.Array]:
        p = kp.own
        return (ChipVendorState(jnp.zeros_like(p["receivable0"]), p["receivable0"]),
                p["receivable0"] + p["other_revenue0"] / 4)

    def flows(self, ctx: Context, kp: KindInputs, s: Block, z: Any, dead_hosts: jax.Array | None) -> Flows:
        return Flows(pay=None, own=None, rho=None, detail=None)

    def settle(self, ctx: Context, kp: KindInputs, s: Block, z: Any, f: Flows, revenue: jax.Array,
               interest: jax.Array, debt: jax.Array, cash: jax.Array, terms: DebtTerms,
               peers: Mapping[str, Peer]) -> Settled:
        p = kp.own
        neo = peers.get("neocloud")
        spent = (jnp.zeros_like(cash[:1]) if neo is None else
                 company_sum(jnp.where(neo.alive, neo.settled.capex, 0.0)))
        sales = p["capex_share"] * spent
        ln_other = s.own.ln_other + p["other_growth"] * DT + p["other_vol"] * jnp.sqrt(DT) * z.other
        other = p["other_revenue0"] / 4 * jnp.exp(ln_other)
        booked = sales + other
        opex = p["opex0"] / 4 * jnp.exp(p["opex_growth"] * ctx.t * DT)
        burn = (1 - p["gross_margin"]) * booked + opex + interest - other - s.own.receivable
        margin = jnp.broadcast_to(p["gross_margin"], booked.shape)
        return no_covenant(booked, burn, margin, jnp.zeros_like(burn), debt, ChipVendorState(ln_other, sales))


KIND = ChipVendor()
