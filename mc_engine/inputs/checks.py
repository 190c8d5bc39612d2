"""Validation of the merged prior tree: every problem is collected with its file and key path.

:class:`Checker` checks values, per-regime tables, yearly schedules, sections, the regime chain and the
correlation block; :class:`mc_engine.inputs.companies.PriorChecker` adds the company, kind and counterparty
tables.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .._paramspec import DOMAIN_BOUNDS, REGIMES, ParamSpec
from ..errors import PriorWarning, Problem
from .copula import is_psd, nearest_correlation, spearman_to_pearson
from .distributions import support
from .priors import Correlation, Input
from .reach import F32_LIMIT, _finite, _float32_problem
from .specs import META_KEYS, FormError, is_spec, parse_form, show_value, to_dist
from .tree import Key, _dotted


class Checker:
    """Walks the merged tree, collecting problems and building the validated pieces (the company tables are
    :class:`mc_engine.inputs.companies.PriorChecker`'s)."""

    def __init__(self, tree: dict[str, Any], origin: dict[Key, Path], root: Path, require_sources: bool):
        self.tree = tree
        self.origin = origin
        self.root = root
        self.require_sources = require_sources
        self.problems: list[Problem] = []

    def file_of(self, key: Key) -> Path:
        for n in range(len(key), -1, -1):
            if key[:n] in self.origin:
                return self.origin[key[:n]]
        return self.root

    def problem(self, key: Key, message: str, file_key: Key | None = None) -> None:
        """Record a problem at ``key``; ``file_key`` picks the file to blame when it differs from ``key``'s."""
        self.problems.append(Problem(self.file_of(file_key or key), _dotted(key), message))

    def table(self, key: Key, required: bool = True) -> dict[str, Any]:
        node: Any = self.tree
        for k in key:
            node = node.get(k) if isinstance(node, dict) else None
        if node is None:
            if required:
                self.problem(key, "missing table")
            return {}
        if not isinstance(node, dict):
            self.problem(key, f"must be a table (got {show_value(node)})")
            return {}
        return node

    def unknown_keys(self, key: Key, table: dict[str, Any], allowed: set[str]) -> None:
        for k in table:
            if k not in allowed:
                near = _closest(k, allowed)
                hint = f" (did you mean '{near}'?)" if near else ""
                self.problem((*key, k), f"unknown key '{k}'{hint}; allowed here: {', '.join(sorted(allowed))}")

    def check_meta(self, key: Key, node: dict[str, Any]) -> None:
        """``source`` and ``note`` must be text, ``as_of`` a date, ``unknown`` true or false."""
        for field, val in node.items():
            if field in ("source", "note") and not isinstance(val, str):
                self.problem((*key, field), f"must be text (got {show_value(val)})")
            elif field == "as_of" and key and (not isinstance(val, dt.date) or isinstance(val, dt.datetime)):
                self.problem((*key, field), f"must be a date like 2026-06-30 (got {show_value(val)})")
            elif field == "unknown" and key and not isinstance(val, bool):
                self.problem((*key, field), f"must be true or false (got {show_value(val)})")

    def all_meta(self) -> None:
        """:meth:`check_meta` on every table of the tree (inputs are checked by their own form)."""
        stack: list[tuple[Key, Any]] = [((), self.tree)]
        while stack:
            key, node = stack.pop()
            if not isinstance(node, dict) or (key and is_spec(node)):
                continue
            self.check_meta(key, node)
            stack.extend(((*key, k), v) for k, v in reversed(node.items()))

    # -- sources -------------------------------------------------------------------------------------

    def inherited(self, key: Key, own: Any, field: str) -> Any:
        """``field`` of the value at ``key``, else of the nearest enclosing table from the same file."""
        if own is not None:
            return own
        file = self.file_of(key)
        for n in range(len(key) - 1, -1, -1):
            parent = self.table(key[:n], required=False) if n else self.tree
            if field in parent and self.file_of((*key[:n], field)) == file:
                return parent[field]
        return None

    # -- values --------------------------------------------------------------------------------------

    def value(self, key: Key, node: Any, spec: ParamSpec, name: str | None = None) -> Input | None:
        try:
            form = parse_form(node)
            if form.weight is not None:
                raise FormError([("weight", "'weight' is only allowed inside mixture components")])
            dist = to_dist(form)
        except FormError as exc:
            for sub, msg in exc.items:
                self.problem((*key, *sub.split(".")) if sub else key, msg)
            return None
        lo, hi, allowed = DOMAIN_BOUNDS[spec.domain]
        s_lo, s_hi = support(dist)
        bad = s_lo < lo or s_hi > hi
        if spec.domain == "positive" and dist.family == "point":
            bad = bad or dist.params[0] <= 0
        if spec.domain == "unit_open" and dist.family == "point":
            bad = bad or not 0 < dist.params[0] < 1
        if bad:
            what = f"value {dist.params[0]!r}" if dist.family == "point" else f"a {dist.family} prior reaching [{s_lo:g}, {s_hi:g}]"
            fix = "" if dist.family == "point" else f"; add bounds = [{lo:g}, {hi:g}] or use a family that stays inside"
            self.problem(key, f"{what} is outside what {spec.name} allows: {allowed}{fix}")
            return None
        numeric = _float32_problem(dist, spec)
        if numeric:
            self.problem(key, numeric)
            return None
        source = self.inherited(key, form.source, "source")
        as_of = self.inherited(key, form.as_of, "as_of")
        if self.require_sources and (not source or as_of is None):
            missing = " and ".join(n for n, v in (("source", source), ("as_of", as_of)) if not v)
            self.problem(key, f"no {missing}; add source = \"...\" and as_of = YYYY-MM-DD to it or an enclosing table")
        if as_of is not None and (not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime)):
            as_of = None  # a bad enclosing as_of is reported once, by check_meta
        return Input(
            name=name or ".".join(key),
            dist=dist,
            units=spec.units,
            doc=spec.doc,
            source=str(source) if source else None,
            as_of=as_of,
            unknown=form.unknown,
            file=self.file_of(key),
        )

    def param(self, key: Key, node: Any, spec: ParamSpec, out: dict[str, Input], name: Key | None = None,
              schedules: dict[str, tuple[float, ...]] | None = None) -> None:
        """Validate one parameter at ``key``; store it under ``name`` (defaults to ``key``)."""
        name = name or key
        if spec.schedule:
            self.schedule(key, node, spec, ".".join(name), schedules if schedules is not None else {})
            return
        if not spec.per_regime:
            inp = self.value(key, node, spec, ".".join(name))
            if inp is not None:
                out[inp.name] = inp
            return
        if not isinstance(node, dict) or is_spec(node):
            self.problem(key, f"{spec.name} is per regime: give a table {{ boom = ..., normal = ..., winter = ... }}")
            return
        self.unknown_keys(key, node, set(REGIMES) | META_KEYS)
        for regime in REGIMES:
            if regime not in node:
                self.problem((*key, regime), f"missing value for regime '{regime}'")
                continue
            inp = self.value((*key, regime), node[regime], spec, ".".join((*name, regime)))
            if inp is not None:
                out[inp.name] = inp

    def schedule(self, key: Key, node: Any, spec: ParamSpec, name: str, out: dict[str, tuple[float, ...]]) -> None:
        values = node.get("value") if isinstance(node, dict) else node
        if isinstance(node, dict):
            self.unknown_keys(key, node, {"value"} | META_KEYS)
        if not isinstance(values, list) or not all(_finite(v) and v >= 0 for v in values):
            self.problem(key, f"must be a list of numbers in [0, {F32_LIMIT:g}] ({spec.units}, one per year) "
                              f"(got {show_value(values)})")
            return
        if isinstance(node, dict):
            self.check_meta(key, node)
        own = node.get("source") if isinstance(node, dict) else None
        if self.require_sources and not self.inherited(key, own, "source"):
            self.problem(key, "no source; add source = \"...\" and as_of = YYYY-MM-DD to it or an enclosing table")
        out[name] = tuple(float(v) for v in values)

    # -- sections ------------------------------------------------------------------------------------

    def section(self, section: str, specs: tuple[ParamSpec, ...], out: dict[str, Input]) -> None:
        table = self.table((section,))
        self.unknown_keys((section,), table, {s.name for s in specs} | META_KEYS)
        for spec in specs:
            if spec.name not in table:
                self.problem((section, spec.name), f"missing parameter ({spec.units}): {spec.doc}")
                continue
            self.param((section, spec.name), table[spec.name], spec, out)

    def probability_row(self, key: Key, node: Any) -> np.ndarray | None:
        if not isinstance(node, dict):
            self.problem(key, f"must be a table {{ boom = ..., normal = ..., winter = ... }} (got {show_value(node)})")
            return None
        self.unknown_keys(key, node, set(REGIMES) | META_KEYS)
        row = []
        for regime in REGIMES:
            v = node.get(regime)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
                self.problem((*key, regime), f"must be a probability in [0, 1] (got {show_value(v)})")
                return None
            row.append(float(v))
        if abs(sum(row) - 1) > 1e-6:
            self.problem(key, f"probabilities sum to {sum(row):.6g}; they must sum to 1")
            return None
        # The numbers' own file decides which enclosing source covers them (a scenario may override a row).
        probe = (*key, REGIMES[0])
        if self.require_sources and not self.inherited(probe, node.get("source"), "source"):
            self.problem(key, "no source; add source = \"...\" and as_of = YYYY-MM-DD to it or [regime]", probe)
        return np.array(row)

    def regime(self) -> tuple[np.ndarray, np.ndarray]:
        table = self.table(("regime",))
        self.unknown_keys(("regime",), table, {"initial", "transition"} | META_KEYS)
        initial = self.probability_row(("regime", "initial"), table.get("initial"))
        trans = self.table(("regime", "transition"))
        self.unknown_keys(("regime", "transition"), trans, set(REGIMES) | META_KEYS)
        rows = [self.probability_row(("regime", "transition", r), trans.get(r)) for r in REGIMES]
        fallback = np.full(3, 1 / 3)
        matrix = np.stack([r if r is not None else fallback for r in rows])
        return (initial if initial is not None else fallback), matrix

    def correlation(self, inputs: dict[str, Input]) -> Correlation | None:
        table = self.table(("correlation",), required=False)
        if not table:
            return None
        key = ("correlation",)
        self.unknown_keys(key, table, {"inputs", "matrix"} | META_KEYS)
        names, matrix = table.get("inputs"), table.get("matrix")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            self.problem((*key, "inputs"), f"must be a list of input names (got {show_value(names)})")
            return None
        if len(set(names)) != len(names):
            self.problem((*key, "inputs"), "names an input twice")
            return None
        for n in names:
            if n not in inputs:
                near = _closest(n, set(inputs))
                hint = f" (did you mean '{near}'?)" if near else ""
                self.problem((*key, "inputs"), f"unknown input '{n}'{hint}")
            elif inputs[n].is_point:
                self.problem((*key, "inputs"), f"'{n}' is a point value; only uncertain inputs can be correlated")
        try:
            m = np.array(matrix, dtype=float)
        except (TypeError, ValueError, OverflowError):
            self.problem((*key, "matrix"), "must be a square list of lists of numbers")
            return None
        k = len(names)
        if m.ndim != 2 or m.shape != (k, k):
            self.problem((*key, "matrix"), f"must be square {k} x {k} to match inputs (got shape {m.shape})")
            return None
        if not np.all(np.isfinite(m)) or np.any(np.abs(m) > 1):
            self.problem((*key, "matrix"), "entries must be finite numbers in [-1, 1]")
            return None
        if not np.allclose(m, m.T, atol=1e-9):
            i, j = np.argwhere(~np.isclose(m, m.T, atol=1e-9))[0]
            self.problem((*key, "matrix"), f"not symmetric: [{i}][{j}] = {m[i, j]} but [{j}][{i}] = {m[j, i]}")
            return None
        if not np.allclose(np.diag(m), 1.0):
            self.problem((*key, "matrix"), "diagonal entries must be 1")
            return None
        if self.require_sources and not self.inherited(key, table.get("source"), "source"):
            self.problem(key, "no source; add source = \"...\" and as_of = YYYY-MM-DD")
        pearson = spearman_to_pearson(m)
        distance = 0.0
        if not is_psd(pearson):
            pearson, distance = nearest_correlation(pearson)
            warnings.warn(
                f"{self.file_of(key)}: correlation: matrix is not positive semi-definite; repaired to the "
                f"nearest valid correlation matrix (moved {distance:.4g} in Frobenius norm on the normal "
                f"scale, largest entry change {np.abs(pearson - spearman_to_pearson(m)).max():.4g})",
                PriorWarning,
                stacklevel=4,
            )
        return Correlation(tuple(names), m, pearson, distance)


def _closest(word: str, options: set[str]) -> str | None:
    import difflib

    hits = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.75)
    return hits[0] if hits else None
