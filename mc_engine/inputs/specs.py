"""Pydantic models of the distribution forms a prior file may write, and their resolution to :class:`Dist`.

Each form is validated by its own strict model (``extra="forbid"``, finite
numbers, positive scales, ordered intervals). The loader chooses the model by
the table's ``dist`` key (or ``value`` / ``ci90`` sugar) and turns pydantic's
errors into :class:`~mc_engine.errors.Problem` lines that name the key.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .distributions import FAMILIES, Dist, ci90_dist

Finite = Annotated[float, Field(allow_inf_nan=False)]
PositiveFinite = Annotated[float, Field(gt=0, allow_inf_nan=False)]
META_KEYS: frozenset[str] = frozenset({"source", "as_of", "note", "unknown"})
"""Keys any value or table may carry besides its numbers."""


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    dist: str | None = None
    bounds: tuple[float, float] | None = None
    source: str | None = None
    as_of: dt.date | None = None
    note: str | None = None
    unknown: bool = False
    weight: float | None = None  # only meaningful inside a mixture; checked there

    @model_validator(mode="after")
    def _check_bounds(self) -> _Form:
        if self.bounds is not None:
            lo, hi = self.bounds
            if math.isnan(lo) or math.isnan(hi):
                raise ValueError("bounds must not be nan")
            if not lo < hi:
                raise ValueError(f"bounds = [{lo}, {hi}] need lo < hi")
        return self

    def params(self) -> tuple[float, ...]:
        raise NotImplementedError


class PointForm(_Form):
    value: Finite

    @model_validator(mode="after")
    def _inside_bounds(self) -> PointForm:
        if self.bounds is not None and not self.bounds[0] <= self.value <= self.bounds[1]:
            raise ValueError(f"value = {self.value:g} lies outside its own bounds = [{self.bounds[0]:g}, "
                             f"{self.bounds[1]:g}]")
        return self

    def params(self) -> tuple[float, ...]:
        return (self.value,)


class NormalForm(_Form):
    mean: Finite
    sd: PositiveFinite

    def params(self) -> tuple[float, ...]:
        return (self.mean, self.sd)


class LognormalForm(_Form):
    median: PositiveFinite | None = None
    mu: Finite | None = None
    sigma: PositiveFinite

    @model_validator(mode="after")
    def _one_location(self) -> LognormalForm:
        if (self.median is None) == (self.mu is None):
            raise ValueError("give exactly one of median (> 0) or mu (mean of ln x)")
        return self

    def params(self) -> tuple[float, ...]:
        mu = math.log(self.median) if self.median is not None else self.mu
        return (mu, self.sigma)


class BetaForm(_Form):
    alpha: PositiveFinite
    beta: PositiveFinite
    lo: Finite = 0.0
    hi: Finite = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> BetaForm:
        if not self.lo < self.hi:
            raise ValueError(f"lo = {self.lo} must be < hi = {self.hi}")
        return self

    def params(self) -> tuple[float, ...]:
        return (self.alpha, self.beta, self.lo, self.hi)


class UniformForm(_Form):
    lo: Finite
    hi: Finite

    @model_validator(mode="after")
    def _ordered(self) -> UniformForm:
        if not self.lo < self.hi:
            raise ValueError(f"lo = {self.lo} must be < hi = {self.hi}")
        return self

    def params(self) -> tuple[float, ...]:
        return (self.lo, self.hi)


class TriangularForm(_Form):
    lo: Finite
    mode: Finite
    hi: Finite

    @model_validator(mode="after")
    def _ordered(self) -> TriangularForm:
        if not self.lo < self.hi:
            raise ValueError(f"lo = {self.lo} must be < hi = {self.hi}")
        if not self.lo <= self.mode <= self.hi:
            raise ValueError(f"mode = {self.mode} must lie in [lo, hi] = [{self.lo}, {self.hi}]")
        return self

    def params(self) -> tuple[float, ...]:
        return (self.lo, self.mode, self.hi)


class PertForm(TriangularForm):
    lamb: PositiveFinite = 4.0

    def params(self) -> tuple[float, ...]:
        return (self.lo, self.mode, self.hi, self.lamb)


class Ci90Form(_Form):
    ci90: tuple[Finite, Finite]

    @model_validator(mode="after")
    def _ordered(self) -> Ci90Form:
        lo, hi = self.ci90
        if not lo < hi:
            raise ValueError(f"ci90 = [{lo}, {hi}] needs lo < hi")
        return self


class MixtureForm(_Form):
    components: list[dict[str, Any]] = Field(min_length=2)


FORMS: dict[str, type[_Form]] = {
    "point": PointForm,
    "normal": NormalForm,
    "lognormal": LognormalForm,
    "beta": BetaForm,
    "uniform": UniformForm,
    "triangular": TriangularForm,
    "pert": PertForm,
    "mixture": MixtureForm,
}
assert set(FORMS) == set(FAMILIES)

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


def _describe_pydantic(err: dict[str, Any], form: type[_Form], node: dict[str, Any]) -> tuple[str, str]:
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


def parse_form(node: object) -> _Form:
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
        if not isinstance(family, str) or family not in FORMS:
            raise FormError(
                [("dist", f"unknown distribution family {show_value(family)}; allowed: {', '.join(FAMILIES)}")]
            )
        form = FORMS[family]
    elif "ci90" in node:
        form = Ci90Form
    elif "value" in node:
        form = PointForm
    else:
        raise FormError([("", "expected a table with value, ci90 or dist = one of " + ", ".join(FAMILIES))])
    try:
        return form.model_validate(node)
    except ValidationError as exc:
        raise FormError([_describe_pydantic(e, form, node) for e in exc.errors()]) from None


def to_dist(form: _Form) -> Dist:
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
    family = next(name for name, cls in FORMS.items() if cls is type(form))
    return Dist(family, tuple(float(x) for x in form.params()), bounds)
