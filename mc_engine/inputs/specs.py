"""The forms a prior file may write for one value, and their resolution to :class:`Dist`.

Each form is validated by its own strict pydantic model (``extra="forbid"``, finite
numbers, positive scales, ordered intervals): a family's own model is its class's ``Form``
(:mod:`.families`); the ``ci90`` sugar's is here. The loader chooses the model by
the table's ``dist`` key (or ``value`` / ``ci90`` sugar) and turns pydantic's
errors into :class:`~mc_engine.errors.Problem` lines that name the key.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError, model_validator

from .distributions import Dist, ci90_dist
from .families import FAMILY, BaseForm, Finite, MixtureForm, PointForm, family_of_form

META_KEYS: frozenset[str] = frozenset({"source", "as_of", "note", "unknown"})
"""Keys any value or table may carry besides its numbers."""


class Ci90Form(BaseForm):
    ci90: tuple[Finite, Finite]

    @model_validator(mode="after")
    def _ordered(self) -> Ci90Form:
        lo, hi = self.ci90
        if not lo < hi:
            raise ValueError(f"ci90 = [{lo}, {hi}] needs lo < hi")
        return self


SPEC_KEYS: frozenset[str] = frozenset({"dist", "value", "ci90"})
"""A table holding any of these keys is one input (replaced whole by an override)."""


def is_spec(node: object) -> bool:
    """True if ``node`` is one value: a number or a table with ``value``, ``ci90`` or ``dist``."""
    if isinstance(node, bool):
        return False
    if isinstance(node, int | float):
        return True
    return isinstance(node, dict) and bool(SPEC_KEYS & node.keys())


def show_value(value: object, limit: int = 60) -> str:
    """``repr`` of a bad value for a message, shortened (a 400-digit integer need not fill the screen)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def _describe_pydantic(err: dict[str, Any], form: type[BaseForm], node: dict[str, Any]) -> tuple[str, str]:
    """(sub-key, message) for one pydantic error, in the project's words."""
    loc = [str(x) for x in err.get("loc", ())]
    sub = ".".join(loc)
    kind = err.get("type", "")
    given = err.get("input")
    if loc and loc[0] == "components" and (len(loc) == 1 or kind in ("too_short", "list_type")):
        return "components", f"must be a list of at least 2 tables, each with a weight (got {show_value(given)})"
    if loc[:1] == ["components"] and len(loc) == 2:
        return f"components[{loc[1]}]", f"must be a table with a weight and a value, ci90 or dist (got {show_value(given)})"
    if loc and loc[0] in ("bounds", "ci90") and kind == "missing":  # a list of one number
        loc, sub, kind, given = loc[:1], loc[0], "too_short", node.get(loc[0])
    if kind == "extra_forbidden":
        allowed = sorted(k for k in form.model_fields if k != "weight")
        return sub, f"unknown key '{loc[-1]}'; allowed here: {', '.join(allowed)}"
    if kind == "missing":
        return sub, f"missing key '{loc[-1]}'"
    if kind == "greater_than":
        return sub, f"must be > {err['ctx']['gt']:g} (got {show_value(given)})"
    if kind == "finite_number":
        return sub, f"must be a finite number (got {show_value(given)})"
    if kind in ("float_type", "float_parsing", "int_type", "int_parsing"):
        return sub, f"must be a number (got {show_value(given)})"
    if kind in ("tuple_type", "too_short", "too_long", "list_type"):
        return sub, f"must be a list [lo, hi] of two numbers (got {show_value(given)})"
    if kind in ("date_type", "date_parsing", "date_from_datetime_parsing"):
        return sub, f"must be a date like 2026-06-30 (got {show_value(given)})"
    if kind == "value_error":
        return sub, str(err.get("msg", "")).removeprefix("Value error, ")
    return sub, f"{err.get('msg', 'invalid')} (got {show_value(given)})"


class FormError(ValueError):
    """Problems in one value, as (sub-key, message) pairs relative to the value's key."""

    def __init__(self, items: list[tuple[str, str]]):
        self.items = items
        super().__init__("; ".join(f"{k}: {m}" if k else m for k, m in items))


def parse_form(node: object) -> BaseForm:
    """Validate one value's table (or bare number) into its form model.

    Raises:
        FormError: with sub-keys relative to the value.
    """
    if isinstance(node, bool) or not isinstance(node, int | float | dict):
        raise FormError([("", f"expected a number or a table with value, ci90 or dist (got {show_value(node)})")])
    if not isinstance(node, dict):
        node = {"value": node}
    if "dist" in node:
        family = node["dist"]
        if not isinstance(family, str) or family not in FAMILY:
            raise FormError(
                [("dist", f"unknown distribution family {show_value(family)}; allowed: {', '.join(FAMILY)}")]
            )
        form = FAMILY[family].Form
    elif "ci90" in node:
        form = Ci90Form
    elif "value" in node:
        form = PointForm
    else:
        raise FormError([("", "expected a table with value, ci90 or dist = one of " + ", ".join(FAMILY))])
    try:
        return form.model_validate(node)
    except ValidationError as exc:
        raise FormError([_describe_pydantic(e, form, node) for e in exc.errors()]) from None


def to_dist(form: BaseForm) -> Dist:
    """Resolve a validated form (with sugar) into a canonical :class:`Dist`."""
    bounds = form.bounds or (float("-inf"), float("inf"))
    if isinstance(form, Ci90Form):
        base = ci90_dist(*form.ci90)
        return Dist(base.family, base.params, bounds)
    if isinstance(form, MixtureForm):
        items: list[tuple[str, str]] = []
        weights: list[float] = []
        comps: list[Dist] = []
        for i, raw in enumerate(form.components):
            try:
                sub = parse_form(raw)
            except FormError as exc:
                items += [(f"components[{i}]" + (f".{k}" if k else ""), m) for k, m in exc.items]
                continue
            if isinstance(sub, MixtureForm):
                items.append((f"components[{i}]", "a mixture component cannot itself be a mixture"))
                continue
            if sub.weight is None or not (0.0 < sub.weight <= 1.0):
                items.append((f"components[{i}].weight", f"needs a weight in (0, 1] (got {sub.weight!r})"))
                continue
            weights.append(float(sub.weight))
            comps.append(to_dist(sub))
        if not items and abs(sum(weights) - 1.0) > 1e-6:
            items.append(("components", f"mixture weights sum to {sum(weights):.6g}; they must sum to 1"))
        if items:
            raise FormError(items)
        return Dist("mixture", (), bounds, tuple(weights), tuple(comps))
    return Dist(family_of_form(form), tuple(float(x) for x in form.params()), bounds)
