"""Distribution families, one class each: everything the engine knows about a family in one place.

A family's class holds its prior-file form (a pydantic model, ``Form``), its parameter names, support,
moments, float32 reach, and its quantile function, CDF and bracket (in numpyro's manner: one class per
distribution). This layer is host-only: the array methods (``cdf``, ``ppf``, ``bracket``, ``from_normal``) are
written against an array namespace ``xp`` that the engine passes in (:data:`mc_engine.engine.ppf.XP`: JAX with
its special functions), so nothing here imports JAX. A new family is one subclass marked :func:`register`;
the loader, the checks, the sampler and the quantile functions find it in :data:`FAMILY`
(``tests/test_families.py`` adds one that way). A mixture is a combinator of families, not a family with
parameters of its own: the functions that take a whole ``Dist`` (``support``, ``ppf``, ``cdf``, moments, reach)
handle it.

``xp`` provides: ``asarray``, ``exp``, ``log``, ``log1p``, ``sqrt``, ``where``, ``clip``, ``full_like``, ``zeros``,
``ones`` (as ``jax.numpy``), ``ndtr``, ``ndtri`` (the standard-normal CDF and its inverse), ``betainc(a, b, x)``
(regularised incomplete beta), ``invert_monotone(cdf, u, lo, hi)`` (bisection on float bit patterns) and
``safe_div(num, den)`` (``num / den`` where ``den > 0``, else 0).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

Finite = Annotated[float, Field(allow_inf_nan=False)]
PositiveFinite = Annotated[float, Field(gt=0, allow_inf_nan=False)]

Z_REACH = 8.0
"""Normal scores the sampler may reach (float32 normals stay within about 5.5; a copula mixes several)."""
U_EDGE = 2.0**-24
"""Smallest probability the float32 quantile function is evaluated at (it clips u to [2**-24, 1 - 2**-24])."""
F32_ROUNDING = 2.0**-22
"""Rounding error of a float32 quantile formula, relative to the magnitudes it adds (two ulps)."""


# ---------------------------------------------------------------------------
# Prior-file forms: the table a prior file writes for one value


class BaseForm(BaseModel):
    """Keys every value's table may carry besides its family's numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    dist: str | None = None
    bounds: tuple[float, float] | None = None
    source: str | None = None
    as_of: dt.date | None = None
    note: str | None = None
    unknown: bool = False
    weight: float | None = None  # only meaningful inside a mixture; checked there

    @model_validator(mode="after")
    def _check_bounds(self) -> BaseForm:
        if self.bounds is not None:
            lo, hi = self.bounds
            if math.isnan(lo) or math.isnan(hi):
                raise ValueError("bounds must not be nan")
            if not lo < hi:
                raise ValueError(f"bounds = [{lo}, {hi}] need lo < hi")
        return self

    def params(self) -> tuple[float, ...]:
        """The family's numbers in the order of its ``params`` names."""
        raise NotImplementedError


def _ordered(lo: float, hi: float) -> None:
    if not lo < hi:
        raise ValueError(f"lo = {lo} must be < hi = {hi}")


# ---------------------------------------------------------------------------
# The base class and the registry


class Family:
    """One distribution family. ``p`` below is the family's numbers in the order of ``params``: floats on the host,
    scalar arrays in the array methods."""

    name: ClassVar[str]
    params: ClassVar[tuple[str, ...]]
    Form: ClassVar[type[BaseForm]]
    closed_form: ClassVar[bool] = False
    """The quantile function is cheap per draw: the sampler evaluates it per path (when untruncated) instead of
    interpolating a table over normal scores."""
    truncatable: ClassVar[bool] = True
    """Bounds truncate it (a point value is never truncated)."""
    scales: ClassVar[tuple[str, ...]] = ()
    """Its parameters that set a spread: float32 must not round them to (or near) 0. A family whose numbers
    include ``lo`` and ``hi`` has its width checked too."""

    def support(self, p: Sequence[float]) -> tuple[float, float]:
        """Interval the untruncated family's values can take."""
        raise NotImplementedError

    def within(self, p: Sequence[float], bounds: tuple[float, float]) -> tuple[float, float]:
        """The support within ``bounds``."""
        lo, hi = self.support(p)
        return float(max(lo, bounds[0])), float(min(hi, bounds[1]))

    def moments(self, p: Sequence[float], bounds: tuple[float, float]) -> tuple[float, float] | None:
        """``E[X]``, ``E[X^2]`` truncated to ``bounds`` in closed form, or None where there is none (the caller then
        integrates the quantile function)."""
        return None

    def _cut(self, p: Sequence[float], bounds: tuple[float, float]) -> bool:
        """Whether ``bounds`` cut into the support (closed-form moments of a bounded family then do not apply)."""
        lo, hi = self.support(p)
        return bounds[0] > lo or bounds[1] < hi

    def reach(self, p: Sequence[float]) -> tuple[float, float, float]:
        """``(lo, hi, slack)``: the extreme values the float32 sampler draws (a float64 estimate, untruncated) and
        the magnitudes its formula adds, which set its float32 rounding (``F32_ROUNDING * slack``)."""
        raise NotImplementedError

    def reach_within(self, p: Sequence[float], bounds: tuple[float, float]) -> tuple[float, float]:
        """The float32 reach widened by its rounding, then clipped to ``bounds`` (clipping is exact)."""
        lo, hi, slack = self.reach(p)
        margin = F32_ROUNDING * slack
        return max(lo - margin, bounds[0]), min(hi + margin, bounds[1])

    def cdf(self, p: Sequence[Any], x: Any, xp: Any) -> Any:
        """CDF of the untruncated family at ``x`` (any shape)."""
        raise ValueError(f"no CDF for family {self.name!r}")

    def ppf(self, p: Sequence[Any], u: Any, xp: Any) -> Any:
        """Quantile function of the untruncated family, ``u`` in (0, 1), any shape."""
        raise ValueError(f"no quantile function for family {self.name!r}")

    def bracket(self, p: Sequence[Any], tiny: float, xp: Any) -> tuple[Any, Any]:
        """Scalars ``(lo, hi)`` holding all but a negligible part of the mass (a mixture bisects between its
        components' brackets): the support where bounded, else the quantiles at ``tiny**2`` and ``1 - tiny**2``."""
        raise ValueError(f"mixture components cannot be of family {self.name!r}")

    def from_normal(self, p: Sequence[Any], z: Any, xp: Any) -> Any | None:
        """Values from standard-normal scores ``z`` without the round trip through probabilities, or None where
        the family has no such map (the caller then takes ``ppf(Phi(z))``). Untruncated only."""
        return None


FAMILY: dict[str, Family] = {}
"""Every registered family by name, in registration order (the prior file's ``dist = "..."``)."""


def register(cls: type[Family]) -> type[Family]:
    """Class decorator: add a family to :data:`FAMILY` (its ``name`` must be new)."""
    if cls.name in FAMILY:
        raise ValueError(f"a distribution family named {cls.name!r} is registered already")
    FAMILY[cls.name] = cls()
    return cls


def unregister(name: str) -> None:
    """Remove a family registered with :func:`register` (tests that plug one in clean up with it)."""
    del FAMILY[name]


def family_of_form(form: BaseForm) -> str:
    """The name of the family whose ``Form`` validated ``form``."""
    return next(name for name, fam in FAMILY.items() if fam.Form is type(form))


# ---------------------------------------------------------------------------
# Helpers shared by several families


def _exp(x: float) -> float:
    return math.exp(x) if x < 709.0 else math.inf


def _norm_cdf(t: float) -> float:
    return 0.5 * math.erfc(-t / math.sqrt(2.0))


def _norm_pdf(t: float) -> float:
    return math.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi) if math.isfinite(t) else 0.0


def _beta_reach(a: float, b: float) -> tuple[float, float]:
    """Extreme float32 draws of Beta(a, b) on [0, 1], from the tails ``I_y(a, b) ~ y**a / (a B(a, b))``."""
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    low = _exp((math.log(U_EDGE) + math.log(a) + log_beta) / a)
    gap = _exp((math.log(U_EDGE) + math.log(b) + log_beta) / b)
    return min(low, 1.0), max(1.0 - gap, 0.0)


# ---------------------------------------------------------------------------
# The families


class PointForm(BaseForm):
    value: Finite

    @model_validator(mode="after")
    def _inside_bounds(self) -> PointForm:
        if self.bounds is not None and not self.bounds[0] <= self.value <= self.bounds[1]:
            raise ValueError(f"value = {self.value:g} lies outside its own bounds = [{self.bounds[0]:g}, "
                             f"{self.bounds[1]:g}]")
        return self

    def params(self) -> tuple[float, ...]:
        return (self.value,)


@register
class Point(Family):
    """A known number (``value = x`` or a bare number)."""

    name = "point"
    params = ("value",)
    Form = PointForm
    truncatable = False

    def support(self, p):
        return float(p[0]), float(p[0])

    def within(self, p, bounds):
        return self.support(p)

    def moments(self, p, bounds):
        return float(p[0]), float(p[0]) ** 2

    def reach_within(self, p, bounds):
        return p[0], p[0]

    def cdf(self, p, x, xp):
        return (x >= p[0]).astype(x.dtype)

    def ppf(self, p, u, xp):
        return xp.full_like(u, p[0])

    def bracket(self, p, tiny, xp):
        return p[0], p[0]


class NormalForm(BaseForm):
    mean: Finite
    sd: PositiveFinite

    def params(self) -> tuple[float, ...]:
        return (self.mean, self.sd)


@register
class Normal(Family):
    name = "normal"
    params = ("mean", "sd")
    Form = NormalForm
    closed_form = True
    scales = ("sd",)

    def support(self, p):
        return -math.inf, math.inf

    def moments(self, p, bounds):
        mean, sd = p
        a, b = (bounds[0] - mean) / sd, (bounds[1] - mean) / sd
        mass = _norm_cdf(b) - _norm_cdf(a)
        dphi = _norm_pdf(a) - _norm_pdf(b)
        t_phi = (b * _norm_pdf(b) if math.isfinite(b) else 0.0) - (a * _norm_pdf(a) if math.isfinite(a) else 0.0)
        ez = dphi / mass
        ez2 = 1.0 - t_phi / mass
        return mean + sd * ez, mean * mean + 2 * mean * sd * ez + sd * sd * ez2

    def reach(self, p):
        return p[0] - Z_REACH * p[1], p[0] + Z_REACH * p[1], abs(p[0]) + Z_REACH * p[1]

    def cdf(self, p, x, xp):
        return xp.ndtr((x - p[0]) / p[1])

    def ppf(self, p, u, xp):
        return p[0] + p[1] * xp.ndtri(u)

    def bracket(self, p, tiny, xp):
        z = xp.ndtri(xp.asarray(tiny * tiny, p[0].dtype))  # about -7.8 in float32
        return p[0] + p[1] * z, p[0] - p[1] * z

    def from_normal(self, p, z, xp):
        return p[0] + p[1] * z


class LognormalForm(BaseForm):
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


@register
class Lognormal(Family):
    """``ln x`` normal with mean ``mu`` and sd ``sigma`` (a prior file may give ``median = exp(mu)`` instead)."""

    name = "lognormal"
    params = ("mu", "sigma")
    Form = LognormalForm
    closed_form = True
    scales = ("sigma",)

    def support(self, p):
        return 0.0, math.inf

    def moments(self, p, bounds):
        mu, sigma = p
        log_lo = math.log(bounds[0]) if bounds[0] > 0 else -math.inf
        log_hi = math.log(bounds[1]) if bounds[1] > 0 else -math.inf

        def partial(k: int) -> float:
            shift = mu + k * sigma * sigma
            return math.exp(k * mu + 0.5 * (k * sigma) ** 2) * (
                _norm_cdf((log_hi - shift) / sigma) - _norm_cdf((log_lo - shift) / sigma)
            )

        mass = _norm_cdf((log_hi - mu) / sigma) - _norm_cdf((log_lo - mu) / sigma)
        return partial(1) / mass, partial(2) / mass

    def reach(self, p):
        # exp() rounds relative to its value: the ends keep their sign, so the rounding is applied here
        lo, hi = _exp(p[0] - Z_REACH * p[1]), _exp(p[0] + Z_REACH * p[1])
        return lo * (1 - F32_ROUNDING * (1 + abs(p[0]) + Z_REACH * p[1])), hi * (1 + F32_ROUNDING), 0.0

    def cdf(self, p, x, xp):
        positive = x > 0
        log_x = xp.log(xp.where(positive, x, 1.0))
        return xp.where(positive, xp.ndtr((log_x - p[0]) / p[1]), 0.0)

    def ppf(self, p, u, xp):
        return xp.exp(p[0] + p[1] * xp.ndtri(u))

    def bracket(self, p, tiny, xp):
        lo, hi = FAMILY["normal"].bracket(p, tiny, xp)
        return xp.exp(lo), xp.exp(hi)

    def from_normal(self, p, z, xp):
        return xp.exp(p[0] + p[1] * z)


class _BetaLike(Family):
    """A beta distribution on ``[lo, hi]``, however its shape is given (:meth:`beta_form`)."""

    def beta_form(self, p: Sequence[Any]) -> tuple[Any, Any, Any, Any]:
        """``(alpha, beta, lo, hi)``: plain arithmetic, so the same formula serves floats and arrays."""
        raise NotImplementedError

    def moments(self, p, bounds):
        if self._cut(p, bounds):
            return None
        alpha, beta, lo, hi = self.beta_form(p)
        total = alpha + beta
        mean = lo + (hi - lo) * alpha / total
        var = (hi - lo) ** 2 * alpha * beta / (total * total * (total + 1.0))
        return mean, var + mean * mean

    def reach(self, p):
        a, b, start, end = self.beta_form(p)
        y_lo, y_hi = _beta_reach(a, b)
        return start + (end - start) * y_lo, start + (end - start) * y_hi, abs(start) + abs(end)

    def cdf(self, p, x, xp):
        alpha, beta, lo, hi = self.beta_form(p)
        return xp.betainc(alpha, beta, xp.clip((x - lo) / (hi - lo), 0.0, 1.0))

    def ppf(self, p, u, xp):
        alpha, beta, lo, hi = self.beta_form(p)
        zero, one = xp.zeros((), u.dtype), xp.ones((), u.dtype)
        y = xp.invert_monotone(lambda y: xp.betainc(alpha, beta, y), u, zero, one)
        return lo + (hi - lo) * y

    def bracket(self, p, tiny, xp):
        return self.support(p)


class BetaForm(BaseForm):
    alpha: PositiveFinite
    beta: PositiveFinite
    lo: Finite = 0.0
    hi: Finite = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> BetaForm:
        _ordered(self.lo, self.hi)
        return self

    def params(self) -> tuple[float, ...]:
        return (self.alpha, self.beta, self.lo, self.hi)


@register
class Beta(_BetaLike):
    """Beta(alpha, beta) scaled to ``[lo, hi]`` (default [0, 1])."""

    name = "beta"
    params = ("alpha", "beta", "lo", "hi")
    Form = BetaForm
    scales = ("alpha", "beta")

    def beta_form(self, p):
        return tuple(p)

    def support(self, p):
        return p[2], p[3]


class UniformForm(BaseForm):
    lo: Finite
    hi: Finite

    @model_validator(mode="after")
    def _ordered(self) -> UniformForm:
        _ordered(self.lo, self.hi)
        return self

    def params(self) -> tuple[float, ...]:
        return (self.lo, self.hi)


@register
class Uniform(Family):
    name = "uniform"
    params = ("lo", "hi")
    Form = UniformForm
    closed_form = True

    def support(self, p):
        return p[0], p[1]

    def moments(self, p, bounds):
        if self._cut(p, bounds):
            return None
        lo, hi = p
        mean, var = 0.5 * (lo + hi), (hi - lo) ** 2 / 12.0
        return mean, var + mean * mean

    def reach(self, p):
        return p[0] + U_EDGE * (p[1] - p[0]), p[1] - U_EDGE * (p[1] - p[0]), abs(p[0]) + abs(p[1])

    def cdf(self, p, x, xp):
        return xp.clip((x - p[0]) / (p[1] - p[0]), 0.0, 1.0)

    def ppf(self, p, u, xp):
        return p[0] + u * (p[1] - p[0])

    def bracket(self, p, tiny, xp):
        return p[0], p[1]


class TriangularForm(BaseForm):
    lo: Finite
    mode: Finite
    hi: Finite

    @model_validator(mode="after")
    def _ordered(self) -> TriangularForm:
        _ordered(self.lo, self.hi)
        if not self.lo <= self.mode <= self.hi:
            raise ValueError(f"mode = {self.mode} must lie in [lo, hi] = [{self.lo}, {self.hi}]")
        return self

    def params(self) -> tuple[float, ...]:
        return (self.lo, self.mode, self.hi)


@register
class Triangular(Family):
    name = "triangular"
    params = ("lo", "mode", "hi")
    Form = TriangularForm
    closed_form = True

    def support(self, p):
        return p[0], p[2]

    def moments(self, p, bounds):
        if self._cut(p, bounds):
            return None
        lo, mode, hi = p
        mean = (lo + mode + hi) / 3.0
        var = (lo * lo + mode * mode + hi * hi - lo * mode - lo * hi - mode * hi) / 18.0
        return mean, var + mean * mean

    def reach(self, p):
        width = p[2] - p[0]  # a mode at an end reaches the end
        lo = p[0] + math.sqrt(U_EDGE * width * (p[1] - p[0])) if p[1] > p[0] else p[0]
        hi = p[2] - math.sqrt(U_EDGE * width * (p[2] - p[1])) if p[2] > p[1] else p[2]
        return lo, hi, abs(p[0]) + abs(p[2]) + width

    def cdf(self, p, x, xp):
        lo, mode, hi = p
        xc = xp.clip(x, lo, hi)
        left = xp.safe_div((xc - lo) ** 2, (hi - lo) * (mode - lo))
        right = 1.0 - xp.safe_div((hi - xc) ** 2, (hi - lo) * (hi - mode))
        return xp.clip(xp.where(xc < mode, left, right), 0.0, 1.0)

    def ppf(self, p, u, xp):
        lo, mode, hi = p
        width = hi - lo
        left = lo + xp.sqrt(u * width * (mode - lo))
        right = hi - xp.sqrt((1.0 - u) * width * (hi - mode))
        return xp.where(u * width < mode - lo, left, right)

    def bracket(self, p, tiny, xp):
        return p[0], p[2]


class PertForm(TriangularForm):
    lamb: PositiveFinite = 4.0

    def params(self) -> tuple[float, ...]:
        return (self.lo, self.mode, self.hi, self.lamb)


@register
class Pert(_BetaLike):
    """Beta-PERT from a minimum, mode and maximum; ``lamb = 4`` is the classic."""

    name = "pert"
    params = ("lo", "mode", "hi", "lamb")
    Form = PertForm
    scales = ("lamb",)

    def beta_form(self, p):
        lo, mode, hi, lamb = p
        return 1.0 + lamb * (mode - lo) / (hi - lo), 1.0 + lamb * (hi - mode) / (hi - lo), lo, hi

    def support(self, p):
        return p[0], p[2]


class MixtureForm(BaseForm):
    components: list[dict[str, Any]] = Field(min_length=2)


@register
class Mixture(Family):
    """Weighted components (each a family with its own bounds); handled by the functions that take a whole Dist."""

    name = "mixture"
    params = ()
    Form = MixtureForm
