"""Float32 reach: every prior number and every draw must stay where the float32 simulation can hold it."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .._paramspec import DOMAIN_BOUNDS, ParamSpec
from .distributions import Dist, support
from .families import FAMILY

F32_LIMIT = 1e15
"""Largest magnitude of any prior number or draw. The simulation runs in float32 (largest 3.4e38) and
squares and multiplies inputs (a triangular quantile squares its width): 1e15 (USD 1e24 in USD bn) keeps
every such product finite, far above any real figure."""
F32_TINY = 1e-15
"""Smallest draw of a ``positive`` parameter: its reciprocal (durations divide) stays below F32_LIMIT."""
UNIT_GAP = 1e-6
"""Least distance of a ``unit_open`` draw from 0 and 1: float32 steps by 6e-8 just below 1, and logit(u)
of the utilisation must stay finite."""


def _reach(dist: Dist) -> tuple[float, float]:
    """The smallest and largest values the float32 sampler can draw from ``dist`` (a float64 estimate).

    Each family's ``reach`` (:mod:`.families`): normal and lognormal reach ``Z_REACH`` sd; bounded families
    their quantiles at ``U_EDGE`` (a triangular with its mode at an end reaches the end). Each end is widened
    by the float32 rounding of the family's formula (``F32_ROUNDING`` times the magnitudes it adds:
    ``hi - sqrt(...)`` of a wide triangular can land far below ``lo``), then clipped to the bounds (clipping
    is exact). A mixture reaches its components' extremes.
    """
    if dist.family != "mixture":
        return FAMILY[dist.family].reach_within(dist.params, dist.bounds)
    ends = [_reach(c) for c in dist.components]
    return max(min(e[0] for e in ends), dist.bounds[0]), min(max(e[1] for e in ends), dist.bounds[1])


def _too_narrow(dist: Dist) -> str | None:
    """A scale or width float32 would round to (or near) 0, making the CDF 0 / 0, if any."""
    family = FAMILY[dist.family]
    names = dict(zip(family.params, dist.params, strict=True))
    for scale in family.scales:
        if names[scale] < F32_TINY:
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
