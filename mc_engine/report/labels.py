"""Readable labels of the dotted input names of a run (``companies.openai.min_gap_q``).

The label of a parameter is its :attr:`~mc_engine._paramspec.ParamSpec.display_label`;
an input name adds where it applies (a company, a regime) around it.
"""

from __future__ import annotations

from functools import cache

from .._paramspec import REGIMES, ParamSpec, readable_name


def _specs() -> dict[str, ParamSpec]:
    from .._schema import KINDS, SECTIONS

    return _specs_of(tuple(SECTIONS.values()) + tuple(KINDS.values()))


@cache
def _specs_of(groups: tuple[tuple[ParamSpec, ...], ...]) -> dict[str, ParamSpec]:
    """Every declared parameter by name (first declaration wins); cached per registry content, so a kind
    registered later (a plug-in) gets its labels too."""
    specs: dict[str, ParamSpec] = {}
    for group in groups:
        for spec in group:
            specs.setdefault(spec.name, spec)
    return specs


def input_label(name: str, company: str | None = None, names: dict[str, str] | None = None) -> str:
    """``market.round_size.winter`` -> ``round size (winter)``; a company's own inputs lose its prefix when
    ``company`` is that company, others get the company's name in front."""
    parts = name.split(".")
    owner = None
    if parts[0] == "companies" and len(parts) > 2:
        owner, parts = parts[1], parts[2:]
    elif parts[0] in ("market", "funding", "kinds") and len(parts) > 1:
        parts = parts[2:] if parts[0] == "kinds" and len(parts) > 2 else parts[1:]
    regime = parts[-1] if len(parts) > 1 and parts[-1] in REGIMES else None
    key = parts[0]
    spec = _specs().get(key)
    text = spec.display_label if spec is not None else readable_name(key)
    if len(parts) > 1 and regime is None:
        text += " " + " ".join(parts[1:])
    if regime is not None:
        text += f" ({regime})"
    if owner is not None and owner != company:
        text = f"{(names or {}).get(owner, owner)}: {text}"
    return text
