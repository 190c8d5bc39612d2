"""One quarter of one future: the pure step carried through ``lax.scan``.

``step(params, consts, state, t, z, u) -> (state, observations)`` composes the
parts in the order of docs/model.md: regime, market, debt service, labs,
counterparty flows, neoclouds, hyperscalers, funding and exits. Companies that
have left keep their state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import funding, hyperscaler, lab, links, market, neocloud, regime, shares
from .params import Params
from .state import RUNWAY_CAP, CompanyState, Layout, State


def n_shocks(layout: Layout) -> tuple[int, int]:
    """(normals, uniforms) drawn per path and quarter."""
    c = layout.n_companies
    return market.N_SHOCKS + 3 * c, 1 + 4 * c


def initial_state(layout: Layout, p: Params, consts: dict[str, jax.Array], u: jax.Array) -> State:
    """State at ``as_of``; ``u`` (paths, uniforms) supplies the starting regime."""
    m = p["market"]
    c = p["company"]
    n, width = c["cash0"].shape
    zeros = jnp.zeros((n, width), jnp.float32)
    ones = jnp.ones((n, width), jnp.float32)
    start_regime = regime.draw_initial(consts["regime_initial"], u[:, 0])
    rev0 = zeros
    fleet = fleet_c = book = power_book = zeros
    if "lab" in p:
        rev0 = rev0.at[:, layout.slice_of("lab")].set(lab.revenue0(p["lab"]))
    if "neocloud" in p:
        sl = layout.slice_of("neocloud")
        k, kc, b, r = neocloud.initial_fleet(p["neocloud"], m["utilisation0"])
        fleet, fleet_c, book = (x.at[:, sl].set(y) for x, y in ((fleet, k), (fleet_c, kc), (book, b)))
        power_book = power_book.at[:, sl].set(k * (p["neocloud"]["power_cost"] + p["neocloud"]["gpu_opex"]))
        rev0 = rev0.at[:, sl].set(r)
    if "hyperscaler" in p:
        rev0 = rev0.at[:, layout.slice_of("hyperscaler")].set(p["hyperscaler"]["ai_revenue0"] / 4)
    company = CompanyState(
        cash=c["cash0"], debt=c["debt0"], status=jnp.zeros((n, width), jnp.int32),
        cause=jnp.zeros((n, width), jnp.int32), rounds=zeros, rescues=zeros, rescued=zeros, down_rounds=zeros, raised=zeros, v_last=c["valuation0"], age=c["last_round_age0"],
        gq=zeros, rev_prev=rev0, runway=ones * RUNWAY_CAP, cumburn=zeros, base_last=zeros, breach=zeros, ebitda_ltm=zeros,
        host_share=zeros, ln_s=zeros, premium=zeros, ln_f=zeros, fleet=fleet, fleet_c=fleet_c, book=book,
        power_book=power_book,
    )
    return State(market.initial_state(m, start_regime), company)


def step(layout: Layout, p: Params, consts: dict[str, jax.Array], state: State, t: jax.Array, z: jax.Array,
         u: jax.Array) -> tuple[State, dict[str, jax.Array]]:
    """Advance every path one quarter.

    Args:
        layout: static company layout.
        p: parameters from :func:`~mc_engine.model.params.build_params`.
        consts: ``regime_initial`` (3,), ``regime_transition`` (3, 3), ``counterparty`` (c, c),
            ``schedule`` (labs, years + 1).
        state: state at the end of quarter ``t - 1``.
        t: quarter number, 1-based (traced).
        z: normal shocks (paths, normals); u: uniforms (paths, uniforms); see :func:`n_shocks`.

    Returns:
        The new state and this quarter's observations: market levels and per-company
        ``cash, burn, revenue, gross_margin, runway, debt, status`` (paths, companies).
    """
    nc = layout.n_companies
    s = state.company
    k = regime.step(consts["regime_transition"], state.market.regime, u[:, 0])
    mstate = market.step(p["market"], state.market, k, z[:, : market.N_SHOCKS], t)
    mk = market.levels(mstate)
    u0 = p["market"]["utilisation0"]
    z_share, z_core, z_round = (z[:, market.N_SHOCKS + i * nc : market.N_SHOCKS + (i + 1) * nc] for i in range(3))
    u_ref = u[:, 1 : 1 + nc]
    u_fund = jnp.stack([u[:, 1 + (i + 1) * nc : 1 + (i + 2) * nc] for i in range(3)], axis=-1)

    alive = s.status == 0
    zeros = jnp.zeros_like(s.cash)
    # Investment-grade issuers (hyperscalers) borrow in the bond market, whatever the equity regime.
    bond = jnp.asarray([[kind == "hyperscaler" for kind in layout.kinds]])  # (1, companies)
    bond_access, credit = zeros, zeros
    if "hyperscaler" in p:
        sl = layout.slice_of("hyperscaler")
        bond_access = bond_access.at[:, sl].set(p["hyperscaler"]["bond_access"])
        credit = credit.at[:, sl].set(p["hyperscaler"]["credit_line"])
    cap = jnp.full_like(s.cash, jnp.inf)
    if "neocloud" in p:
        sl = layout.slice_of("neocloud")
        cap = cap.at[:, sl].set(neocloud.debt_cap(p["neocloud"], p["company"]["debt0"][:, sl], s.fleet[:, sl], mk["H"]))
    interest, due, repaid, debt = funding.debt_service(p["funding"], p["company"], s.debt, k, u_ref, bond, bond_access,
                                                  cap)
    revenue, burn, margin, base = zeros, zeros, zeros, zeros
    ln_s, ln_f, fleet, fleet_c, book, breach = s.ln_s, s.ln_f, s.fleet, s.fleet_c, s.book, s.breach
    power_book, premium, ebitda_ltm = s.power_book, s.premium, s.ebitda_ltm
    elasticity = p["market"]["provider_elasticity"]
    covenant, breached, cure, own, rho, capex = zeros.astype(bool), zeros.astype(bool), zeros, zeros, zeros, zeros
    w = consts["counterparty"]

    # Shares of market spend (docs/model.md 3.0): labs and hyperscalers, normalised together.
    spenders = [(kind, layout.slice_of(kind), key) for kind, key in (("lab", "revenue0"), ("hyperscaler", "ai_revenue0"))
                if kind in p]
    for kind, sl, _ in spenders:
        ln_s = ln_s.at[:, sl].set(shares.step(s.ln_s[:, sl], p[kind]["share_drift"], p[kind]["share_vol"], z_share[:, sl]))
    norm = jnp.ones_like(s.cash[:, :1])
    if spenders:
        weights0 = jnp.concatenate([p[kind][key] for kind, _, key in spenders], axis=1)
        ln_s_sp = jnp.concatenate([ln_s[:, sl] for _, sl, _ in spenders], axis=1)
        alive_sp = jnp.concatenate([alive[:, sl] for _, sl, _ in spenders], axis=1)
        norm = shares.normaliser(weights0, ln_s_sp, alive_sp, p["market"]["modelled_share"])

    if "lab" in p:
        sl = layout.slice_of("lab")
        wdead = links.dead_host_share(w, alive)[:, sl]
        f = lab.flows(p["lab"], ln_s[:, sl], norm, s.premium[:, sl], mk, u0, elasticity, t, s.runway[:, sl],
                      consts["schedule"], consts["schedule_years"], wdead)
        premium = premium.at[:, sl].set(f["premium"])
        revenue = revenue.at[:, sl].set(f["revenue"])
        margin = margin.at[:, sl].set(f["gross_margin"])
        base = base.at[:, sl].set(f["base"])
        burn = burn.at[:, sl].set(f["spend"] + f["opex"] + interest[:, sl] - f["revenue"])

    flow = links.client_flow(w, base, alive)
    if "neocloud" in p:
        sl = layout.slice_of("neocloud")
        f = neocloud.flows(p["neocloud"], s.fleet[:, sl], s.fleet_c[:, sl], s.book[:, sl], s.power_book[:, sl],
                           s.cash[:, sl], mk, t)
        fleet, fleet_c, book = (x.at[:, sl].set(f[n]) for x, n in ((fleet, "fleet"), (fleet_c, "fleet_c"), (book, "book")))
        power_book = power_book.at[:, sl].set(f["power_book"])
        debt = debt.at[:, sl].add(f["draw"])
        capex = capex.at[:, sl].set(f["capex"])
        own, rho = own.at[:, sl].set(f["own"]), rho.at[:, sl].set(f["rho"])
    if "hyperscaler" in p:
        sl = layout.slice_of("hyperscaler")
        fh = hyperscaler.flows(p["hyperscaler"], ln_s[:, sl], norm, s.premium[:, sl], s.ln_f[:, sl], mk, u0,
                               elasticity, k, t, z_core[:, sl])
        ln_f, premium = ln_f.at[:, sl].set(fh["ln_f"]), premium.at[:, sl].set(fh["premium"])
        own, rho = own.at[:, sl].set(fh["own"]), rho.at[:, sl].set(fh["rho"])

    host_share = jnp.where(t == 1, links.host_share(flow, own), s.host_share)
    recover = rho * links.lost_flow(w, s.base_last, alive)
    host_revenue = own * (1 - host_share) + flow + recover
    if "neocloud" in p:
        sl = layout.slice_of("neocloud")
        g = neocloud.settle(p["neocloud"], f, host_revenue[:, sl], interest[:, sl], debt[:, sl], s.cash[:, sl] - repaid[:, sl],
                            s.breach[:, sl], s.ebitda_ltm[:, sl], t)
        ebitda_ltm = ebitda_ltm.at[:, sl].set(g["ebitda_ltm"])
        revenue, burn = revenue.at[:, sl].set(host_revenue[:, sl]), burn.at[:, sl].set(g["burn"])
        margin, breach = margin.at[:, sl].set(g["gross_margin"]), breach.at[:, sl].set(g["breach"])
        covenant = covenant.at[:, sl].set(g["covenant_default"])
        breached = breached.at[:, sl].set(g["breached"])
        cure = cure.at[:, sl].set(g["cure"])
        debt = debt.at[:, sl].add(-g["cure"])
    if "hyperscaler" in p:
        sl = layout.slice_of("hyperscaler")
        g = hyperscaler.settle(p["hyperscaler"], fh, host_revenue[:, sl], interest[:, sl], s.cash[:, sl] - repaid[:, sl],
                               credit[:, sl])
        revenue, burn = revenue.at[:, sl].set(host_revenue[:, sl]), burn.at[:, sl].set(g["burn"])
        margin = margin.at[:, sl].set(g["gross_margin"])
        capex = capex.at[:, sl].set(g["capex"])

    cash = s.cash - burn - repaid - cure
    fund = funding.step(p["funding"], p["company"], s, k, cash, burn, revenue, credit, breached, covenant, due,
                        repaid, bond, bond_access, u_fund, z_round)
    new = CompanyState(
        cash=fund["cash"], debt=debt, status=fund["status"], cause=fund["cause"], rounds=fund["rounds"],
        rescues=fund["rescues"], rescued=fund["rescued"],
        down_rounds=fund["down_rounds"], raised=fund["raised"], v_last=fund["v_last"], age=fund["age"],
        gq=fund["gq"], rev_prev=revenue, runway=fund["runway"], cumburn=s.cumburn + burn, base_last=base,
        breach=breach, ebitda_ltm=ebitda_ltm, host_share=host_share, ln_s=ln_s, premium=premium, ln_f=ln_f, fleet=fleet, fleet_c=fleet_c, book=book,
        power_book=power_book,
    )
    # Companies that left before this quarter keep their state (host_share is path-wide and always updates).
    keep = CompanyState(*(jnp.where(alive, a, b) for a, b in zip(new, s, strict=True)))
    keep = keep._replace(host_share=host_share)
    obs = {
        **{name: mk[name] for name in market.INDICES},
        "regime": k,
        "cash": keep.cash, "burn": jnp.where(alive, burn, 0.0), "revenue": jnp.where(alive, revenue, 0.0),
        "gross_margin": jnp.where(alive, margin, 0.0), "runway": keep.runway, "debt": keep.debt,
        "status": keep.status, "cause": keep.cause, "rounds": keep.rounds, "raised": keep.raised, "down_rounds": keep.down_rounds,
        "cumburn": keep.cumburn, "capex": jnp.where(alive, capex, 0.0),
    }
    return State(mstate, keep), obs
