"""One colour per company, the same in every chart and every report.

Companies of the bundled priors have fixed colours; any other company id gets a
colour picked from its SHA-256 (not Python's salted ``hash``), so a company
keeps its colour from one quarter's report to the next. Two unknown ids that
land on a colour already taken in the same report move on to the next free one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173", "#3182bd",
    "#e6550d", "#31a354", "#756bb1", "#636363",
)
"""20 distinct colours (tab10 followed by darker tab20b/tab20c tones)."""

KNOWN: dict[str, str] = {
    "openai": "#10a37f",
    "anthropic": "#d97757",
    "xai": "#222222",
    "mistral": "#ff7000",
    "cohere": "#7b4173",
    "coreweave": "#1f4fd1",
    "nebius": "#17becf",
    "lambda": "#8c564b",
    "microsoft": "#00a4ef",
    "alphabet": "#34a853",
    "amazon": "#ff9900",
    "meta": "#0866ff",
    "oracle": "#c74634",
}
"""Fixed colours of the companies in ``priors/baseline.toml``."""

BANDS: tuple[tuple[float, float, str, str], ...] = (
    (0.0, 0.05, "low", "#d9f0d3"),
    (0.05, 0.20, "elevated", "#fee8b0"),
    (0.20, 1.0 + 1e-12, "high", "#f4c7c3"),
)
"""Risk bands of the 8-quarter default probability: (from, to, label, background colour)."""

REGIME_COLOURS: dict[str, str] = {"boom": "#4daf4a", "normal": "#9e9e9e", "winter": "#377eb8"}
NEUTRAL: str = "#4c72b0"


def company_colours(ids: Iterable[str]) -> dict[str, str]:
    """Colour of every company id (hex), stable across reports, distinct within one."""
    ids = list(ids)
    colours = {cid: KNOWN[cid] for cid in ids if cid in KNOWN}
    taken = set(colours.values())
    for cid in sorted(c for c in ids if c not in KNOWN):
        start = int.from_bytes(hashlib.sha256(cid.encode()).digest()[:4], "big") % len(PALETTE)
        for step in range(len(PALETTE)):
            colour = PALETTE[(start + step) % len(PALETTE)]
            if colour not in taken:
                break
        colours[cid] = colour
        taken.add(colour)
    return {cid: colours[cid] for cid in ids}


def band(p: float) -> str:
    """The band label (low, elevated, high) of a default probability."""
    for lo, hi, label, _ in BANDS:
        if lo <= p < hi:
            return label
    return BANDS[-1][2]
