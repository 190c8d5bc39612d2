"""What a prior file may hold: the market-wide sections and the company kinds, with their parameters.

The registry is filled by :mod:`mc_engine.model` when it is imported (``import mc_engine`` does so): each
company kind registers its name, its parameters (the common funding parameters first), whether it can host
compute and which of its parameters are observations at ``as_of``. It sits below both layers: the loader
(``inputs/``) reads it without importing the model, and the model fills it without importing ``inputs/``.

``KINDS`` and ``SECTIONS`` are read-only live views: a kind registered later (a plug-in) shows in them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ._paramspec import ParamSpec


@dataclass(frozen=True)
class KindSchema:
    """A company kind as a prior file sees it.

    Attributes:
        name: the ``kind = "..."`` of a company.
        params: every parameter of a company of this kind, the common funding parameters first.
        can_host: whether other companies may place compute with it (a host in ``[counterparty]``).
        starting_keys: its parameters that are observations at ``as_of`` (swapped as "starting data" by the
            quarter-over-quarter attribution).
    """

    name: str
    params: tuple[ParamSpec, ...]
    can_host: bool
    starting_keys: tuple[str, ...]


_KINDS: dict[str, KindSchema] = {}
_KIND_PARAMS: dict[str, tuple[ParamSpec, ...]] = {}
_SECTIONS: dict[str, tuple[ParamSpec, ...]] = {}

KINDS: Mapping[str, tuple[ParamSpec, ...]] = MappingProxyType(_KIND_PARAMS)
"""Parameters of every registered company kind (live view), in registration order."""
SECTIONS: Mapping[str, tuple[ParamSpec, ...]] = MappingProxyType(_SECTIONS)
"""Market-wide sections of a prior file and their parameters (live view)."""


def register_kind(name: str, params: tuple[ParamSpec, ...], can_host: bool,
                  starting_keys: tuple[str, ...] = ()) -> KindSchema:
    """Declare company kind ``name`` to the loader; registering the same declaration twice is a no-op.

    Raises:
        ValueError: an empty or dotted name, a name taken by a different declaration, parameters given twice,
            or a starting key that is not one of the kind's parameters.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a company kind's name must be an identifier (got {name!r})")
    if name in _SECTIONS:
        raise ValueError(f"company kind {name!r} would shadow the prior file section [{name}]")
    names = [s.name for s in params]
    if not all(isinstance(s, ParamSpec) for s in params):
        raise ValueError(f"company kind {name!r}: params must be ParamSpec declarations")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"company kind {name!r} declares parameters twice: {', '.join(twice)}")
    unknown = [k for k in starting_keys if k not in names]
    if unknown:
        raise ValueError(f"company kind {name!r}: starting keys {', '.join(unknown)} are not its parameters")
    schema = KindSchema(name, tuple(params), bool(can_host), tuple(starting_keys))
    if name in _KINDS and _KINDS[name] != schema:
        raise ValueError(f"company kind {name!r} is already registered with a different declaration")
    _KINDS[name] = schema
    _KIND_PARAMS[name] = schema.params
    return schema


def unregister_kind(name: str) -> None:
    """Remove kind ``name`` (tests and interactive sessions; prior files using it no longer load)."""
    _KINDS.pop(name, None)
    _KIND_PARAMS.pop(name, None)


def register_section(name: str, params: tuple[ParamSpec, ...]) -> None:
    """Declare a market-wide section ``[name]`` of a prior file and its parameters."""
    if name in _SECTIONS and _SECTIONS[name] != tuple(params):
        raise ValueError(f"section [{name}] is already registered with different parameters")
    _SECTIONS[name] = tuple(params)


def kinds() -> Mapping[str, KindSchema]:
    """Every registered company kind, in registration order."""
    return MappingProxyType(_KINDS)


def sections() -> Mapping[str, tuple[ParamSpec, ...]]:
    """Every registered market-wide section."""
    return SECTIONS


def can_host(kind: str) -> bool:
    """Whether companies of ``kind`` may host other companies' compute."""
    return kind in _KINDS and _KINDS[kind].can_host


def starting_state_keys() -> tuple[str, ...]:
    """Company parameters that are observations at ``as_of``, over every registered kind (no repeats)."""
    return tuple(dict.fromkeys(k for schema in _KINDS.values() for k in schema.starting_keys))
