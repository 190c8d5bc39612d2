"""Sections that compare runs which are not successive quarters: a scenario against a baseline, sweep points.

A comparison says how two sets of assumptions differ in outcome, at the same
``as_of``; it is not a change over time, so it has no attribution to changed
starting data (see :mod:`.attribution` for the quarter-over-quarter case).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..output.plausibility import check
from ..output.standard_errors import binomial_se
from . import charts
from .palette import band
from .sections import Chart, Section, Table, _names, pct, plausibility_table, pp


def _leave(ds: xr.Dataset, cid: str, quarter: int) -> tuple[float, float]:
    q = min(quarter, ds.sizes["quarter"]) - 1
    p = float(ds.default_prob.sel(company=cid).isel(quarter=q) + ds.acquired_prob.sel(company=cid).isel(quarter=q))
    n = float(ds.attrs.get("n_paths", 0)) or float("nan")
    if "paths_used" in ds:
        n = float(ds.paths_used)
    return p, float(binomial_se(min(max(p, 0.0), 1.0), n))


def comparison_section(ds: xr.Dataset, other: xr.Dataset, quarter: int, colours: Mapping[str, str], run_name: str,
                       other_name: str) -> Section:
    """This run against another (a scenario against the baseline, say): per company, the probabilities of
    leaving independence, default and acquisition in both, and their difference."""
    section = Section("comparison", custom_title=f"Comparison with {other_name}")
    section.blocks.append(
        f"This run ({run_name}, priors '{ds.attrs.get('priors_name')}', as of {ds.attrs.get('as_of')}) against "
        f"{other_name} (priors '{other.attrs.get('priors_name')}', as of {other.attrs.get('as_of')}). Both are "
        "independent simulations; a difference is the effect of the changed assumptions plus Monte Carlo noise, "
        "whose size the ± (standard error of the difference) gives. This is a comparison of assumptions, not a "
        "change over time: there is no attribution to changed priors or starting data.")
    names = _names(ds)
    shared = [str(c) for c in ds.company.values if c in other.company.values]
    rows, table = [], []
    for cid in shared:
        a, a_se = _leave(ds, cid, quarter)
        b, b_se = _leave(other, cid, quarter)
        q = min(quarter, ds.sizes["quarter"]) - 1
        qo = min(quarter, other.sizes["quarter"]) - 1
        da = float(ds.default_prob.sel(company=cid).isel(quarter=q))
        db = float(other.default_prob.sel(company=cid).isel(quarter=qo))
        rows.append({"company": cid, "name": names[cid], "this": a, "other": b, "se": math.hypot(a_se, b_se)})
        table.append([names[cid], pct(b), pct(a), pp(a - b, math.hypot(a_se, b_se)), pct(db), pct(da),
                      band(b), band(a)])
    section.blocks.append(Table(
        ["company", f"leaves {quarter}q: {other_name}", f"leaves {quarter}q: {run_name}", "difference",
         f"default {quarter}q: {other_name}", f"default {quarter}q: {run_name}", f"band: {other_name}",
         f"band: {run_name}"], table,
        f"Probability of leaving independence within {quarter} quarters in both runs",
        [["", "", "", "", "", "", f"band-{r[6]}", f"band-{r[7]}"] for r in table]))
    section.blocks.append(Chart(dumbbell(rows, colours, quarter, run_name, other_name),
                                f"{other_name} (open circle) and {run_name} (filled); 95 % Monte Carlo interval of "
                                "the difference as a whisker on the filled marker."))
    only = sorted(set(map(str, ds.company.values)) ^ set(map(str, other.company.values)))
    if only:
        section.blocks.append(f"Companies in only one of the two runs (not compared): {', '.join(only)}.")
    return section


def dumbbell(rows: Sequence[Mapping[str, Any]], colours: Mapping[str, str], quarter: int, run_name: str,
             other_name: str) -> Figure:
    """Per company, the other run's probability (open) joined to this run's (filled), in %."""
    fig = Figure(figsize=(charts.WIDTH, 0.42 * max(len(rows), 1) + 2.0), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    for yi, r in zip(y, rows, strict=True):
        c = colours[r["company"]]
        ax.plot([r["other"] * 100, r["this"] * 100], [yi, yi], color=c, linewidth=1.5)
        ax.plot(r["other"] * 100, yi, "o", markerfacecolor="white", markeredgecolor=c, markersize=7)
        ax.errorbar(r["this"] * 100, yi, xerr=1.96 * r["se"] * 100, fmt="o", color=c, ecolor="#333333",
                    elinewidth=1, capsize=3, markersize=7)
    ax.set_yticks(y, [r["name"] for r in rows])
    ax.set_xlim(left=0)
    ax.set_xlabel(f"probability of leaving independence within {quarter} quarters (%)")
    ax.grid(alpha=0.3, axis="x")
    ax.set_title(f"{run_name} against {other_name}", fontsize=13, fontweight="bold")
    fig.legend(handles=[Line2D([], [], marker="o", markerfacecolor="white", markeredgecolor="#555555",
                               linestyle="none", label=other_name),
                        Line2D([], [], marker="o", color="#555555", linestyle="none", label=run_name)],
               loc="outside lower center", ncols=2, frameon=False)
    return fig


# --------------------------------------------------------------------------- sweeps


def sweep_points(ds: xr.Dataset) -> list[tuple[str, dict[str, Any]]]:
    """(label, selection) of every point of a merged sweep Dataset, in (scenario, key 1, ...) order."""
    keys = [k for k in str(ds.attrs.get("sweep_keys", "")).split(",") if k]
    dims = ["scenario", *keys]
    out = []
    for combo in itertools.product(*(ds[d].values for d in dims)):
        at = dict(zip(dims, combo, strict=True))
        label = ", ".join([str(combo[0])] + [f"{k.split('.')[-1]}={v:g}" for k, v in zip(keys, combo[1:],
                                                                                        strict=True)])
        out.append((label, at))
    return out


def sweep_sections(ds: xr.Dataset, quarter: int, colours: Mapping[str, str], folder_name: str,
                   manifest: Mapping[str, Any]) -> list[Section]:
    """The sections of a sweep report: points compared, plausibility per point, the sweep's settings."""
    points = sweep_points(ds)
    names = _names(ds)
    ids = [str(c) for c in ds.company.values]
    summary = Section("summary")
    summary.blocks.append(
        f"Sweep {folder_name}: {len(points)} points (scenarios and pinned inputs), as of {ds.attrs.get('as_of')}, "
        f"{ds.sizes['quarter']} quarters. Each point is a separate simulation; the table compares the probability "
        f"of leaving independence (default or acquisition) within {quarter} quarters, with its risk band "
        "(low < 5 %, elevated 5-20 %, high > 20 %). This is a comparison of assumptions, not a change over time.")
    leave = np.zeros((len(ids), len(points)))
    se = np.zeros_like(leave)
    for j, (_, at) in enumerate(points):
        pt = ds.sel(at)
        for i, cid in enumerate(ids):
            leave[i, j], se[i, j] = _leave(pt, cid, quarter)
    labels = [label for label, _ in points]
    rows = [[names[cid]] + [pct(leave[i, j], se[i, j]) for j in range(len(points))] for i, cid in enumerate(ids)]
    classes = [[f"company-{cid}"] + [f"band-{band(leave[i, j])}" for j in range(len(points))]
               for i, cid in enumerate(ids)]
    summary.blocks.append(Table(["company", *labels], rows,
                                f"Probability of leaving independence within {quarter} quarters, by point", classes))
    summary.blocks.append(Chart(sweep_chart(leave, se, ids, names, labels, colours, quarter),
                                "One marker per sweep point; whiskers: 95 % Monte Carlo intervals."))
    horizon = ds.sizes["quarter"]
    rows = [[names[cid]] + [pct(float(ds.sel(at).survival_prob.sel(company=cid).isel(quarter=-1)))
                            for _, at in points] for cid in ids]
    summary.blocks.append(Table(["company", *labels], rows, f"Survival to the horizon ({horizon} quarters), by point"))

    flags_section = Section("sweep", custom_title="Plausibility of each point")
    flagged = []
    for label, at in points:
        for f in check(ds.sel(at)):
            flagged.append({**f.__dict__, "what": f"{f.what} ({label})"})
    if flagged:
        flags_section.blocks.append(f"{len(flagged)} figure(s) beyond the stated bounds across the points.")
        flags_section.blocks.append(plausibility_table(flagged))
    else:
        flags_section.blocks.append("Every figure of every point lies within the stated bounds.")

    appendix = Section("appendix", custom_title="Appendix: sweep settings")
    settings = manifest.get("sweep", {})
    appendix.blocks.append(Table(["setting", "value"], [[str(k), str(v)] for k, v in settings.items()],
                                 "Sweep settings (manifest.json)", css_class="long"))
    priors = manifest.get("priors", {})
    appendix.blocks.append(Table(["scenario", "prior file", "digest"],
                                 [[k, str(v.get("path")), str(v.get("digest"))] for k, v in priors.items()],
                                 "Prior files of the points", css_class="long"))
    return [summary, flags_section, appendix]


def sweep_chart(leave: np.ndarray, se: np.ndarray, ids: Sequence[str], names: Mapping[str, str],
                labels: Sequence[str], colours: Mapping[str, str], quarter: int) -> Figure:
    """Dot plot: companies as rows, one marker shape per sweep point, shared x axis in %."""
    fig = Figure(figsize=(charts.WIDTH, 0.45 * len(ids) + 2.2), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(ids))[::-1].astype(float)
    markers = "os^Dv<>ph*"
    offsets = np.linspace(-0.25, 0.25, len(labels)) if len(labels) > 1 else np.zeros(1)
    handles = []
    for j, label in enumerate(labels):
        marker = markers[j % len(markers)]
        for i, cid in enumerate(ids):
            ax.errorbar(leave[i, j] * 100, y[i] + offsets[j], xerr=1.96 * se[i, j] * 100, fmt=marker,
                        color=colours[cid], ecolor="#555555", elinewidth=0.8, markersize=6)
        handles.append(Line2D([], [], marker=marker, color="#555555", linestyle="none", label=label))
    ax.set_yticks(y, [names[c] for c in ids])
    ax.set_xlim(left=0)
    ax.set_xlabel(f"probability of leaving independence within {quarter} quarters (%)")
    ax.grid(alpha=0.3, axis="x")
    ax.set_title("Sweep points compared", fontsize=13, fontweight="bold")
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), frameon=False)
    return fig
