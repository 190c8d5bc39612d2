"""Neocloud: GPU fleet, contracted and spot revenue, power, debt and covenant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ..._paramspec import ParamSpec
from .._math import decayed_rate
from ..state import DT, EPS, HOURS
from .base import Block, CompanyKind, Context, DebtTerms, Flows, KindInputs, Peer, Settled

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("fleet0", "k GPUs", "nonneg", "K_0: installed GPUs (H100-equivalents, thousands) at as_of"),
    ParamSpec("fleet_growth0", "1/yr", "real", "starting annual log growth of the fleet purchase plan"),
    ParamSpec("fleet_growth_inf", "1/yr", "real", "long-run annual log growth of the fleet purchase plan"),
    ParamSpec("fleet_growth_decay", "1/yr", "nonneg", "rate at which fleet growth decays to its long-run value"),
    ParamSpec("gpu_price0", "USD k/GPU", "positive", "installed cost of one GPU at as_of; falls with H"),
    ParamSpec("useful_life", "yr", "positive", "economic life of a GPU; the fleet retires at rate dt/life",
              minimum=DT, minimum_why="the fleet retires at dt / useful_life a quarter: a shorter life retires "
                                      "more than the fleet"),
    ParamSpec("contract_share0", "1", "prob", "phi_0: take-or-pay share of the fleet at as_of"),
    ParamSpec("contract_tau", "yr", "positive", "tau: mean remaining contract length; phi rolls off as exp(-dt/tau)"),
    ParamSpec("new_contract_share", "1", "prob", "share of newly bought GPUs placed under contract"),
    ParamSpec("contract_price", "USD/GPU-hr", "positive", "price of contracted capacity"),
    ParamSpec("spot_price0", "USD/GPU-hr", "positive", "spot rental price at as_of; moves with the rental index G"),
    ParamSpec("power_cost", "USD/GPU-hr", "nonneg", "power and cooling per installed GPU-hour"),
    ParamSpec("gpu_opex", "USD/GPU-hr", "nonneg", "operating cost that scales with the fleet (data-centre lease, "
              "staff, maintenance) per installed GPU-hour; falls with H for newer GPUs like power"),
    ParamSpec("opex0", "USD bn/yr", "nonneg", "annualised fixed operating expense at as_of (corporate overhead)"),
    ParamSpec("opex_growth", "1/yr", "real", "annual log growth of fixed opex"),
    ParamSpec("debt_share", "1", "prob", "lev: share of GPU purchases financed by new debt"),
    ParamSpec("capex_committed", "1", "prob", "share of the purchase plan under firm orders and leases, bought whatever "
              "the cash; the rest is cut when cash cannot pay its equity share"),
    ParamSpec("refinance_headroom", "1", "nonneg", "GPU-backed lenders refinance maturities only while debt stays under "
              "this multiple of debt0, scaled by the fleet's replacement value (fleet x H) relative to as_of"),
    ParamSpec("max_leverage", "1", "positive", "covenant: debt / annualised EBITDA above this, after a cure from "
              "cash, is a breach"),
    ParamSpec("covenant_quarters", "quarters", "positive", "consecutive uncured breached quarters before default"),
)


def debt_cap(p: dict[str, jax.Array], debt0: jax.Array, fleet: jax.Array, h: jax.Array) -> jax.Array:
    """Most debt lenders refinance, USD bn (neoclouds, paths).

    ``refinance_headroom x debt0 x (fleet H) / fleet0``: today's lenders hold today's debt (times the
    headroom); the loan value then moves with the replacement value of the fleet (its size times the
    hardware cost index), so debt amortises as the GPUs lose value instead of rolling over forever.
    """
    return p["refinance_headroom"] * debt0 * fleet * h[None] / jnp.maximum(p["fleet0"], EPS)


def initial_fleet(p: dict[str, jax.Array], u0: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """(fleet, contracted fleet, contract book, quarterly revenue) at as_of, each (neoclouds, paths)."""
    fleet = p["fleet0"]
    fleet_c = p["contract_share0"] * fleet
    book = fleet_c * p["contract_price"]
    revenue = HOURS * (book + (fleet - fleet_c) * u0[None] * p["spot_price0"]) / 1e6
    return fleet, fleet_c, book, revenue


def flows(p: dict[str, jax.Array], fleet: jax.Array, fleet_c: jax.Array, book: jax.Array, power_book: jax.Array,
          cash: jax.Array, mk: dict[str, jax.Array], t: jax.Array) -> dict[str, jax.Array]:
    """One quarter of every neocloud's fleet and own revenue (docs/model.md 3.4); (neoclouds, paths).

    New GPUs cost power and fleet-scaled opex per H100-equivalent in proportion to the hardware cost index
    ``H`` (newer chips deliver more compute per watt and per rack as they deliver more per dollar), so the
    running-cost book, like the contract book, carries each vintage's cost:
    ``power_book' = power_book (1 - dt/life) + new (power_cost + gpu_opex) H``.

    Returns fleet, fleet_c, book, power_book, own (revenue before counterparty replacement), power, opex, capex,
    draw (new debt), rho (spot value of freed capacity relative to contract).
    """
    h, g, util = (mk[k][None] for k in ("H", "G", "U"))
    life = p["useful_life"]
    growth = decayed_rate(p["fleet_growth0"], p["fleet_growth_inf"], p["fleet_growth_decay"], t, DT)
    plan = fleet * (jnp.exp(growth * DT) - 1 + DT / life)
    capex_plan = plan * p["gpu_price0"] * h / 1000
    equity = (1 - p["debt_share"]) * capex_plan
    # With nothing to pay from equity, the plan goes ahead iff cash is not negative (cash / 0 = +-inf).
    # The committed share of the plan is bought whatever the cash (firm orders, data-centre leases).
    afford = jnp.where(equity > 0, jnp.clip(cash / jnp.where(equity > 0, equity, 1.0), 0.0, 1.0),
                       (cash >= 0).astype(cash.dtype))
    scale = p["capex_committed"] + (1 - p["capex_committed"]) * afford
    new = plan * scale
    capex = capex_plan * scale
    roll = jnp.exp(-DT / p["contract_tau"]) * (1 - DT / life)
    fleet = fleet * (1 - DT / life) + new
    fleet_c = fleet_c * roll + p["new_contract_share"] * new
    book = book * roll + p["new_contract_share"] * new * p["contract_price"] * g
    own = HOURS * (book + (fleet - fleet_c) * util * p["spot_price0"] * g) / 1e6
    power_book = power_book * (1 - DT / life) + new * (p["power_cost"] + p["gpu_opex"]) * h
    power = HOURS * power_book / 1e6
    opex = p["opex0"] / 4 * jnp.exp(p["opex_growth"] * t * DT)
    rho = jnp.clip(util * g * p["spot_price0"] / p["contract_price"], 0.0, 1.0)
    return {"fleet": fleet, "fleet_c": fleet_c, "book": book, "power_book": power_book, "own": own, "power": power, "opex": opex,
            "capex": capex, "draw": p["debt_share"] * capex, "rho": rho}


def settle(p: dict[str, jax.Array], f: dict[str, jax.Array], revenue: jax.Array, interest: jax.Array,
           debt: jax.Array, cash: jax.Array, breach: jax.Array, ebitda_ltm: jax.Array,
           t: jax.Array) -> dict[str, jax.Array]:
    """Burn, margin and covenant once revenue is known (docs/model.md 3.4).

    ``debt`` is after this quarter's draw and repayment, ``cash`` the cash after repayment, before this
    quarter's flows. The covenant limit is ``max_leverage`` times trailing EBITDA (0 when it is <= 0): the
    last four quarters' EBITDA, carried as ``ebitda_ltm' = ebitda_ltm + (4 ebitda - ebitda_ltm) / 4`` from
    ``4 ebitda_1`` in quarter 1 (covenants test last-twelve-months EBITDA). Debt
    above it is first cured from cash: the company prepays it from cash beyond a buffer of one quarter of
    running costs and overhead (``cure``, paid like a repayment). Debt still above the limit is a breach,
    which triggers a cure round (funding); only a breach standing for ``covenant_quarters`` quarters in a
    row defaults. The cure makes the test one on debt net of spare cash. Running costs (power and
    fleet-scaled opex) are one book.
    """
    running = f["power"]
    ebitda = revenue - running - f["opex"]
    burn = running + f["opex"] + interest + f["capex"] - f["draw"] - revenue
    ltm = jnp.where(t == 1, 4 * ebitda, ebitda_ltm + (4 * ebitda - ebitda_ltm) / 4)
    limit = p["max_leverage"] * jnp.maximum(ltm, 0.0)
    spare = jnp.maximum(cash - burn - (running + f["opex"]), 0.0)
    cure = jnp.minimum(jnp.maximum(debt - limit, 0.0), spare)
    breached = debt - cure > limit
    breach = jnp.where(breached, breach + 1, 0.0)
    gross_margin = jnp.clip((revenue - running) / jnp.maximum(revenue, EPS), -5.0, 1.0)
    return {"burn": burn, "cure": cure, "breach": breach, "breached": breached, "ebitda_ltm": ltm,
            "covenant_default": breach >= p["covenant_quarters"], "gross_margin": gross_margin}


class NeocloudState(NamedTuple):
    """A neocloud's own state, each (neoclouds, paths); fleets thousand GPUs, books thousand-GPU x USD/hr."""

    fleet: jax.Array
    fleet_c: jax.Array  # contracted fleet
    book: jax.Array  # contract book
    power_book: jax.Array  # running cost of the installed fleet
    breach: jax.Array  # consecutive covenant breaches
    ebitda_ltm: jax.Array  # trailing four-quarter EBITDA (smoothed), USD bn


class Neocloud(CompanyKind):
    """Neocloud: rents out a GPU fleet bought largely on debt; hosts other companies' compute."""

    name = "neocloud"
    params = PARAMS
    State = NeocloudState
    can_host = True
    starting_keys = ("fleet0", "gpu_price0", "contract_share0", "spot_price0")

    def init(self, p_market: dict[str, jax.Array], kp: KindInputs) -> tuple[NeocloudState, jax.Array]:
        k, kc, b, r = initial_fleet(kp.own, p_market["utilisation0"])
        zeros = jnp.zeros_like(k)
        return NeocloudState(k, kc, b, k * (kp.own["power_cost"] + kp.own["gpu_opex"]), zeros, zeros), r

    def debt_terms(self, ctx: Context, kp: KindInputs, s: Block) -> DebtTerms:
        terms = super().debt_terms(ctx, kp, s)
        return terms._replace(cap=debt_cap(kp.own, kp.company["debt0"], s.own.fleet, ctx.market["H"]))

    def flows(self, ctx: Context, kp: KindInputs, s: Block, z: Any, dead_hosts: jax.Array | None) -> Flows:
        o = s.own
        f = flows(kp.own, o.fleet, o.fleet_c, o.book, o.power_book, s.company.cash, ctx.market, ctx.t)
        return Flows(pay=None, own=f["own"], rho=f["rho"], detail=f)

    def settle(self, ctx: Context, kp: KindInputs, s: Block, z: Any, f: Flows, revenue: jax.Array,
               interest: jax.Array, debt: jax.Array, cash: jax.Array, terms: DebtTerms,
               peers: Mapping[str, Peer]) -> Settled:
        d = f.detail
        debt = debt + d["draw"]
        g = settle(kp.own, d, revenue, interest, debt, cash, s.own.breach, s.own.ebitda_ltm, ctx.t)
        state = NeocloudState(d["fleet"], d["fleet_c"], d["book"], d["power_book"], g["breach"], g["ebitda_ltm"])
        return Settled(state, revenue, g["burn"], g["gross_margin"], d["capex"], debt - g["cure"], g["cure"],
                       g["breached"], g["covenant_default"])


KIND = Neocloud()
