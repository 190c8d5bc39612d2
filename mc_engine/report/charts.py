"""The report's charts: each function takes a run Dataset (or numbers derived from it) and returns a Figure.

Figures are built with :class:`matplotlib.figure.Figure`, never pyplot: nothing
global changes (a notebook's backend stays as it was) and no figure is kept
alive by a figure manager. Amounts are shown in USD bn, probabilities in %.
Every company has the colour :func:`~mc_engine.report.palette.company_colours`
gives it, in every chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.dates as mdates
import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .palette import BANDS, NEUTRAL, REGIME_COLOURS

USD_PER_BN = 1e9
WIDTH = 12.0
"""Figure width, inches (PNG at 100 dpi: 1200 px)."""


def _grid(n: int, ncols: int = 4, row_height: float = 2.6, title: str = "", sharex: bool = True,
          sharey: bool | str = True, width: float = WIDTH) -> tuple[Figure, list]:
    """``n`` panels on a grid; panels share their axes (one scale per figure) unless told otherwise."""
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(width, row_height * nrows + 1.0), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=sharex, sharey=sharey).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=13, fontweight="bold")
    return fig, axes[:n]


def _dates(ax) -> None:  # noqa: ANN001
    locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _finite_max(*arrays: np.ndarray, default: float = 1.0) -> float:
    values = np.concatenate([np.asarray(a, np.float64).ravel() for a in arrays])
    values = values[np.isfinite(values)]
    return float(values.max()) if values.size else default


def _symlog_if_wide(ax, typical: np.ndarray, extreme: np.ndarray, ylabel: str) -> str:  # noqa: ANN001
    """Switch ``ax`` to a symmetric log scale (linear within +-1) when the extremes dwarf the typical values.

    Simulated amounts can compound over many orders of magnitude in the tails; on a linear axis the median
    would be a flat line. Returns the y label, marked when the scale changed.
    """
    scale = max(_finite_max(np.abs(typical), default=0.0), 1.0)
    if _finite_max(np.abs(extreme), default=0.0) > 20 * scale:
        ax.set_yscale("symlog", linthresh=1.0)
        return f"{ylabel}, symlog"
    return ylabel


def _names(ds: xr.Dataset) -> dict[str, str]:
    return {str(c): str(n) for c, n in zip(ds.company.values, ds.company_name.values, strict=True)}


def _with_start(ds: xr.Dataset, values: np.ndarray, start: float) -> tuple[np.ndarray, np.ndarray]:
    """Quarter ends with ``as_of`` in front, and ``values`` with its value at ``as_of`` in front."""
    as_of = ds.quarter_bounds.values[0, 0] if "quarter_bounds" in ds else ds.quarter.values[0]
    return np.r_[np.asarray([as_of], dtype=ds.quarter.dtype), ds.quarter.values], np.r_[start, values]


def fan(ax, x: np.ndarray, quantiles: xr.DataArray, colour: str, scale: float = 1.0) -> None:  # noqa: ANN001
    """Draw 5-95 % and 25-75 % bands and the median of ``quantiles`` (dims quarter, quantile) on ``ax``."""
    q = {p: quantiles.sel(quantile=p, method="nearest").values / scale for p in (0.05, 0.25, 0.5, 0.75, 0.95)}
    ax.fill_between(x, q[0.05], q[0.95], color=colour, alpha=0.18, linewidth=0, label="5-95 %")
    ax.fill_between(x, q[0.25], q[0.75], color=colour, alpha=0.38, linewidth=0, label="25-75 %")
    ax.plot(x, q[0.5], color=colour, linewidth=1.8, label="median")


def _fan_legend(fig: Figure, colour: str = "#555555", extra: Sequence = ()) -> None:
    handles = [Patch(color=colour, alpha=0.18, label="5-95 % of paths"),
               Patch(color=colour, alpha=0.38, label="25-75 % of paths"),
               Line2D([], [], color=colour, linewidth=1.8, label="median"), *extra]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)


# --------------------------------------------------------------------------- 1. summary


def default_ranking(rows: Sequence[Mapping], colours: Mapping[str, str], quarter: int,
                    other_name: str | None = None) -> Figure:
    """Horizontal bars of the ``quarter``-quarter probability of leaving independence, default (solid) and
    acquisition (hatched) stacked, with 95 % Monte Carlo intervals on the sum.

    Args:
        rows: ranked rows with ``company``, ``name``, ``default``, ``acquired``, ``leave``, ``leave_se`` and
            optionally ``previous_leave``.
        other_name: the compared run, drawn as a marker (``previous_leave``).
    """
    fig = Figure(figsize=(WIDTH, 0.42 * len(rows) + 2.0), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    default = np.array([r["default"] for r in rows]) * 100
    acquired = np.array([r["acquired"] for r in rows]) * 100
    leave = np.array([r["leave"] for r in rows]) * 100
    se = np.array([r["leave_se"] for r in rows]) * 100
    top = min(100.0, max(25.0, _finite_max(leave + 2 * se) * 1.1))
    for lo, hi, label, colour in BANDS:
        if lo * 100 >= top:
            continue
        ax.axvspan(lo * 100, min(hi * 100, top), color=colour, alpha=0.6, linewidth=0, zorder=0)
        ax.text((lo * 100 + min(hi * 100, top)) / 2, len(rows) - 0.4, label, ha="center", va="bottom",
                fontsize=9, color="#555555")
    bar_colours = [colours[r["company"]] for r in rows]
    ax.barh(y, default, color=bar_colours, zorder=2)
    ax.barh(y, acquired, left=default, color="white", edgecolor=bar_colours, hatch="///", linewidth=1.0, zorder=2)
    ax.errorbar(leave, y, xerr=1.96 * se, fmt="none", ecolor="#333333", elinewidth=1, capsize=3, zorder=3)
    handles = [Patch(color="#777777", label="default"),
               Patch(facecolor="white", edgecolor="#777777", hatch="///", label="acquisition"),
               Line2D([], [], color="#333333", marker="|", linestyle="none", markersize=10,
                      label="95 % Monte Carlo interval of the sum")]
    prev = [r.get("previous_leave") for r in rows]
    if other_name is not None and any(v is not None and np.isfinite(v) for v in prev):
        pv = np.array([np.nan if v is None else v for v in prev]) * 100
        ax.scatter(pv, y, marker="D", facecolor="white", edgecolor="#111111", zorder=4, s=28)
        handles.append(Line2D([], [], marker="D", markerfacecolor="white", markeredgecolor="#111111",
                              linestyle="none", label=f"{other_name}"))
    ax.set_yticks(y, [r["name"] for r in rows])
    ax.set_xlim(0, top)
    ax.set_ylim(-0.7, len(rows) + 0.2)
    ax.set_xlabel(f"probability of leaving independence within {quarter} quarters (%)")
    ax.set_title(f"Companies ranked by the {quarter}-quarter probability of leaving independence", fontsize=13,
                 fontweight="bold")
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False, fontsize=9)
    return fig


# --------------------------------------------------------------------------- 2. survival


def _by_kind(ds: xr.Dataset) -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = {}
    for c, k in zip(ds.company.values, ds.kind.values, strict=True):
        kinds.setdefault(str(k), []).append(str(c))
    return kinds


def survival_curves(ds: xr.Dataset, colours: Mapping[str, str]) -> Figure:
    """Survival probability by quarter, one panel per kind, with 95 % Monte Carlo bands (+-1.96 SE); one y axis
    for every panel, from the lowest lower band (rounded down to 10 %, at most 50 %) to 100 %."""
    kinds = _by_kind(ds)
    names = _names(ds)
    fig, axes = _grid(len(kinds), ncols=3, row_height=4.0,
                      title=f"Survival probability with 95 % Monte Carlo bands ({ds.attrs.get('n_paths', '?'):,} paths)")
    low = 100.0
    for ax, (kind, ids) in zip(axes, kinds.items(), strict=True):
        for cid in ids:
            x, p = _with_start(ds, ds.survival_prob.sel(company=cid).values * 100, 100.0)
            se = np.r_[0.0, ds.survival_prob_se.sel(company=cid).values * 100]
            ax.fill_between(x, p - 1.96 * se, p + 1.96 * se, color=colours[cid], alpha=0.25, linewidth=0)
            ax.plot(x, p, color=colours[cid], linewidth=1.8, label=names[cid])
            low = min(low, float(np.nanmin(p - 1.96 * se)))
        ax.set_title(f"{kind}s")
        ax.set_xlabel("quarter end")
        ax.grid(alpha=0.3)
        _dates(ax)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=3, frameon=False)
    axes[0].set_ylabel("survival probability (%)")
    axes[0].set_ylim(min(50.0, 10 * math.floor(max(low, 0.0) / 10)), 100.5)
    return fig


def competing_risks(ds: xr.Dataset, colours: Mapping[str, str]) -> Figure:
    """Cumulative default (solid) and acquisition (dashed) probability by quarter, one panel per kind."""
    kinds = _by_kind(ds)
    names = _names(ds)
    fig, axes = _grid(len(kinds), ncols=3, row_height=4.0,
                      title="Competing risks: cumulative probability of default vs acquisition")
    for ax, (kind, ids) in zip(axes, kinds.items(), strict=True):
        handles = []
        for cid in ids:
            x, default = _with_start(ds, ds.default_prob.sel(company=cid).values * 100, 0.0)
            _, acquired = _with_start(ds, ds.acquired_prob.sel(company=cid).values * 100, 0.0)
            ax.plot(x, default, color=colours[cid], linewidth=1.8)
            ax.plot(x, acquired, color=colours[cid], linewidth=1.4, linestyle="--")
            handles.append(Line2D([], [], color=colours[cid], linewidth=1.8, label=names[cid]))
        handles += [Line2D([], [], color="#444444", label="default"),
                    Line2D([], [], color="#444444", linestyle="--", label="acquisition")]
        ax.set_title(f"{kind}s")
        ax.set_xlabel("quarter end")
        ax.grid(alpha=0.3)
        _dates(ax)
        ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=3,
                  frameon=False)
    axes[0].set_ylabel("cumulative probability (%)")
    axes[0].set_ylim(bottom=0)
    return fig


# --------------------------------------------------------------------------- 3. fan charts


def fan_grid(ds: xr.Dataset, var: str, colours: Mapping[str, str], title: str, ylabel: str,
             scale: float = 1.0, cap: float | None = None) -> Figure:
    """Fan chart of ``ds[var]`` (company, quarter, quantile) among surviving paths, one panel per company.

    One scale for the whole figure, every panel on the same axes: with ``cap`` linear from 0 to at most
    ``cap``; otherwise a symmetric log scale when the 5-95 % bands reach 20 times the largest median.
    """
    names = _names(ds)
    ids = [str(c) for c in ds.company.values]
    fig, axes = _grid(len(ids), ncols=5, title=title)
    x = ds.quarter.values
    values = ds[var].sel(quantile=[0.05, 0.5, 0.95], method="nearest").values / scale  # (company, quarter, 3)
    label = ylabel
    if cap is not None:
        top = min(cap, _finite_max(values[..., 2], default=cap))
        axes[0].set_ylim(0, max(top * 1.05, 1.0))
    else:
        label = _symlog_if_wide(axes[0], values[..., 1], values[..., [0, 2]], ylabel)
    for ax, cid in zip(axes, ids, strict=True):
        fan(ax, x, ds[var].sel(company=cid), colours[cid], scale)
        ax.axhline(0, color="#999999", linewidth=0.6)
        ax.set_title(names[cid], color=colours[cid], fontweight="bold", fontsize=10)
        ax.grid(alpha=0.3)
        _dates(ax)
    for ax in axes[::5]:
        ax.set_ylabel(label, fontsize=8)
    _fan_legend(fig)
    return fig


def spaghetti(ds: xr.Dataset, var: str, colours: Mapping[str, str], title: str, ylabel: str,
              scale: float = 1.0, n_lines: int = 40) -> Figure:
    """Raw paths of the thin sample (``path_<var>``), drawn while the company is alive; x marks a default."""
    names = _names(ds)
    ids = [str(c) for c in ds.company.values]
    n_lines = min(n_lines, ds.sizes["path"])
    fig, axes = _grid(len(ids), ncols=5, title=f"{title} ({n_lines} of {ds.sizes['path']} sampled paths)")
    x = ds.quarter.values
    order = ("path", "quarter", "company")
    status = ds.path_status.isel(path=slice(0, n_lines)).transpose(*order).values
    values = ds[f"path_{var}"].isel(path=slice(0, n_lines)).transpose(*order).values / scale
    for ax, cid in zip(axes, ids, strict=True):
        c = ids.index(cid)
        for p in range(n_lines):
            alive = status[p, :, c] == 0
            # keep the exit quarter so the line ends where the company left
            shown = alive | np.r_[False, alive[:-1]]
            y = np.where(shown, values[p, :, c], np.nan)
            ax.plot(x, y, color=colours[cid], alpha=0.35, linewidth=0.8)
            exits = np.flatnonzero((status[p, :, c] == 1) & np.r_[True, alive[:-1]])
            if exits.size:
                ax.plot(x[exits], values[p, exits, c], "x", color="#b00000", markersize=5)
        ax.axhline(0, color="#999999", linewidth=0.6)
        ax.set_title(names[cid], color=colours[cid], fontweight="bold", fontsize=10)
        ax.grid(alpha=0.3)
        _dates(ax)
    alive_values = values[(status == 0) & np.isfinite(values)]
    typical = np.median(np.abs(alive_values)) if alive_values.size else 0.0
    label = _symlog_if_wide(axes[0], np.asarray([typical]), alive_values, ylabel)
    for ax in axes[::5]:
        ax.set_ylabel(label, fontsize=8)
    fig.legend(handles=[Line2D([], [], color="#555555", alpha=0.6, label="one simulated path (while alive)"),
                        Line2D([], [], marker="x", color="#b00000", linestyle="none", label="default")],
               loc="outside lower center", ncols=2, frameon=False)
    return fig


# --------------------------------------------------------------------------- 4. drivers

DRIVERS: tuple[tuple[str, str], ...] = (
    ("hardware_cost_index", "Hardware cost per unit of compute"),
    ("compute_per_token_index", "Compute per token (algorithmic efficiency)"),
    ("price_index", "Price per unit of work"),
    ("gpu_rental_index", "GPU rental price"),
    ("demand_index", "Demand for work"),
)


def drivers(ds: xr.Dataset) -> Figure:
    """Fan charts of the market indices (relative to as_of, log scale) and the regime probabilities."""
    fig, axes = _grid(len(DRIVERS) + 1, ncols=3, row_height=3.6, title="Market drivers (index, as_of = 1)",
                      sharey=False)
    for ax in axes[1:len(DRIVERS)]:
        ax.sharey(axes[0])
    x = ds.quarter.values
    for ax, (var, label) in zip(axes, DRIVERS, strict=False):
        fan(ax, x, ds[var], NEUTRAL)
        ax.axhline(1.0, color="#999999", linewidth=0.6)
        ax.set_yscale("log")
        ax.set_title(label, fontsize=10)
        ax.set_ylabel("index (as_of = 1, log scale)", fontsize=8)
        ax.grid(alpha=0.3, which="both")
        _dates(ax)
    ax = axes[-1]
    probs = ds.regime_prob.values * 100  # (quarter, regime)
    regimes = [str(r) for r in ds.regime.values]
    ax.stackplot(x, probs.T, colors=[REGIME_COLOURS.get(r, "#cccccc") for r in regimes], labels=regimes, alpha=0.85)
    ax.set_ylim(0, 100)
    ax.set_title("Market regime", fontsize=10)
    ax.set_ylabel("probability (%)", fontsize=8)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _dates(ax)
    _fan_legend(fig, NEUTRAL)
    return fig


# --------------------------------------------------------------------------- 5. sensitivity


def short_input(name: str, company: str | None = None) -> str:
    """A readable label for a dotted input name (the company's own inputs without its name)."""
    from .labels import input_label

    return input_label(name, company)


def tornado(ds: xr.Dataset, colours: Mapping[str, str], top: int = 8, ids: Sequence[str] | None = None,
            title: str = "") -> Figure:
    """Per company (``ids``, default all), the ``top`` inputs with the largest |Spearman correlation| with
    survival at the horizon; one x axis (-limit .. limit) for every panel."""
    names = _names(ds)
    ids = [str(c) for c in ds.company.values] if ids is None else list(ids)
    n_sample = ds.sensitivity.attrs.get("sample_paths")
    sample = f", {int(n_sample):,} paths" if n_sample is not None else ""
    fig, axes = _grid(len(ids), ncols=3, row_height=0.26 * top + 1.0, sharey=False,
                      title=f"{title or 'Inputs'} driving survival to the horizon (Spearman rank correlation{sample})")
    inputs = [str(i) for i in ds.input.values]
    limit = min(1.0, max(0.1, 1.15 * _finite_max(np.abs(ds.sensitivity.values), default=0.1)))
    for ax, cid in zip(axes, ids, strict=True):
        rho = ds.sensitivity.sel(company=cid).values
        order = np.argsort(-np.abs(rho))[:top]
        order = order[np.abs(rho[order]) > 0]
        ax.set_title(names[cid], color=colours[cid], fontweight="bold", fontsize=10)
        ax.axvline(0, color="#555555", linewidth=0.8)
        ax.set_xlim(-limit, limit)
        ax.set_xlabel("rank correlation with survival", fontsize=8)
        if not order.size:
            ax.text(0, 0.5, "survival does not vary in the sample", ha="center", va="center", fontsize=8,
                    transform=ax.get_xaxis_transform())
            ax.set_yticks([])
            continue
        y = np.arange(order.size)[::-1]
        vals = rho[order]
        ax.barh(y, vals, color=[colours[cid] if v > 0 else "white" for v in vals], edgecolor=colours[cid],
                hatch=None, linewidth=1.2)
        ax.set_yticks(y, [short_input(inputs[i], cid) for i in order], fontsize=8)
        ax.grid(alpha=0.3, axis="x")
    fig.legend(handles=[Patch(facecolor="#777777", edgecolor="#777777", label="higher input -> more survival"),
                        Patch(facecolor="white", edgecolor="#777777", label="higher input -> less survival")],
               loc="outside lower center", ncols=2, frameon=False)
    return fig


# --------------------------------------------------------------------------- 6. contagion


def exposure_heatmap(w: np.ndarray, ids: Sequence[str], names: Mapping[str, str]) -> Figure:
    """Heat map of ``W[client, host]`` restricted to clients and hosts with an exposure."""
    rows = [i for i in range(len(ids)) if w[i].sum() > 0]
    cols = [j for j in range(len(ids)) if w[:, j].sum() > 0]
    fig = Figure(figsize=(min(WIDTH, 5.0 + 1.1 * max(len(cols), 1)), 2.2 + 0.5 * max(len(rows), 1)),
                 layout="constrained")
    ax = fig.subplots()
    if not rows:
        ax.text(0.5, 0.5, "no counterparty exposures in the priors", ha="center", va="center")
        ax.set_axis_off()
        return fig
    sub = w[np.ix_(rows, cols)] * 100
    image = ax.imshow(sub, cmap="Oranges", vmin=0, vmax=100, aspect="auto")
    for r in range(len(rows)):
        for c in range(len(cols)):
            if sub[r, c] > 0:
                ax.text(c, r, f"{sub[r, c]:.0f} %", ha="center", va="center", fontsize=9,
                        color="white" if sub[r, c] > 55 else "black")
    ax.set_xticks(range(len(cols)), [names[ids[j]] for j in cols], rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), [names[ids[i]] for i in rows])
    ax.set_xlabel("host (receives the compute spend)")
    ax.set_ylabel("client")
    ax.set_title("Counterparty exposures W\n(share of the client's compute spend paid to the host)",
                 fontsize=11, fontweight="bold")
    fig.colorbar(image, ax=ax, label="share of spend (%)")
    return fig


def contagion_chart(exposures: Sequence, colours: Mapping[str, str], names: Mapping[str, str]) -> Figure:
    """Change in each host's survival in the sampled futures where its client defaults, with 95 % intervals."""
    fig = Figure(figsize=(WIDTH, 0.5 * max(len(exposures), 1) + 1.8), layout="constrained")
    ax = fig.subplots()
    shown = [e for e in exposures if e.n_client_default > 0]
    if not shown:
        ax.text(0.5, 0.5, "no client defaults in the thin sample: nothing to condition on", ha="center",
                va="center")
        ax.set_axis_off()
        return fig
    y = np.arange(len(shown))[::-1]
    delta = np.array([e.change for e in shown]) * 100
    se = np.array([e.change_se for e in shown]) * 100
    ax.barh(y, delta, xerr=1.96 * se, color=[colours[e.host] for e in shown], capsize=3,
            error_kw={"elinewidth": 1, "ecolor": "#333333"})
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_yticks(y, [f"{names[e.client]} -> {names[e.host]} (W {e.share:.0%}, {e.n_client_default} defaults)"
                      for e in shown], fontsize=8)
    ax.set_xlabel("host survival when the client defaults minus when it does not (percentage points)")
    ax.set_title("Host survival in the futures where its client defaults (thin sample)", fontsize=12,
                 fontweight="bold")
    fig.legend(handles=[Patch(color="#777777", label="change in host survival (bar colour = host)"),
                        Line2D([], [], color="#333333", marker="|", linestyle="none", markersize=10,
                               label="95 % interval")], fontsize=8, loc="outside lower center", ncols=2,
               frameon=False)
    ax.grid(alpha=0.3, axis="x")
    return fig


# --------------------------------------------------------------------------- 7. funding


def funding(ds: xr.Dataset, colours: Mapping[str, str]) -> Figure:
    """Capital raised by the horizon (quantiles, USD bn), expected rounds and down-round probability."""
    names = _names(ds)
    ids = [str(c) for c in ds.company.values]
    fig = Figure(figsize=(WIDTH, 0.35 * len(ids) + 2.5), layout="constrained")
    ax_raised, ax_rounds, ax_down = fig.subplots(1, 3, width_ratios=(2.2, 1, 1), sharey=True)
    y = np.arange(len(ids))[::-1]
    per_bn = 1.0 if str(ds.raised.attrs.get("units", "")).startswith("USD bn") else USD_PER_BN
    for yi, cid in zip(y, ids, strict=True):
        q = {p: float(ds.raised.sel(company=cid).sel(quantile=p, method="nearest")) / per_bn
             for p in (0.05, 0.25, 0.5, 0.75, 0.95)}
        ax_raised.plot([q[0.05], q[0.95]], [yi, yi], color=colours[cid], linewidth=1.2)
        ax_raised.plot([q[0.25], q[0.75]], [yi, yi], color=colours[cid], linewidth=6, solid_capstyle="butt")
        ax_raised.plot([q[0.5]], [yi], "o", color="white", markeredgecolor=colours[cid], markersize=5)
    ax_raised.set_yticks(y, [names[c] for c in ids])
    # amounts span four orders of magnitude between companies: a log axis (linear below USD 1 bn, where
    # hyperscalers raise nothing) keeps every company readable
    ax_raised.set_xscale("symlog", linthresh=1.0)
    top = _finite_max(ds.raised.sel(quantile=0.95, method="nearest").values / per_bn, default=1.0)
    ax_raised.set_xlim(0, max(2.0 * top, 10.0))
    ax_raised.set_xlabel("capital raised by the horizon (USD bn, log scale above 1)")
    ax_raised.set_title("Capital raised (rounds and rescues)", fontsize=10)
    fig.legend(handles=[Line2D([], [], color="#555555", linewidth=1.2, label="5-95 % of paths"),
                        Line2D([], [], color="#555555", linewidth=6, label="25-75 %"),
                        Line2D([], [], marker="o", color="white", markeredgecolor="#555555",
                               linestyle="none", label="median")], fontsize=8, loc="outside lower center",
               ncols=3, frameon=False)
    cols = [colours[c] for c in ids]
    ax_rounds.barh(y, ds.funding_rounds.sel(company=ids).values, color=cols)
    ax_rounds.set_xlabel("expected number of rounds")
    ax_rounds.set_title("Funding rounds", fontsize=10)
    ax_down.barh(y, ds.down_round_prob.sel(company=ids).values * 100, color=cols)
    ax_down.set_xlabel("probability (%)")
    ax_down.set_title("At least one down round", fontsize=10)
    for ax in (ax_raised, ax_rounds, ax_down):
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle(f"Funding to the horizon ({ds.sizes['quarter']} quarters)", fontsize=13, fontweight="bold")
    return fig


# --------------------------------------------------------------------------- 8. attribution

PARTS: tuple[tuple[str, str, str], ...] = (
    ("priors", "changed priors", "#4c72b0"),
    ("starting_data", "changed starting data / as_of", "#dd8452"),
    ("noise", "Monte Carlo noise", "#b0b0b0"),
)


def attribution_chart(rows: Sequence[Mapping], colours: Mapping[str, str], quarter: int) -> Figure:
    """Stacked bars of each company's change in survival split into its parts, with the total as a marker."""
    fig = Figure(figsize=(WIDTH, 0.45 * max(len(rows), 1) + 2.0), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    pos = np.zeros(len(rows))
    neg = np.zeros(len(rows))
    for key, label, colour in PARTS:
        v = np.array([r[key] for r in rows]) * 100
        left = np.where(v >= 0, pos, neg)
        ax.barh(y, v, left=left, color=colour, label=label, height=0.6)
        pos += np.where(v >= 0, v, 0)
        neg += np.where(v < 0, v, 0)
    total = np.array([r["total"] for r in rows]) * 100
    ax.scatter(total, y, marker="D", color="black", zorder=3, s=30, label="total change")
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_yticks(y, [r["name"] for r in rows])
    for tick, r in zip(ax.get_yticklabels(), rows, strict=True):
        tick.set_color(colours[r["company"]])
    ax.set_xlabel(f"change in {quarter}-quarter survival probability since last quarter's run (percentage points)")
    ax.set_title("Attribution of the change in survival since last quarter", fontsize=13, fontweight="bold")
    fig.legend(*ax.get_legend_handles_labels(), fontsize=9, loc="outside lower center", ncols=4, frameon=False)
    ax.grid(alpha=0.3, axis="x")
    return fig
