"""One quarter of one future: the pure step carried through ``lax.scan``, generic over the company kinds.

``step(layout, params, consts, state, t, shocks) -> (state, observations)`` composes the parts in the
order of docs/model.md: regime, market, the market-spend shares, debt service, each kind's flows, the
counterparty flows from client kinds to host kinds, each kind's settlement, funding and exits. Each kind's
companies are one block (companies of the kind, paths), the path axis last so that every elementwise
operation runs along contiguous paths; kinds meet only through the counterparty matrix,
the spend-share normaliser and the read-only ``peers`` of :meth:`CompanyKind.settle`. Companies that have
left keep their state.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import funding, links, market, regime, shares
from ._math import keep, materialise, pack, unpack
from .kinds import KINDS, MARKET_STREAM, shock_names, shock_type, stream_tag
from .kinds.base import Block, CompanyKind, Context, KindInputs, Peer
from .params import Params
from .state import RUNWAY_CAP, CompanyState, Layout, State


class Observations(NamedTuple):
    """One quarter's observations: the market levels and the regime (paths,), then the per-company values
    (companies, paths) in internal order (amounts USD bn per quarter; ``status``, ``cause`` int32)."""

    H: jax.Array
    E: jax.Array
    R: jax.Array
    C: jax.Array
    P: jax.Array
    G: jax.Array
    D: jax.Array
    U: jax.Array
    S: jax.Array
    K: jax.Array
    regime: jax.Array
    cash: jax.Array
    burn: jax.Array
    revenue: jax.Array
    gross_margin: jax.Array
    runway: jax.Array
    debt: jax.Array
    status: jax.Array
    cause: jax.Array
    rounds: jax.Array
    raised: jax.Array
    paid_out: jax.Array
    down_rounds: jax.Array
    cumburn: jax.Array
    capex: jax.Array


OBSERVED: tuple[str, ...] = Observations._fields[len(market.INDICES) + 1 :]
"""Per-company observations of a quarter, each (companies, paths) in internal order."""
assert Observations._fields[: len(market.INDICES) + 1] == (*market.INDICES, "regime"), "Observations: market fields"


class ShockBlock(NamedTuple):
    """One stream of shocks drawn per path and quarter: ``normals`` and ``uniforms`` per company (``width``
    companies; 0 for the market, whose shocks have no company axis)."""

    tag: int
    width: int
    normals: int
    uniforms: int


def shock_blocks(layout: Layout) -> tuple[ShockBlock, ...]:
    """The market's stream, then one per kind present (its tag a hash of its name), in the layout's order."""
    out = [ShockBlock(MARKET_STREAM, 0, market.N_SHOCKS, 1)]
    for kind, a, b in layout.slices:
        normals, uniforms = shock_names(KINDS[kind])
        out.append(ShockBlock(stream_tag(kind), b - a, len(normals), len(uniforms)))
    return tuple(out)


def kind_constants(layout: Layout, schedules: Mapping[str, tuple[float, ...]]) -> dict[str, np.ndarray]:
    """Constant arrays of every kind present, keyed ``<kind>.<name>`` (from each kind's ``constants`` hook)."""
    out = {}
    for kind, a, b in layout.slices:
        for name, value in KINDS[kind].constants(layout.ids[a:b], schedules).items():
            out[f"{kind}.{name}"] = value
    return out


def _kinds(layout: Layout, p: Params, consts: dict[str, jax.Array]) -> list[tuple[CompanyKind, slice, KindInputs]]:
    """Each kind present with its slice of the internal order and its inputs."""
    out = []
    for kind, a, b in layout.slices:
        prefix = f"{kind}."
        own_consts = {k[len(prefix):]: v for k, v in consts.items() if k.startswith(prefix)}
        out.append((KINDS[kind], slice(a, b), KindInputs(p[f"{kind}.company"], p[kind], own_consts)))
    return out


def _named(kind: CompanyKind, z: jax.Array, u: jax.Array) -> Any:
    """A kind's shocks (normals, width, paths) and (uniforms, width, paths) as its named NamedTuple."""
    return shock_type(kind)(*z, *u)


def initial_state(layout: Layout, p: Params, consts: dict[str, jax.Array], shocks: tuple) -> State:
    """State at ``as_of``; the market's uniform of ``shocks`` (quarter 0's) supplies the starting regime."""
    m = p["market"]
    start_regime = regime.draw_initial(consts["regime_initial"], shocks[0][1][0])
    blocks = []
    for kind, _, kp in _kinds(layout, p, consts):
        own, rev0 = kind.init(m, kp)
        c = kp.company
        zeros = jnp.zeros_like(c["cash0"])
        company = CompanyState(
            cash=c["cash0"], debt=c["debt0"], status=jnp.zeros(zeros.shape, jnp.int32),
            cause=jnp.zeros(zeros.shape, jnp.int32), rounds=zeros, rescues=zeros, rescued=zeros, down_rounds=zeros,
            raised=zeros, paid_out=zeros, v_last=c["valuation0"], age=c["last_round_age0"], gq=zeros, rev_prev=rev0,
            runway=jnp.full_like(zeros, RUNWAY_CAP), cumburn=zeros, base_last=zeros, host_share=zeros,
        )
        blocks.append(Block(company, own))
    return State(market.initial_state(m, start_regime), tuple(blocks))


def alive(state: State) -> jax.Array:
    """Whether each company is alive, (companies, paths) in internal order."""
    return jnp.concatenate([b.company.status == 0 for b in state.kinds], axis=0)


def pack_state(state: State) -> tuple:
    """The state as the scan carries it: the market's fields as they are, each kind's company and own fields
    stacked per dtype (:func:`_math.pack`).

    These stacks are the very arrays :func:`step`'s selects (:func:`_math.keep`) produce, so carrying them
    costs nothing, whereas carrying the fields one by one made XLA copy each out of its stack every quarter
    (64 copy kernels, each compiled and run)."""
    return state.market, tuple((pack(b.company), pack(b.own)) for b in state.kinds)


def unpack_state(packed: tuple, like: State) -> State:
    """The :class:`State` that :func:`pack_state` made ``packed`` from (``like`` gives the types and dtypes)."""
    market, blocks = packed
    return State(market, tuple(Block(unpack(c, b.company), unpack(o, b.own))
                               for (c, o), b in zip(blocks, like.kinds, strict=True)))


def _sum(terms: list[jax.Array], like: jax.Array) -> jax.Array:
    """Sum of ``terms`` (zeros shaped ``like`` when there are none)."""
    return sum(terms[1:], terms[0]) if terms else jnp.zeros_like(like)


def step(layout: Layout, p: Params, consts: dict[str, jax.Array], state: State, t: jax.Array,
         shocks: tuple) -> tuple[State, Observations]:
    """Advance every path one quarter.

    Args:
        layout: static company layout.
        p: parameters from :func:`~mc_engine.model.params.split_params`.
        consts: ``regime_initial`` (3,), ``regime_transition`` (3, 3), ``counterparty`` (c, c) in internal
            order, and each kind's constants ``<kind>.<name>`` (:func:`kind_constants`).
        state: state at the end of quarter ``t - 1``.
        t: quarter number, 1-based (traced).
        shocks: per :func:`shock_blocks` stream, (normals, uniforms): the market's (n, paths), a kind's
            (n, companies of the kind, paths).

    Returns:
        The new state and this quarter's :class:`Observations`.
    """
    kinds = _kinds(layout, p, consts)
    (zm, um), kind_shocks = shocks[0], shocks[1:]
    k = regime.step(consts["regime_transition"], state.market.regime, um[0])
    mstate = market.step(p["market"], state.market, k, zm, t)
    mk = market.levels(mstate)
    zs = [_named(kind, *zu) for (kind, _, _), zu in zip(kinds, kind_shocks, strict=True)]
    alive_k = [b.company.status == 0 for b in state.kinds]
    w = consts["counterparty"]

    # Shares of market spend (docs/model.md 3.0): every selling kind's share index moves, then one normaliser.
    blocks = list(state.kinds)
    sellers = []
    for i, (kind, _, kp) in enumerate(kinds):
        if kind.spend_weight0 is not None:
            own = blocks[i].own
            ln_s = shares.step(own.ln_s, kp.own["share_drift"], kp.own["share_vol"], zs[i].share)
            blocks[i] = blocks[i]._replace(own=own._replace(ln_s=ln_s))
            sellers.append(i)
    norm = jnp.ones_like(mk["H"][None])
    if sellers:
        weights0 = [kp.own[kind.spend_weight0] for i, (kind, _, kp) in enumerate(kinds) if i in sellers]
        norm = shares.normaliser(jnp.concatenate(weights0, axis=0),
                                 jnp.concatenate([blocks[i].own.ln_s for i in sellers], axis=0),
                                 jnp.concatenate([alive_k[i] for i in sellers], axis=0),
                                 p["market"]["modelled_share"])
    ctx = Context(t, k, mk, p["market"], norm)

    # Investment-grade issuers per block, (companies, 1): read by debt service and by funding.
    bonds = [jnp.full((s.company.cash.shape[0], 1), kind.investment_grade)
             for (kind, _, _), s in zip(kinds, blocks, strict=True)]
    terms, service = [], []
    for (kind, _, kp), s, z, bond in zip(kinds, blocks, zs, bonds, strict=True):
        term = kind.debt_terms(ctx, kp, s)
        terms.append(term)
        debt_service = funding.debt_service(p["funding"], kp.company, s.company.debt, k, z.refinance, bond,
                                            term.bond_access, term.cap)
        service.append(materialise(*debt_service, token=k >= 0))

    # Counterparty links (docs/model.md 3.3): clients pay hosts through W's (client kind, host kind) blocks.
    hosts = [i for i, (kind, _, _) in enumerate(kinds) if kind.can_host]
    flows = []
    for (kind, sl, kp), s, z in zip(kinds, blocks, zs, strict=True):
        dead = None
        if kind.client:
            dead = _sum([links.dead_host_share(w[sl, kinds[j][1]], alive_k[j]) for j in hosts], s.company.cash)
        flows.append(kind.flows(ctx, kp, s, z, dead))
    clients = [i for i, f in enumerate(flows) if f.pay is not None]

    peers: dict[str, Peer] = {}
    settled, host_shares = [], []
    for j, ((kind, sl, kp), s, z, f) in enumerate(zip(kinds, blocks, zs, flows, strict=True)):
        (interest, _, repaid, debt), host_share = service[j], s.company.host_share
        revenue = jnp.zeros_like(s.company.cash)
        if f.own is not None:
            flow = _sum([links.client_flow(w[kinds[i][1], sl], flows[i].pay, alive_k[i]) for i in clients], revenue)
            lost = _sum([links.lost_flow(w[kinds[i][1], sl], blocks[i].company.base_last, alive_k[i])
                         for i in clients], revenue)
            host_share = jnp.where(t == 1, links.host_share(flow, f.own), s.company.host_share)
            revenue = f.own * (1 - host_share) + flow + f.rho * lost
        out = kind.settle(ctx, kp, s, z, f, revenue, interest, debt, s.company.cash - repaid, terms[j],
                          MappingProxyType(dict(peers)))
        peers[kind.name] = Peer(alive_k[j], out)
        settled.append(out)
        host_shares.append(host_share)

    new_blocks, obs_parts = [], []
    for j, ((_, _, kp), old, s, z, f, out) in enumerate(zip(kinds, state.kinds, blocks, zs, flows, settled,
                                                              strict=True)):
        _, due, repaid, _ = service[j]
        cash, burn, revenue = materialise(s.company.cash - out.burn - repaid - out.cure, out.burn, out.revenue,
                                          token=k >= 0)
        u_fund = jnp.stack([z.round, z.rescue, z.acquisition])
        fund = funding.step(p["funding"], kp.company, s.company, k, cash, burn, revenue,
                            terms[j].credit_line, out.breached, out.covenant_default, due, repaid, bonds[j],
                            terms[j].bond_access, u_fund, z.round_size)
        c = s.company
        new = CompanyState(
            cash=fund["cash"], debt=out.debt, status=fund["status"], cause=fund["cause"], rounds=fund["rounds"],
            rescues=fund["rescues"], rescued=fund["rescued"], down_rounds=fund["down_rounds"], raised=fund["raised"],
            paid_out=fund["paid_out"],
            v_last=fund["v_last"], age=fund["age"], gq=fund["gq"], rev_prev=out.revenue, runway=fund["runway"],
            cumburn=c.cumburn + out.burn, base_last=c.base_last if f.pay is None else f.pay,
            host_share=host_shares[j],
        )
        live = alive_k[j]
        # Companies that left before this quarter keep their state; host_share is path-wide and always updates
        # (given as its own old value, so the select keeps it).
        company = CompanyState(*keep(live, new, old.company._replace(host_share=host_shares[j])))
        own = type(old.own)(*keep(live, out.state, old.own))
        new_blocks.append(Block(company, own))
        obs_parts.append({
            "cash": company.cash, "burn": jnp.where(live, out.burn, 0.0), "revenue": jnp.where(live, out.revenue, 0.0),
            "gross_margin": jnp.where(live, out.gross_margin, 0.0), "runway": company.runway, "debt": company.debt,
            "status": company.status, "cause": company.cause, "rounds": company.rounds, "raised": company.raised,
            "paid_out": company.paid_out, "down_rounds": company.down_rounds, "cumburn": company.cumburn,
            "capex": jnp.where(live, out.capex, 0.0),
        })
    obs = Observations(
        *(mk[name] for name in market.INDICES), k,
        *(jnp.concatenate([part[name] for part in obs_parts], axis=0) for name in OBSERVED),
    )
    return State(mstate, tuple(new_blocks)), obs

