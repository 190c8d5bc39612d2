"""Company kinds: one module per kind, registered here.

``KINDS`` maps a kind's name to its :class:`~mc_engine.model.kinds.base.CompanyKind`, in registration
order (the order of the kind blocks inside the engine). :func:`register` adds a kind, from this package
or from a plug-in outside it, and declares it to the prior-file schema (:mod:`mc_engine._schema`)
so prior files can use it.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from ... import _schema as schema
from ..._paramspec import ParamSpec
from .. import funding
from .base import CompanyKind as CompanyKind
from .hyperscaler import KIND as _HYPERSCALER
from .lab import KIND as _LAB
from .neocloud import KIND as _NEOCLOUD

_KINDS: dict[str, CompanyKind] = {}
_SHOCKS: dict[str, type] = {}

KINDS: Mapping[str, CompanyKind] = MappingProxyType(_KINDS)
"""Every registered company kind by name (live view), in registration order."""

MARKET_STREAM: int = zlib.crc32(b"market")
"""Tag of the market's shock stream inside a path block's key."""


def stream_tag(name: str) -> int:
    """Tag of kind ``name``'s shock stream: a stable hash of its name, so adding a kind moves no other's numbers."""
    return zlib.crc32(name.encode())


def shock_names(kind: CompanyKind) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(normals, uniforms) a company of ``kind`` draws each quarter: the funding ones, then the kind's own."""
    return funding.NORMALS + tuple(kind.normals), funding.UNIFORMS + tuple(kind.uniforms)


def shock_type(kind: CompanyKind) -> type:
    """The NamedTuple of ``kind``'s shocks, one field per name of :func:`shock_names`, each (companies, paths)."""
    return _SHOCKS[kind.name]


def _check(kind: CompanyKind) -> list[str]:
    """What is wrong with ``kind`` as a company kind (empty when nothing is)."""
    if not isinstance(kind, CompanyKind):
        return [f"a company kind must be an instance of a CompanyKind subclass (got {type(kind).__name__})"]
    problems = []
    name = getattr(kind, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        problems.append(f"name must be an identifier (got {name!r})")
    params = getattr(kind, "params", None)
    if not isinstance(params, tuple) or not all(isinstance(s, ParamSpec) for s in params):
        problems.append("params must be a tuple of ParamSpec")
        params = ()
    own = {s.name for s in params}
    clash = sorted(own & {s.name for s in funding.COMPANY_PARAMS})
    if clash:
        problems.append(f"params {', '.join(clash)} are common funding parameters (funding.COMPANY_PARAMS), "
                        "added by the registry: declare only the kind's own")
    state = getattr(kind, "State", None)
    fields = getattr(state, "_fields", None)
    if not (isinstance(state, type) and issubclass(state, tuple) and isinstance(fields, tuple)):
        problems.append("State must be a NamedTuple class")
        fields = ()
    for what in ("normals", "uniforms"):
        names = getattr(kind, what, None)
        if not isinstance(names, tuple) or not all(isinstance(n, str) and n.isidentifier() for n in names):
            problems.append(f"{what} must be a tuple of identifiers")
    if not problems:
        normals, uniforms = shock_names(kind)
        every = normals + uniforms
        twice = sorted({n for n in every if every.count(n) > 1})
        if twice:
            problems.append(f"shocks named twice (the funding shocks are {', '.join(every[:5])}): {', '.join(twice)}")
    if kind.spend_weight0 is not None:
        needed = {kind.spend_weight0, "share_drift", "share_vol"} - own
        if needed:
            problems.append(f"a kind selling a share of market spend needs params {', '.join(sorted(needed))}")
        if "share" not in getattr(kind, "normals", ()):
            problems.append("a kind selling a share of market spend needs the normal shock 'share'")
        if "ln_s" not in fields:
            problems.append("a kind selling a share of market spend needs the state field 'ln_s'")
    unknown = [k for k in kind.starting_keys if k not in own]
    if unknown:
        problems.append(f"starting_keys {', '.join(unknown)} are not among its params")
    for method in ("init", "flows", "settle"):
        if getattr(type(kind), method, None) is getattr(CompanyKind, method):
            problems.append(f"method {method} is not implemented")
    if isinstance(name, str) and name not in _KINDS:
        tags = {stream_tag(k): k for k in _KINDS}
        if stream_tag(name) in tags or stream_tag(name) == MARKET_STREAM:
            problems.append(f"its shock-stream tag collides with {tags.get(stream_tag(name), 'the market')!r}: "
                            "choose another name")
    return problems


def register(kind: CompanyKind) -> CompanyKind:
    """Add company ``kind`` to the registry and the prior-file schema; returns it.

    Registering the same kind again is a no-op (a plug-in module imported twice).

    Raises:
        ValueError: the kind is malformed (every problem is listed), or its name is taken by another kind.
    """
    problems = _check(kind)
    if problems:
        raise ValueError(f"cannot register company kind {getattr(kind, 'name', kind)!r}: " + "; ".join(problems))
    known = _KINDS.get(kind.name)
    if known is not None:
        if type(known).__qualname__ == type(kind).__qualname__ and type(known).__module__ == type(kind).__module__:
            return known
        raise ValueError(f"cannot register company kind {kind.name!r}: the name is taken by "
                         f"{type(known).__module__}.{type(known).__qualname__}")
    schema.register_kind(kind.name, funding.COMPANY_PARAMS + kind.params, kind.can_host,
                         funding.STARTING_KEYS + tuple(kind.starting_keys))
    normals, uniforms = shock_names(kind)
    _SHOCKS[kind.name] = NamedTuple(f"{kind.name.title()}Shocks", [(n, object) for n in normals + uniforms])
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove kind ``name`` from the registry and the prior-file schema (tests and interactive sessions).

    Raises:
        ValueError: ``name`` is a built-in kind.
    """
    if name in _BUILT_IN:
        raise ValueError(f"company kind {name!r} is built in and cannot be removed")
    schema.unregister_kind(name)
    _SHOCKS.pop(name, None)
    _KINDS.pop(name, None)


_BUILT_IN: tuple[str, ...] = (_LAB.name, _NEOCLOUD.name, _HYPERSCALER.name)
for _kind in (_LAB, _NEOCLOUD, _HYPERSCALER):
    register(_kind)
