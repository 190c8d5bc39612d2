"""What a company kind is: its parameters, its state, the shocks it draws and its quarterly phases.

A kind is one object (a subclass of :class:`CompanyKind`, usually a module-level instance) registered with
:func:`mc_engine.model.kinds.register`. The generic step (:mod:`mc_engine.model.step`) holds each kind's
companies as one block of shape (companies of the kind, paths) and calls, every quarter:

1. ``debt_terms`` (bond access, credit line and the most debt lenders refinance) before debt service;
2. ``flows`` (revenue, costs and what it pays its hosts), after the market and the spend-share normaliser;
3. ``settle`` (burn, margin, covenant) once the counterparty flows it receives as a host are known.

Funding (rounds, rescue, acquisition, default) then runs on each block with the common funding parameters
(:data:`mc_engine.model.funding.COMPANY_PARAMS`). Kinds meet only through the counterparty matrix (a client
kind's ``Flows.pay`` is revenue of host kinds), the market-spend normaliser across the kinds with
``spend_weight0``, and ``peers`` (what the kinds settled before this one did, read-only) in ``settle``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..._paramspec import ParamSpec
from ..state import CompanyState


class KindInputs(NamedTuple):
    """A kind's inputs, each (companies of the kind, paths) (leading axis 3 when per regime).

    ``company``: the common funding parameters; ``own``: the kind's own parameters (schedules excluded);
    ``consts``: the arrays its :meth:`CompanyKind.constants` built (no path axis).
    """

    company: dict[str, jax.Array]
    own: dict[str, jax.Array]
    consts: dict[str, jax.Array]


class Block(NamedTuple):
    """The state of one kind's companies: the common funding fields and the kind's own NamedTuple."""

    company: CompanyState
    own: Any


class Context(NamedTuple):
    """What every kind reads in a quarter.

    Attributes:
        t: quarter number, 1-based (float32).
        regime: regime in force this quarter (paths,), int32.
        market: market levels this quarter (H, E, R, C, P, G, D, U, S, K), each (paths,).
        p_market: market parameters, each (paths,) ((3, paths) per regime).
        share_norm: market-spend normaliser ``N_0 / N_t`` (1, paths), see :func:`mc_engine.model.shares.normaliser`.
    """

    t: jax.Array
    regime: jax.Array
    market: dict[str, jax.Array]
    p_market: dict[str, jax.Array]
    share_norm: jax.Array


class DebtTerms(NamedTuple):
    """Terms the debt and bond markets give a kind's companies, each (companies of the kind, paths).

    ``bond_access``: probability a bond issue or maturing bond is placed (read only when the kind is
    ``investment_grade``); ``credit_line``: undrawn credit usable before failure; ``cap``: the most debt
    lenders hold after refinancing (+inf: no limit).
    """

    bond_access: jax.Array
    credit_line: jax.Array
    cap: jax.Array


class Flows(NamedTuple):
    """A quarter's flows of one kind before counterparty settlement, each (companies of the kind, paths).

    ``pay``: compute paid to hosts (clients only, else None); ``own``: revenue of its own business and
    ``rho``: spot value of capacity a departed client frees relative to contract (hosts only, else None);
    ``detail``: the kind's own intermediates, read back by its ``settle``.
    """

    pay: jax.Array | None
    own: jax.Array | None
    rho: jax.Array | None
    detail: Any


class Settled(NamedTuple):
    """A quarter's result of one kind once counterparty flows are known, each (companies of the kind, paths).

    Amounts USD bn per quarter. ``state``: the kind's own state after the quarter; ``debt``: debt after the
    quarter's draws and cures; ``cure``: debt prepaid from cash; ``breached``: a covenant breach this quarter
    (a cure round is tried); ``covenant_default``: a breach left uncured too long.
    """

    state: Any
    revenue: jax.Array
    burn: jax.Array
    gross_margin: jax.Array
    capex: jax.Array
    debt: jax.Array
    cure: jax.Array
    breached: jax.Array
    covenant_default: jax.Array


class Peer(NamedTuple):
    """A kind settled earlier in the quarter, as later kinds see it: who was alive at its start, and what it did."""

    alive: jax.Array
    settled: Settled


def no_covenant(revenue: jax.Array, burn: jax.Array, margin: jax.Array, capex: jax.Array, debt: jax.Array,
                state: Any) -> Settled:
    """A :class:`Settled` of a kind without covenants or cures."""
    zeros = jnp.zeros_like(revenue)
    return Settled(state, revenue, burn, margin, capex, debt, zeros, zeros.astype(bool), zeros.astype(bool))


class CompanyKind:
    """A company kind. Subclass it, set the class attributes, implement :meth:`init`, :meth:`flows` and
    :meth:`settle`, and register an instance with :func:`mc_engine.model.kinds.register`.

    Attributes:
        name: the ``kind = "..."`` of a company in a prior file; its shocks' stream is keyed by it.
        params: the kind's own parameters (the common funding ones are added by the registry).
        State: NamedTuple class of the kind's own state, each field (companies of the kind, paths).
        normals, uniforms: names of the kind's own shocks per company and quarter (the funding shocks are
            added by the registry); ``flows`` and ``settle`` read them as fields of ``z``.
        can_host: other companies may place compute with it; then ``flows`` returns ``own`` and ``rho``.
        client: it pays hosts through the counterparty matrix; then ``flows`` returns ``pay``.
        spend_weight0: the parameter holding its annualised revenue at ``as_of`` when it sells a share of
            market spend (then ``params`` has ``share_drift`` and ``share_vol``, ``normals`` has ``share``
            and ``State`` has ``ln_s``, stepped by the generic step before ``flows``); None otherwise.
        investment_grade: borrows in the bond market (``debt_terms().bond_access``) whatever the equity
            regime, and is never acquired.
        starting_keys: its parameters that are observations at ``as_of`` (besides the funding ones).
    """

    name: ClassVar[str]
    params: ClassVar[tuple[ParamSpec, ...]]
    State: ClassVar[type]
    normals: ClassVar[tuple[str, ...]] = ()
    uniforms: ClassVar[tuple[str, ...]] = ()
    can_host: ClassVar[bool] = False
    client: ClassVar[bool] = False
    spend_weight0: ClassVar[str | None] = None
    investment_grade: ClassVar[bool] = False
    starting_keys: ClassVar[tuple[str, ...]] = ()

    def constants(self, ids: tuple[str, ...], schedules: Mapping[str, tuple[float, ...]]) -> dict[str, np.ndarray]:
        """Constant arrays (no path axis) of the companies ``ids`` (internal order) from plain data.

        ``schedules`` maps ``companies.<id>.<param>`` to the yearly values of schedule parameters.
        """
        return {}

    def init(self, p_market: dict[str, jax.Array], kp: KindInputs) -> tuple[Any, jax.Array]:
        """The kind's own state at ``as_of`` and its quarterly revenue then, (companies of the kind, paths)."""
        raise NotImplementedError

    def debt_terms(self, ctx: Context, kp: KindInputs, s: Block) -> DebtTerms:
        """Bond access, credit line and refinancing cap this quarter (default: none, none, no cap)."""
        zeros = jnp.zeros_like(s.company.cash)
        return DebtTerms(zeros, zeros, jnp.full_like(zeros, jnp.inf))

    def flows(self, ctx: Context, kp: KindInputs, s: Block, z: Any, dead_hosts: jax.Array | None) -> Flows:
        """The quarter's flows before counterparty settlement.

        ``dead_hosts`` (clients only): share of each company's compute placed with hosts that have left.
        """
        raise NotImplementedError

    def settle(self, ctx: Context, kp: KindInputs, s: Block, z: Any, f: Flows, revenue: jax.Array,
               interest: jax.Array, debt: jax.Array, cash: jax.Array, terms: DebtTerms,
               peers: Mapping[str, Peer]) -> Settled:
        """The quarter's result once counterparty flows are known.

        Args:
            revenue: hosts: own revenue net of the clients' share plus what live clients pay and the spot
                value of departed clients' capacity (zeros for a kind that cannot host).
            interest: interest due this quarter.
            debt: debt after this quarter's debt service (repayment and refinancing).
            cash: cash after this quarter's repayment, before its flows.
            peers: the kinds settled before this one this quarter (registration order), by name.
        """
        raise NotImplementedError
