"""Declarations of model parameters: what a prior file may (and must) give.

Each model part (market, funding, each company kind) declares its parameters as
a tuple of :class:`ParamSpec`. The prior loader validates files against these
declarations, so adding a parameter is one line next to the equation that uses
it, and a typo in a prior file is an error that lists the allowed keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Domain = Literal["real", "positive", "nonneg", "prob", "unit_open"]
"""Allowed values: all reals, > 0, >= 0, [0, 1], or (0, 1)."""

DOMAIN_BOUNDS: dict[str, tuple[float, float, str]] = {
    "real": (float("-inf"), float("inf"), "any real number"),
    "positive": (0.0, float("inf"), "a number > 0"),
    "nonneg": (0.0, float("inf"), "a number >= 0"),
    "prob": (0.0, 1.0, "a probability in [0, 1]"),
    "unit_open": (0.0, 1.0, "a number strictly between 0 and 1"),
}


@dataclass(frozen=True)
class ParamSpec:
    """One model parameter as it appears in a prior file.

    Attributes:
        name: key in the prior file.
        units: physical units, e.g. ``"USD bn/yr"``, ``"1/yr"``, ``"quarters"``, ``"1"``.
        domain: allowed values (see :data:`Domain`).
        doc: one line saying what it is and where it enters the model.
        per_regime: True when the value is given per market regime
            (``{ boom = ..., normal = ..., winter = ... }``).
        schedule: True when the value is a list of numbers by year from ``as_of``
            (deterministic, not a distribution).
        minimum: least value every draw must reach beyond the domain (a duration the model turns into a
            share per quarter, ``dt / x``, must be at least one quarter), or None.
        minimum_why: what goes wrong below ``minimum``, for the loader's error message.
        maximum: greatest value any draw may reach beyond the domain, or None; maximum_why: as minimum_why.
        label: a short readable name for charts and tables (``"minimum gap between rounds"``); when empty,
            :attr:`display_label` derives one from ``name``.
    """

    name: str
    units: str
    domain: Domain
    doc: str
    per_regime: bool = False
    schedule: bool = False
    minimum: float | None = None
    minimum_why: str = ""
    maximum: float | None = None
    maximum_why: str = ""
    label: str = ""

    @property
    def display_label(self) -> str:
        """``label``, or a readable form of ``name`` (``min_gap_q`` -> ``min gap (quarters)``)."""
        return self.label or readable_name(self.name)


_WORDS: dict[str, str] = {
    "prob": "probability", "vol": "volatility", "inf": "long-run", "gpu": "GPU", "ai": "AI", "fcf": "FCF",
    "tau": "time constant", "capex": "capex", "opex": "opex", "algo": "algorithmic", "min": "min", "max": "max",
    "q": "(quarters)", "sigma": "spread", "cut": "cut", "mean": "mean",
}
_SUFFIX0 = " at as_of"


def readable_name(name: str) -> str:
    """A readable label derived from a parameter key: words split, abbreviations spelled out."""
    initial = name.endswith("0") and not name[:-1].endswith("_")
    words = (name[:-1] if initial else name).split("_")
    text = " ".join(_WORDS.get(w, w) for w in words if w)
    return (text + _SUFFIX0) if initial else text


REGIMES: tuple[str, ...] = ("boom", "normal", "winter")
"""Market regimes, in the order used by every array with a regime axis."""
