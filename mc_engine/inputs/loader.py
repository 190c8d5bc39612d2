"""Load a prior file: TOML, includes, kind defaults, sources, validation, frozen :class:`Priors`.

The flow is: read every file of the include chain (remembering which file each
key came from), merge them (tables key by key, inputs whole), then validate
section by section, collecting every problem with its file and key path, and
raise one :class:`~mc_engine.errors.PriorError` listing them all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import re
import stat
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from .._params import DOMAIN_BOUNDS, REGIMES, ParamSpec
from ..errors import PriorError, PriorWarning, Problem
from .copula import is_psd, nearest_correlation, spearman_to_pearson
from .distributions import PARAM_NAMES, Dist, support
from .schema import KINDS, SECTIONS, can_host
from .specs import META_KEYS, FormError, is_spec, parse_form, show_value, to_dist

TOP_KEYS: tuple[str, ...] = (
    "include",
    "name",
    "description",
    "as_of",
    "source",
    "market",
    "funding",
    "regime",
    "kinds",
    "companies",
    "counterparty",
    "correlation",
)
COMPANY_META: tuple[str, ...] = ("kind", "name", "backer", "source", "as_of", "note", "credit")
RATINGS: tuple[str, ...] = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC")
"""Rating classes of the credit table (S&P scale without notches; "AA-" reads as class AA)."""
Key = tuple[str, ...]


@dataclass(frozen=True)
class Input:
    """One scalar scenario input, drawn once per path.

    Attributes:
        name: dotted path, e.g. ``companies.openai.revenue0`` or ``funding.raise_prob.winter``.
        dist: its distribution.
        units: physical units of the parameter.
        doc: what the parameter is.
        source: where the number comes from.
        as_of: date of the source.
        unknown: True when nobody has published the figure (a deliberately wide prior).
        file: the prior file that set it.
    """

    name: str
    dist: Dist
    units: str
    doc: str
    source: str | None
    as_of: dt.date | None
    unknown: bool
    file: Path

    @property
    def is_point(self) -> bool:
        return self.dist.family == "point"


@dataclass(frozen=True)
class Company:
    """A simulated company: ``id`` is its key in the prior file, ``kind`` one of lab/neocloud/hyperscaler."""

    id: str
    name: str
    kind: str
    backer: str | None
    rating: str | None = None
    """Issuer rating as published (e.g. ``"AA-"``), from the company's ``credit`` table, or None."""
    cds_bp: float | None = None
    """Five-year CDS spread in basis points from the ``credit`` table, or None."""
    credit_source: str | None = None
    """Where the rating and spread come from."""


@dataclass(frozen=True)
class Correlation:
    """Rank correlations between named inputs and the normal-scale matrix the copula uses.

    Attributes:
        inputs: names of the correlated inputs.
        spearman: the matrix as written, shape (k, k).
        pearson: normal-scale correlation ``2 sin(pi r / 6)``, repaired to PSD if needed, shape (k, k).
        repair_distance: Frobenius distance the repair moved the normal-scale matrix (0 if none).
    """

    inputs: tuple[str, ...]
    spearman: np.ndarray
    pearson: np.ndarray
    repair_distance: float


@dataclass(frozen=True)
class Priors:
    """Validated, frozen priors: everything the simulator needs, as plain numbers.

    Attributes:
        path: the file loaded.
        files: every file read (the include chain), in merge order.
        name, description: free text from the file.
        as_of: the date the priors describe; the simulation starts the quarter after.
        inputs: every scalar input by dotted name, in file order.
        schedules: yearly vectors (e.g. ``companies.openai.commitments``), USD bn/yr by year.
        companies: the companies in file order.
        regime_initial: starting probabilities of (boom, normal, winter), shape (3,).
        regime_transition: quarterly transition matrix, rows = from, shape (3, 3).
        counterparty: ``W[i, j]`` share of company i's compute spend paid to host j, shape (c, c).
        correlation: the rank-correlation block, or None.
        resolved: the merged prior tree as JSON-ready data (what a run records).
        digest: sha256 of ``resolved``.
    """

    path: Path
    files: tuple[Path, ...]
    name: str
    description: str
    as_of: dt.date
    inputs: Mapping[str, Input]
    schedules: Mapping[str, tuple[float, ...]]
    companies: tuple[Company, ...]
    regime_initial: np.ndarray
    regime_transition: np.ndarray
    counterparty: np.ndarray
    correlation: Correlation | None
    resolved: Mapping[str, Any]
    digest: str

    @property
    def company_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.companies)

    def company_param(self, company: str, param: str) -> str:
        """Input name of a company parameter, e.g. ``companies.openai.revenue0``."""
        return f"companies.{company}.{param}"


# --------------------------------------------------------------------------- reading and merging


MAX_DEPTH = 32
"""Deepest nesting of tables and lists a prior file may have (the schema needs 5)."""


MAX_FILE_BYTES = 4 * 2**20
"""Largest prior file read (the bundled baseline is ~40 kB): /dev/zero or a 1 GB file is refused, not read."""

AS_OF_RANGE: tuple[dt.date, dt.date] = (dt.date(1900, 1, 1), dt.date(2200, 12, 31))
"""Dates the quarter axis can hold: results keep quarter ends as nanosecond timestamps (1677-2262), and
the horizon adds up to 50 years."""


def _read_toml(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """Parse one file. A file that cannot be read is blamed on the ``include`` that names it.

    Only a regular file of at most :data:`MAX_FILE_BYTES` is read (a FIFO would block, a device never end).
    """
    where = (chain[-1], "include") if chain else (path, "")
    included = f" (included from {chain[-1]})" if chain else ""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise PriorError(Problem(*where, f"cannot read {path}: {kind}; a prior file is a TOML file{included}"))
        if info.st_size > MAX_FILE_BYTES:
            raise PriorError(Problem(*where, f"{path} is {info.st_size:,} bytes; prior files are at most "
                                             f"{MAX_FILE_BYTES:,}{included}"))
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)[:MAX_FILE_BYTES]
    except PriorError:
        raise
    except FileNotFoundError:
        if chain:
            raise PriorError(Problem(*where, f"{path}: file not found{included}")) from None
        raise PriorError(Problem(path, "", "no such file"), head="cannot read the prior file") from None
    except (OSError, ValueError) as exc:  # no permission, a NUL in the name
        raise PriorError(Problem(*where, f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}"
                                         f"{included}")) from None
    try:
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text() does
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PriorError(Problem(path, "", f"not UTF-8 text: invalid byte at line {line}; save the file as "
                                           "UTF-8")) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PriorError(Problem(path, "", f"TOML syntax error: {exc}{_syntax_context(text, str(exc))}")) from None
    except RecursionError:
        lines = text.splitlines()
        deep = next((i for i, ln in enumerate(lines, 1) if max(ln.count("["), ln.count("{")) > MAX_DEPTH), None)
        at = f" at line {deep}" if deep else ""
        raise PriorError(Problem(path, "", f"lists or inline tables nested too deeply{at}; prior files nest at "
                                           f"most {MAX_DEPTH} levels")) from None


_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]#]+?)\s*\]\]?\s*(?:#.*)?$")


def _syntax_context(text: str, message: str) -> str:
    """`` (in [table])`` for the table header in force at the line a TOML error names, if any."""
    match = re.search(r"at line (\d+)", message)
    if not match:
        return ""
    table = ""
    for line in text.splitlines()[: int(match.group(1)) - 1]:
        header = _HEADER.match(line)
        if header:
            table = header.group(1)
    return f" (in [{table}])" if table else ""


def _too_deep(node: Any) -> Key | None:
    """The key path of the first table or list nested more than :data:`MAX_DEPTH` levels, if any."""
    stack: list[tuple[Any, Key, int]] = [(node, (), 0)]
    while stack:
        item, key, depth = stack.pop()
        if depth > MAX_DEPTH:
            return key
        if isinstance(item, dict):
            stack.extend((v, (*key, str(k)), depth + 1) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, key, depth + 1) for v in item)
    return None


def _mark(node: Any, key: Key, file: Path, origin: dict[Key, Path]) -> None:
    origin[key] = file
    if isinstance(node, dict):
        for k, v in node.items():
            _mark(v, (*key, k), file, origin)


def _is_table(node: Any) -> bool:
    return isinstance(node, dict) and not is_spec(node)


def _merge(base: dict, base_origin: dict[Key, Path], over: dict, over_origin: dict[Key, Path], key: Key) -> None:
    """Merge ``over`` into ``base`` in place: tables key by key, values (inputs, lists, numbers) whole.

    ``*_origin`` map every key path to the file it came from; they are merged alongside.
    """
    for k, v in over.items():
        sub = (*key, k)
        if _is_table(v) and _is_table(base.get(k)):
            base_origin.setdefault(sub, over_origin[sub])
            _merge(base[k], base_origin, v, over_origin, sub)
        else:
            v = _keep_bounds(base.get(k), v)
            for old in [p for p in base_origin if p[: len(sub)] == sub]:
                del base_origin[old]
            base[k] = v
            base_origin.update({p: f for p, f in over_origin.items() if p[: len(sub)] == sub})


def _keep_bounds(old: Any, new: Any) -> Any:
    """An overriding distribution keeps the bounds of the one it replaces unless it states its own.

    A scenario that redraws ``algo_gain`` from a new ``ci90`` still means the baseline's support; a
    point value (a number or ``value = x``) needs no bounds.
    """
    if (isinstance(new, dict) and is_spec(new) and "value" not in new and "bounds" not in new
            and isinstance(old, dict) and is_spec(old) and "bounds" in old):
        return {**new, "bounds": old["bounds"]}
    return new


def _load_tree(path: Path, chain: tuple[Path, ...], files: list[Path], root: Path) -> tuple[dict, dict[Key, Path]]:
    """Read ``path`` and its includes; return the merged tree and the file of every key path.

    ``path`` is absolute and normalized as written (``..`` removed, symlinks kept). Includes must be ``.toml``
    files under ``root`` judged the same way, on the path as written: ``..`` cannot climb out, and a symlink
    inside the tree (the tree's own content) is followed like a folder.
    """
    written = path
    try:
        path = path.resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        raise PriorError(Problem(chain[-1] if chain else path, "include" if chain else "",
                                 f"cannot resolve {path}: {exc}")) from None
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(path) :], path))
        raise PriorError(Problem(chain[-1], "include", f"include cycle: {cycle}; remove one of these includes"))
    raw = _read_toml(path, chain)
    deep = _too_deep(raw)
    if deep is not None:
        shown = _dotted(deep[: MAX_DEPTH // 4]) + "..."
        raise PriorError(Problem(path, shown, f"nested more than {MAX_DEPTH} levels deep; prior files nest tables "
                                              f"and lists at most {MAX_DEPTH} levels"))
    includes = raw.pop("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) and i.strip() for i in includes):
        raise PriorError(Problem(path, "include", f"must be a file path or a list of them (got {show_value(includes)})"))
    merged: dict[str, Any] = {}
    origin: dict[Key, Path] = {(): path}
    for inc in includes:
        target = Path(os.path.normpath(written.parent / inc))
        inside = target.is_relative_to(root)
        if not inside or Path(inc).suffix != ".toml":
            why = "is not a .toml file" if inside else f"is outside the prior tree {root}"
            raise PriorError(Problem(path, "include", f"{show_value(inc)} {why}; includes name .toml files under the "
                                                      "top-level file's folder or the folder above it "
                                                      "(load_priors(..., include_root=...) widens that)"))
        sub, sub_origin = _load_tree(target, (*chain, path), files, root)
        _merge(merged, origin, sub, sub_origin, ())
    mine: dict[Key, Path] = {}
    _mark(raw, (), path, mine)
    _merge(merged, origin, raw, mine, ())
    files.append(path)
    return merged, origin


def _dotted(key: Key) -> str:
    """A key path as TOML writes it: ``companies."a.b".cash0``; parts other than bare keys are quoted."""
    return ".".join(k if re.fullmatch(r"[A-Za-z0-9_\-\[\]]+", k) else json.dumps(k, ensure_ascii=False) for k in key)


# --------------------------------------------------------------------------- validation


class _Checker:
    """Walks the merged tree, collecting problems and building the validated pieces."""

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


# --------------------------------------------------------------------------- float32 reach

F32_LIMIT = 1e15
"""Largest magnitude of any prior number or draw. The simulation runs in float32 (largest 3.4e38) and
squares and multiplies inputs (a triangular quantile squares its width): 1e15 (USD 1e24 in USD bn) keeps
every such product finite, far above any real figure."""
F32_TINY = 1e-15
"""Smallest draw of a ``positive`` parameter: its reciprocal (durations divide) stays below F32_LIMIT."""
UNIT_GAP = 1e-6
"""Least distance of a ``unit_open`` draw from 0 and 1: float32 steps by 6e-8 just below 1, and logit(u)
of the utilisation must stay finite."""
F32_ROUNDING = 2.0**-22
"""Rounding error of a float32 quantile formula, relative to the magnitudes it adds (two ulps)."""
Z_REACH = 8.0
"""Normal scores the sampler may reach (float32 normals stay within about 5.5; a copula mixes several)."""
U_EDGE = 2.0**-24
"""Smallest probability the float32 quantile function is evaluated at (it clips u to [2**-24, 1 - 2**-24])."""


def _exp(x: float) -> float:
    return math.exp(x) if x < 709.0 else math.inf


def _beta_reach(a: float, b: float) -> tuple[float, float]:
    """Extreme float32 draws of Beta(a, b) on [0, 1], from the tails ``I_y(a, b) ~ y**a / (a B(a, b))``."""
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    low = _exp((math.log(U_EDGE) + math.log(a) + log_beta) / a)
    gap = _exp((math.log(U_EDGE) + math.log(b) + log_beta) / b)
    return min(low, 1.0), max(1.0 - gap, 0.0)


def _reach(dist: Dist) -> tuple[float, float]:
    """The smallest and largest values the float32 sampler can draw from ``dist`` (a float64 estimate).

    Normal and lognormal reach ``Z_REACH`` sd; bounded families their quantiles at ``U_EDGE`` (a
    triangular with its mode at an end reaches the end). Each end is widened by the float32 rounding of
    the family's formula (``F32_ROUNDING`` times the magnitudes it adds: ``hi - sqrt(...)`` of a wide
    triangular can land far below ``lo``), then clipped to the bounds (clipping is exact).
    """
    p = dist.params
    family = dist.family
    if family == "point":
        return p[0], p[0]
    if family == "normal":
        lo, hi = p[0] - Z_REACH * p[1], p[0] + Z_REACH * p[1]
        slack = abs(p[0]) + Z_REACH * p[1]
    elif family == "lognormal":  # exp() rounds relative to its value: the ends keep their sign
        lo, hi = _exp(p[0] - Z_REACH * p[1]), _exp(p[0] + Z_REACH * p[1])
        lo, hi = lo * (1 - F32_ROUNDING * (1 + abs(p[0]) + Z_REACH * p[1])), hi * (1 + F32_ROUNDING)
        slack = 0.0
    elif family == "uniform":
        lo, hi = p[0] + U_EDGE * (p[1] - p[0]), p[1] - U_EDGE * (p[1] - p[0])
        slack = abs(p[0]) + abs(p[1])
    elif family == "triangular":
        width = p[2] - p[0]
        lo = p[0] + math.sqrt(U_EDGE * width * (p[1] - p[0])) if p[1] > p[0] else p[0]
        hi = p[2] - math.sqrt(U_EDGE * width * (p[2] - p[1])) if p[2] > p[1] else p[2]
        slack = abs(p[0]) + abs(p[2]) + width
    elif family in ("beta", "pert"):
        if family == "beta":
            a, b, start, end = p
        else:
            start, mode, end, lamb = p
            a = 1 + lamb * (mode - start) / (end - start)
            b = 1 + lamb * (end - mode) / (end - start)
        y_lo, y_hi = _beta_reach(a, b)
        lo, hi = start + (end - start) * y_lo, start + (end - start) * y_hi
        slack = abs(start) + abs(end)
    elif family == "mixture":
        ends = [_reach(c) for c in dist.components]
        lo, hi = min(e[0] for e in ends), max(e[1] for e in ends)
        slack = 0.0
    else:
        raise ValueError(f"unknown family {family!r}")
    margin = F32_ROUNDING * slack
    return max(lo - margin, dist.bounds[0]), min(hi + margin, dist.bounds[1])


def _too_narrow(dist: Dist) -> str | None:
    """A scale or width float32 would round to (or near) 0, making the CDF 0 / 0, if any."""
    names = dict(zip(PARAM_NAMES[dist.family], dist.params, strict=True))
    for scale in ("sd", "sigma", "alpha", "beta", "lamb"):
        if scale in names and names[scale] < F32_TINY:
            return f"{scale} = {names[scale]:g} is below {F32_TINY:g}"
    if "lo" in names and "hi" in names:
        width, least = names["hi"] - names["lo"], max(F32_TINY, 1e-6 * max(abs(names["lo"]), abs(names["hi"])))
        if width < least:
            return f"hi - lo = {width:g} is below {least:g}"
    return next((why for c in dist.components if (why := _too_narrow(c))), None)


def _numbers(dist: Dist) -> list[float]:
    out = [*dist.params, *(b for b in dist.bounds if math.isfinite(b))]
    for c in dist.components:
        out += _numbers(c)
    return out


def _float32_problem(dist: Dist, spec: ParamSpec) -> str | None:
    """Why the float32 simulation could not draw finite, in-domain values of ``spec`` from ``dist``, if so.

    Every number must lie within +-``F32_LIMIT`` and so must every draw; a ``positive`` parameter's draws
    must be at least ``F32_TINY``; a ``unit_open`` one's at least ``UNIT_GAP`` away from 0 and 1. Bounds
    must overlap where the prior lives.
    """
    what = f"value {dist.params[0]:g}" if dist.family == "point" else f"the {dist.family} prior"
    big = [x for x in _numbers(dist) if abs(x) > F32_LIMIT]
    if big:
        return (f"number {big[0]:g} is too large: the simulation runs in float32 and takes numbers within "
                f"+-{F32_LIMIT:g} (use inf for an open bound)")
    narrow = _too_narrow(dist)
    if narrow:
        return (f"{narrow}: too narrow for the float32 simulation, which would see no spread (or divide 0 by "
                "0); use a point value instead")
    lo, hi = _reach(dist)
    if lo > hi or support(dist)[0] > support(dist)[1]:
        free = dataclasses.replace(dist, bounds=(-math.inf, math.inf))
        free_lo, free_hi = max(support(free)[0], _reach(free)[0]), min(support(free)[1], _reach(free)[1])
        return (f"bounds = [{dist.bounds[0]:g}, {dist.bounds[1]:g}] leave out all of {what}, which draws from "
                f"[{free_lo:g}, {free_hi:g}]")
    if not (lo >= -F32_LIMIT and hi <= F32_LIMIT):
        return (f"{what} reaches [{lo:g}, {hi:g}]; the simulation runs in float32 and draws must stay within "
                f"+-{F32_LIMIT:g}: narrow it or add bounds")
    if spec.domain == "positive" and lo < F32_TINY:
        return (f"{what} can draw {lo:g}, but {spec.name} must be > 0 and, in the float32 simulation, at least "
                f"{F32_TINY:g}; raise its lower end (or bound) above 0 or use a lognormal")
    if spec.minimum is not None and lo < spec.minimum:
        return (f"{what} can draw {lo:g} {spec.units}, below {spec.minimum:g} {spec.units}: {spec.minimum_why}; "
                f"narrow it or add bounds = [{spec.minimum:g}, inf]")
    if spec.maximum is not None and hi > spec.maximum:
        return (f"{what} can draw {hi:g} {spec.units}, above {spec.maximum:g} {spec.units}: {spec.maximum_why}; "
                f"narrow it or add bounds = [{DOMAIN_BOUNDS[spec.domain][0]:g}, {spec.maximum:g}]")
    if spec.domain == "unit_open" and (lo < UNIT_GAP or hi > 1 - UNIT_GAP):
        edge = lo if lo < UNIT_GAP else hi
        return (f"{what} can draw {edge:.9g}, which float32 rounds to (or too near) 0 or 1; {spec.name} must be "
                f"strictly between 0 and 1, at least {UNIT_GAP:g} from each: keep lo > 0 and hi < 1, or use a "
                "beta with both shapes > 1")
    return None


def _finite(v: Any) -> bool:
    """A number (not a bool) within +-F32_LIMIT; a 400-digit TOML integer is not."""
    return isinstance(v, int | float) and not isinstance(v, bool) and abs(v) <= F32_LIMIT


def _closest(word: str, options: set[str]) -> str | None:
    import difflib

    hits = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.75)
    return hits[0] if hits else None


def _jsonable(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _jsonable(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_jsonable(v) for v in node]
    if isinstance(node, dt.date | dt.datetime | dt.time):
        return node.isoformat()
    if isinstance(node, float) and not math.isfinite(node):
        return str(node)
    return node


def _freeze(node: Any) -> Any:
    if isinstance(node, dict):
        return MappingProxyType({k: _freeze(v) for k, v in node.items()})
    if isinstance(node, list):
        return tuple(_freeze(v) for v in node)
    return node


def load_priors(path: str | Path, *, require_sources: bool = True, include_root: str | Path | None = None) -> Priors:
    """Load, merge and validate a prior file into frozen :class:`Priors`.

    Args:
        path: a TOML prior file; its ``include`` files are merged first.
        require_sources: every number must carry ``source`` and ``as_of`` (on itself or an
            enclosing table of the same file). Bundled priors keep this on; tests may relax it.
        include_root: the folder whose tree ``include`` may read (default: the folder above the
            file's own, e.g. ``priors/`` for ``priors/scenarios/x.toml``), judged on paths as written.

    Raises:
        PriorError: listing every problem found, each naming file, key path, bad value and fix.
    """
    path = Path(path)
    files: list[Path] = []
    written = Path(os.path.abspath(path))
    if include_root is not None:
        root = Path(os.path.abspath(include_root))
    else:  # the folder above the file's own, e.g. priors/ for priors/scenarios/x.toml; never all of "/"
        top = written.parent
        root = top.parent if top.parent != top.parent.parent else top
    tree, origin = _load_tree(written, (), files, root)
    check = _Checker(tree, origin, path.resolve(), require_sources)
    check.unknown_keys((), tree, set(TOP_KEYS))

    as_of = tree.get("as_of")
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        check.problem(("as_of",), f"must be a date like 2026-06-30: the simulation starts the quarter after (got {show_value(as_of)})")
        as_of = dt.date(1970, 1, 1)
    elif not AS_OF_RANGE[0] <= as_of <= AS_OF_RANGE[1]:
        check.problem(("as_of",), f"{as_of} is outside {AS_OF_RANGE[0]} ... {AS_OF_RANGE[1]}, the dates the "
                                  "quarter axis of a result can hold")
        as_of = dt.date(1970, 1, 1)
    for field in ("name", "description"):
        if field in tree and not isinstance(tree[field], str):
            check.problem((field,), f"must be text (got {show_value(tree[field])})")

    inputs: dict[str, Input] = {}
    schedules: dict[str, tuple[float, ...]] = {}
    for section, specs in SECTIONS.items():
        check.section(section, specs, inputs)
    companies = check.companies(inputs, schedules)
    initial, transition = check.regime()
    w = check.counterparty(companies)
    check.all_meta()
    correlation = check.correlation(inputs) if not check.problems else None
    if check.problems:
        raise PriorError(list(dict.fromkeys(check.problems)))

    for array in (initial, transition, w):
        array.setflags(write=False)
    resolved = _jsonable(tree)
    digest = hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()
    return Priors(
        path=path,
        files=tuple(files),
        name=str(tree.get("name", path.stem)),
        description=str(tree.get("description", "")),
        as_of=as_of,
        inputs=MappingProxyType(inputs),
        schedules=MappingProxyType(schedules),
        companies=companies,
        regime_initial=initial,
        regime_transition=transition,
        counterparty=w,
        correlation=correlation,
        resolved=_freeze(resolved),
        digest=digest,
    )


def point_problem(priors: Priors, name: str, value: float) -> str | None:
    """Why input ``name`` of ``priors`` cannot be pinned to the point ``value``, if so (the checks of a prior
    file's point value: domain, float32 range, declared minimum and maximum)."""
    spec = _spec_of(priors, name)
    if spec is None:
        return f"{name!r} is not an input of {priors.path}"
    if not math.isfinite(value):
        return f"value {value!r} is not a finite number"
    dist = Dist("point", (float(value),))
    lo, hi, allowed = DOMAIN_BOUNDS[spec.domain]
    bad = not lo <= value <= hi or (spec.domain == "positive" and value <= 0) or (
        spec.domain == "unit_open" and not 0 < value < 1)
    if bad:
        return f"value {value!r} is outside what {spec.name} allows: {allowed}"
    return _float32_problem(dist, spec)


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
