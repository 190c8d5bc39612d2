"""Probability distributions of scenario inputs: the validated, frozen :class:`Dist` and its flat layout (host-side).

A prior file's sugar (``ci90``, bare numbers) is resolved by the loader into a
:class:`Dist`, a frozen, canonical description. Its JAX quantile functions live in
:mod:`mc_engine.engine.ppf`; parameter numbers reach them as an array
``theta = flat_params(dist)``, and only the family structure (:func:`structure`:
families, nesting, which bounds are infinite) is static there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .families import FAMILY

FAMILIES: tuple[str, ...] = tuple(FAMILY)
"""The built-in distribution families a prior file may name with ``dist = "..."`` (:mod:`.families`, one class
each; :data:`~.families.FAMILY` also holds any registered later)."""


@dataclass(frozen=True)
class Dist:
    """A validated distribution.

    Attributes:
        family: a name in :data:`~.families.FAMILY`.
        params: numbers in the order of the family's ``params`` names.
        bounds: truncation interval ``(lo, hi)``; ``(-inf, inf)`` means none.
        weights: mixture weights (sum to 1), empty unless family is ``"mixture"``.
        components: mixture components, empty unless family is ``"mixture"``.
    """

    family: str
    params: tuple[float, ...] = ()
    bounds: tuple[float, float] = (float("-inf"), float("inf"))
    weights: tuple[float, ...] = ()
    components: tuple[Dist, ...] = field(default=())


# ---------------------------------------------------------------------------
# Flat parameter layout


def flat_params(dist: Dist) -> tuple[float, ...]:
    """Every number of ``dist`` in the layout that :func:`mc_engine.engine.ppf.ppf` reads from ``theta``.

    Layout: ``params``, then ``bounds`` (lo, hi), then for a mixture its
    ``weights`` and each component's flat parameters, recursively.

    Returns:
        a tuple of ``n_flat(dist)`` floats (infinite bounds stay infinite).
    """
    out = [*dist.params, *dist.bounds]
    if dist.family == "mixture":
        out.extend(dist.weights)
        for component in dist.components:
            out.extend(flat_params(component))
    return tuple(float(v) for v in out)


def n_flat(dist: Dist) -> int:
    """Length of :func:`flat_params` of ``dist``; depends only on its structure."""
    n = len(dist.params) + 2
    if dist.family == "mixture":
        n += len(dist.weights) + sum(n_flat(c) for c in dist.components)
    return n


def structure(dist: Dist) -> Dist:
    """``dist`` with every finite number replaced by 0.0: what the jitted code depends on.

    ``ppf``, ``cdf`` and ``ppf_from_normal`` (:mod:`mc_engine.engine.ppf`) read only the family
    tree and which bounds are infinite from their ``dist`` argument; the numbers
    come from ``theta``. Two dists with equal ``structure`` therefore share one
    compiled program when ``dist`` is a static argument.
    """

    def zero(v: float) -> float:
        return v if math.isinf(v) else 0.0

    return Dist(
        family=dist.family,
        params=tuple(0.0 for _ in dist.params),
        bounds=(zero(dist.bounds[0]), zero(dist.bounds[1])),
        weights=tuple(0.0 for _ in dist.weights),
        components=tuple(structure(c) for c in dist.components),
    )



# ---------------------------------------------------------------------------
# Support and shorthand


def support(dist: Dist) -> tuple[float, float]:
    """Interval ``(lo, hi)`` the values can take: the family's support within the bounds."""
    if dist.family == "mixture":
        ends = [support(c) for c in dist.components]
        lo, hi = min(e[0] for e in ends), max(e[1] for e in ends)
        return float(max(lo, dist.bounds[0])), float(min(hi, dist.bounds[1]))
    return FAMILY[dist.family].within(dist.params, dist.bounds)


_Z90 = 1.6448536269514722
"""Standard-normal 95 % quantile: a central 90 % interval is +-_Z90 sd wide."""


def ci90_dist(lo: float, hi: float) -> Dist:
    """The distribution whose central 90 % interval is ``[lo, hi]``.

    Lognormal when both ends are > 0 (mu = mean of the logs, sigma = ln(hi/lo) /
    (2 * 1.645)), normal otherwise (mean = midpoint, sd = (hi - lo) / (2 * 1.645)).
    """
    if lo > 0 and hi > 0:
        log_lo, log_hi = math.log(lo), math.log(hi)
        return Dist("lognormal", (0.5 * (log_lo + log_hi), (log_hi - log_lo) / (2 * _Z90)))
    return Dist("normal", (0.5 * (lo + hi), (hi - lo) / (2 * _Z90)))
