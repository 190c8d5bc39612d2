"""The company, kind and counterparty tables of a prior file, and the parameter declarations behind an input.

What a section, a company kind or a counterparty link may hold comes from the model's parameter declarations
(``KINDS``, ``SECTIONS``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._paramspec import ParamSpec
from .._schema import KINDS, SECTIONS, can_host
from .checks import Checker
from .priors import Company, Input, Priors
from .specs import META_KEYS, show_value
from .tree import Key

COMPANY_META: tuple[str, ...] = ("kind", "name", "backer", "source", "as_of", "note", "credit")
RATINGS: tuple[str, ...] = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC")
"""Rating classes of the credit table (S&P scale without notches; "AA-" reads as class AA)."""


class PriorChecker(Checker):
    """:class:`~mc_engine.inputs.checks.Checker` with the tables whose keys the model declares."""

    def sections(self, out: dict[str, Input]) -> None:
        """Every fixed section (``market``, ``funding``, ...) into ``out``."""
        for section, specs in SECTIONS.items():
            self.section(section, specs, out)

    def companies(self, out: dict[str, Input], schedules: dict[str, tuple[float, ...]]) -> tuple[Company, ...]:
        kinds = self.table(("kinds",), required=False)
        self.unknown_keys(("kinds",), kinds, set(KINDS) | META_KEYS)
        table = self.table(("companies",))
        if not table:
            self.problem(("companies",), "no companies: add at least one [companies.<id>] table")
        companies: list[Company] = []
        used: set[tuple[str, str]] = set()
        for cid, body in table.items():
            key = ("companies", cid)
            if cid in META_KEYS:
                continue
            if not isinstance(body, dict):
                self.problem(key, f"must be a table (got {show_value(body)})")
                continue
            kind = body.get("kind")
            if not isinstance(kind, str) or kind not in KINDS:
                what = "missing" if kind is None else f"unknown company kind {show_value(kind)}"
                self.problem((*key, "kind"), f"{what}; allowed: {', '.join(KINDS)}")
                continue
            specs = KINDS[kind]
            self.unknown_keys(key, body, {s.name for s in specs} | set(COMPANY_META) | META_KEYS)
            defaults = kinds.get(kind, {}) if isinstance(kinds.get(kind), dict) else {}
            for spec in specs:
                if spec.name in body:
                    self.param((*key, spec.name), body[spec.name], spec, out, schedules=schedules)
                elif spec.name in defaults:
                    used.add((kind, spec.name))
                    self.param(("kinds", kind, spec.name), defaults[spec.name], spec, out,
                               name=(*key, spec.name), schedules=schedules)
                else:
                    self.problem((*key, spec.name),
                                 f"not given, and [kinds.{kind}] has no default ({spec.units}): {spec.doc}")
            name = body.get("name", cid)
            backer = body.get("backer")
            for field, val in (("name", name), ("backer", backer)):
                if val is not None and not isinstance(val, str):
                    self.problem((*key, field), f"must be text (got {show_value(val)})")
            rating, cds, credit_source = self.credit((*key, "credit"), body.get("credit"))
            companies.append(Company(cid, str(name), kind, backer if isinstance(backer, str) else None,
                                     rating, cds, credit_source))
        for kind, body in kinds.items():
            if kind in KINDS and isinstance(body, dict):
                self.unknown_keys(("kinds", kind), body, {s.name for s in KINDS[kind]} | META_KEYS)
                for spec in KINDS[kind]:  # a default no company uses is checked too: it may be used later
                    if spec.name in body and (kind, spec.name) not in used:
                        self.param(("kinds", kind, spec.name), body[spec.name], spec, {}, schedules={})
        return tuple(companies)

    def credit(self, key: Key, node: Any) -> tuple[str | None, float | None, str | None]:
        """A company's ``credit = { rating = "AA-", cds_bp = 140, source = "...", as_of = ... }`` (all optional
        but a source and date when anything is given): rating, spread and source."""
        if node is None:
            return None, None, None
        if not isinstance(node, dict):
            self.problem(key, "must be a table { rating = \"BBB\", cds_bp = 140, source = \"...\", as_of = ... }")
            return None, None, None
        self.unknown_keys(key, node, {"rating", "cds_bp", "source", "as_of", "note"})
        rating, cds, source = node.get("rating"), node.get("cds_bp"), node.get("source")
        if rating is not None and (not isinstance(rating, str) or rating.rstrip("+-") not in RATINGS):
            self.problem((*key, "rating"), f"must be a rating such as \"AA-\" or \"BBB\" (got {show_value(rating)})")
            rating = None
        if cds is not None and (isinstance(cds, bool) or not isinstance(cds, int | float) or not 0 <= cds < 1e5):
            self.problem((*key, "cds_bp"), f"must be a spread in basis points >= 0 (got {show_value(cds)})")
            cds = None
        if self.require_sources and (not source or "as_of" not in node):
            self.problem(key, "no source and as_of; add source = \"...\" and as_of = YYYY-MM-DD")
        return rating, float(cds) if cds is not None else None, str(source) if source else None

    def counterparty(self, companies: tuple[Company, ...]) -> np.ndarray:
        ids = [c.id for c in companies]
        kind_of = {c.id: c.kind for c in companies}
        w = np.zeros((len(ids), len(ids)))
        table = self.table(("counterparty",), required=False)
        for client, row in table.items():
            key = ("counterparty", client)
            if client in META_KEYS:
                continue
            if client not in kind_of:
                self.problem(key, f"unknown company '{client}'; companies: {', '.join(ids)}")
                continue
            if not isinstance(row, dict):
                self.problem(key, f"must be a table of host = share (got {show_value(row)})")
                continue
            for host, share in row.items():
                if host in META_KEYS:
                    continue
                hkey = (*key, host)
                if host not in kind_of:
                    self.problem(hkey, f"unknown host '{host}'; companies: {', '.join(ids)}")
                elif not can_host(kind_of[host]) or host == client:
                    hosting = ", ".join(k for k in KINDS if can_host(k))
                    self.problem(hkey, f"'{host}' cannot host compute: hosts must be of a kind that hosts ({hosting})")
                elif isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
                    self.problem(hkey, f"must be a share in [0, 1] (got {show_value(share)})")
                else:
                    w[ids.index(client), ids.index(host)] = float(share)
            total = w[ids.index(client)].sum()
            if total > 1 + 1e-9:
                self.problem(key, f"host shares sum to {total:.4g}; a client's shares must sum to at most 1")
            hosts = [h for h in row if h not in META_KEYS]
            probe = (*key, hosts[0]) if hosts else key
            if self.require_sources and not self.inherited(probe, row.get("source"), "source"):
                self.problem(key, "no source; add source = \"...\" and as_of = YYYY-MM-DD", probe)
        return w


def _spec_of(priors: Priors, name: str) -> ParamSpec | None:
    """The parameter declaration behind input ``name`` (``market.algo_gain``, ``companies.x.cash0.boom``)."""
    if name not in priors.inputs:
        return None
    section, _, rest = name.partition(".")
    specs: tuple[ParamSpec, ...] = ()
    if section in SECTIONS:
        specs = SECTIONS[section]
    elif section == "companies":
        company = next((c for c in priors.companies if rest.startswith(f"{c.id}.")), None)
        if company is None:
            return None
        specs, rest = KINDS[company.kind], rest[len(company.id) + 1 :]
    param = rest.split(".")[0]
    return next((s for s in specs if s.name == param), None)
