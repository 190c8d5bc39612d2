"""One colour per company, the same in every chart and every report.

One hue family per company kind (labs warm, neoclouds green, hyperscalers blue
and purple), its members far apart. Companies of the bundled priors have fixed
colours; any other company id gets a free colour of its kind's family picked
from its SHA-256 (not Python's salted ``hash``), so a company keeps its colour
from one quarter's report to the next.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

FAMILIES: dict[str, tuple[str, ...]] = {
    # one hue family per kind, members far apart in lightness and hue within the family
    "lab": ("#a50f15", "#f16913", "#6b3000", "#fdae6b", "#e7298a", "#cb181d", "#fd8d3c", "#8c2d04"),
    "neocloud": ("#00441b", "#31a354", "#9ebc31", "#006d5b", "#74c476", "#4d7f17", "#00a087", "#2d5016"),
    "hyperscaler": ("#08519c", "#6baed6", "#54278f", "#9e9ac8", "#17becf", "#2171b5", "#807dba", "#1c3d6e"),
}
"""Colours by company kind: labs warm (reds, oranges), neoclouds greens, hyperscalers blues and purples."""
PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173", "#3182bd",
    "#e6550d", "#31a354", "#756bb1", "#636363",
)
"""20 distinct colours for companies of an unknown kind (tab10 followed by darker tab20b/tab20c tones)."""

KNOWN: dict[str, str] = {
    "openai": FAMILIES["lab"][0],
    "anthropic": FAMILIES["lab"][1],
    "xai": FAMILIES["lab"][2],
    "mistral": FAMILIES["lab"][3],
    "cohere": FAMILIES["lab"][4],
    "coreweave": FAMILIES["neocloud"][0],
    "nebius": FAMILIES["neocloud"][1],
    "lambda": FAMILIES["neocloud"][2],
    "microsoft": FAMILIES["hyperscaler"][0],
    "alphabet": FAMILIES["hyperscaler"][1],
    "amazon": FAMILIES["hyperscaler"][2],
    "meta": FAMILIES["hyperscaler"][3],
    "oracle": FAMILIES["hyperscaler"][4],
}
"""Fixed colours of the companies in ``priors/baseline.toml`` (the first members of their kind's family)."""

BANDS: tuple[tuple[float, float, str, str], ...] = (
    (0.0, 0.05, "low", "#d9f0d3"),
    (0.05, 0.20, "elevated", "#fee8b0"),
    (0.20, 1.0 + 1e-12, "high", "#f4c7c3"),
)
"""Risk bands of the 8-quarter probability of leaving independence (default or acquisition):
(from, to, label, background colour)."""

REGIME_COLOURS: dict[str, str] = {"boom": "#4daf4a", "normal": "#9e9e9e", "winter": "#377eb8"}
NEUTRAL: str = "#4c72b0"


def company_colours(ids: Iterable[str], kinds: Mapping[str, str] | None = None) -> dict[str, str]:
    """Colour of every company id (hex), stable across reports, distinct within one.

    A company of a known kind (``kinds[id]``) takes a free colour of its kind's family, picked from the
    SHA-256 of its id; others, or when the family is used up, one of :data:`PALETTE`.
    """
    ids = list(dict.fromkeys(ids))
    kinds = kinds or {}
    colours = {cid: KNOWN[cid] for cid in ids if cid in KNOWN}
    taken = set(colours.values())
    for cid in sorted(c for c in ids if c not in KNOWN):
        start = int.from_bytes(hashlib.sha256(cid.encode()).digest()[:4], "big")
        family = [c for c in FAMILIES.get(kinds.get(cid, ""), ()) if c not in taken]
        pool = family or [c for c in PALETTE if c not in taken] or list(PALETTE)
        colours[cid] = pool[start % len(pool)]
        taken.add(colours[cid])
    return {cid: colours[cid] for cid in ids}


def band(p: float) -> str:
    """The band label (low, elevated, high) of a probability (of leaving independence, or of default)."""
    for lo, hi, label, _ in BANDS:
        if lo <= p < hi:
            return label
    return BANDS[-1][2]
