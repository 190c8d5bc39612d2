"""Load a prior file: TOML, includes, kind defaults, sources, validation, frozen :class:`Priors`.

The flow is: read every file of the include chain (remembering which file each
key came from: :mod:`~mc_engine.inputs.tree`), merge them (tables key by key,
inputs whole), then validate section by section (:mod:`~mc_engine.inputs.checks`,
:mod:`~mc_engine.inputs.companies`), collecting every problem with its file and
key path, and raise one :class:`~mc_engine.errors.PriorError` listing them all.

This module is the public entry: ``load_priors``, ``point_problem`` and the records of
:mod:`~mc_engine.inputs.priors` are importable from here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .._paramspec import DOMAIN_BOUNDS
from ..errors import PriorError
from .companies import COMPANY_META as COMPANY_META
from .companies import RATINGS as RATINGS
from .companies import PriorChecker, _spec_of
from .distributions import Dist
from .priors import Company as Company
from .priors import Correlation as Correlation
from .priors import Input as Input
from .priors import Priors as Priors
from .reach import _float32_problem
from .specs import show_value
from .tree import _load_tree

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

AS_OF_RANGE: tuple[dt.date, dt.date] = (dt.date(1900, 1, 1), dt.date(2200, 12, 31))
"""Dates the quarter axis can hold: results keep quarter ends as nanosecond timestamps (1677-2262), and
the horizon adds up to 50 years."""


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
    check = PriorChecker(tree, origin, path.resolve(), require_sources)
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
    check.sections(inputs)
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
