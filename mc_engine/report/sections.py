"""The report's nine sections as data: paragraphs, tables and charts, in reading order.

Each ``*_section`` function takes the opened run (and what else it needs) and
returns a :class:`Section`; :mod:`.render` turns the list into HTML and PDF, so
both formats say exactly the same thing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .._schema import starting_state_keys
from ..analysis.attribution import Attribution
from ..analysis.contagion import Exposure
from . import charts
from .palette import band

TITLES: dict[str, str] = {
    "summary": "Executive summary",
    "survival": "Survival and competing risks",
    "fans": "Cash, burn and runway",
    "drivers": "Market drivers and regimes",
    "sensitivity": "Sensitivity",
    "contagion": "Contagion",
    "funding": "Funding",
    "attribution": "Quarter-over-quarter attribution",
    "comparison": "Comparison with another run",
    "sweep": "Sweep points compared",
    "appendix": "Appendix: priors and run manifest",
}
"""Section key -> default heading; sections are numbered in the order a report lists them."""
USD_PER_BN = 1e9


@dataclass
class Table:
    """A table: header, rows of text, an optional caption and CSS class per cell (e.g. the risk band)."""

    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    cell_classes: list[list[str]] | None = None
    css_class: str = ""
    """Class of the whole table, e.g. ``long`` (small print, may break across pages)."""


@dataclass
class Chart:
    """A matplotlib figure with its caption."""

    figure: Figure
    caption: str


Block = str | Table | Chart


@dataclass
class Section:
    """A numbered section: heading and its blocks in reading order (``number`` set by the report)."""

    key: str
    blocks: list[Block] = field(default_factory=list)
    number: int = 0
    custom_title: str | None = None

    @property
    def title(self) -> str:
        return self.custom_title or TITLES[self.key]

    @property
    def heading(self) -> str:
        return f"{self.number}. {self.title}" if self.number else self.title


def numbered(sections: Sequence[Section]) -> list[Section]:
    """The sections numbered 1, 2, ... in order."""
    for i, section in enumerate(sections, 1):
        section.number = i
    return list(sections)


# --------------------------------------------------------------------------- formatting


def _decimals(se_points: float, digits: int) -> int:
    """Decimals that show at least one significant figure of a standard error in percent (never fewer than
    ``digits``): a million-path run's ``± 0.05 %`` is not printed as ``± 0.0 %``."""
    if not math.isfinite(se_points) or se_points <= 0:
        return digits
    return max(digits, -math.floor(math.log10(se_points)))


def pct(p: float, se: float | None = None, digits: int = 1) -> str:
    """``12.3 %`` or ``12.3 ± 0.4 %`` (``47.00 ± 0.05 %``: the value to the standard error's precision);
    ``-`` for NaN."""
    if p is None or not math.isfinite(p):
        return "-"
    d = digits if se is None else _decimals(100 * se, digits)
    value = 100 * p if round(100 * p, d) != 0 else 0.0  # no "-0.0 %" from a difference of probabilities
    if se is None:
        return f"{value:.{d}f} %"
    return f"{value:.{d}f} ± {100 * se:.{d}f} %"


def pp(d: float, se: float | None = None) -> str:
    """A change in percentage points with its sign, ``+1.20 pp`` (``± SE`` when given, to its precision)."""
    if d is None or not math.isfinite(d):
        return "-"
    if se is None:
        return f"{100 * d:+.2f} pp"
    n = _decimals(100 * se, 2)
    return f"{100 * d:+.{n}f} ± {100 * se:.{n}f} pp"


def per_bn(ds: xr.Dataset, var: str) -> float:
    """Divide ``ds[var]`` by this to get USD bn: 1e9 for a variable stored in USD, 1 for one in USD bn."""
    return 1.0 if str(ds[var].attrs.get("units", "")).startswith("USD bn") else USD_PER_BN


def usd(ds: xr.Dataset, var: str, value: float) -> float:
    """``value`` of ``ds[var]`` in USD, whichever unit the file uses."""
    return value * USD_PER_BN / per_bn(ds, var)


def flagged(variable: str, value_usd: float, text: str) -> tuple[str, str]:
    """(cell text, CSS class): a figure beyond its plausibility bound is marked, never printed silently."""
    from ..output.plausibility import beyond

    return (f"{text} ⚠", "flag") if beyond(variable, value_usd) else (text, "")


def bn(x: float) -> str:
    """USD amount in USD bn, 3 significant figures."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x / USD_PER_BN:,.3g}" if abs(x) < 1e12 else f"{x / USD_PER_BN:,.0f}"


def _names(ds: xr.Dataset) -> dict[str, str]:
    return {str(c): str(n) for c, n in zip(ds.company.values, ds.company_name.values, strict=True)}


def _at(ds: xr.Dataset, var: str, cid: str, quarter: int) -> float:
    return float(ds[var].sel(company=cid).isel(quarter=quarter - 1))


def _date(ds: xr.Dataset, quarter: int) -> str:
    return str(np.datetime_as_string(ds.quarter.values[quarter - 1], unit="D"))


# --------------------------------------------------------------------------- 1


def summary_rows(ds: xr.Dataset, other: xr.Dataset | None, quarter: int) -> list[dict[str, Any]]:
    """Companies ranked by the probability of leaving independence at ``quarter`` (default or acquisition,
    highest first), with the other run's figures when one is compared.

    ``band`` is the risk band of ``leave`` = default + acquisition; ``default_band`` the band default alone
    would give (shown beside it, so a company that is likely to be acquired is not read as safe).
    """
    names = _names(ds)
    n = float(ds.attrs.get("n_paths", 0)) or float("nan")
    rows = []
    for cid in (str(c) for c in ds.company.values):
        row = {"company": cid, "name": names[cid], "kind": str(ds.kind.sel(company=cid).values),
               "default": _at(ds, "default_prob", cid, quarter), "default_se": _at(ds, "default_prob_se", cid, quarter),
               "acquired": _at(ds, "acquired_prob", cid, quarter), "survival": _at(ds, "survival_prob", cid, quarter),
               "previous": None, "previous_se": None, "previous_leave": None, "previous_leave_se": None}
        row["leave"] = row["default"] + row["acquired"]
        row["leave_se"] = math.sqrt(max(row["leave"] * (1 - row["leave"]), 0.0) / n)
        if other is not None and cid in other.company.values:
            pq = min(quarter, other.sizes["quarter"])
            n_other = float(other.attrs.get("n_paths", 0)) or float("nan")
            row["previous"] = _at(other, "default_prob", cid, pq)
            row["previous_se"] = _at(other, "default_prob_se", cid, pq)
            leave = row["previous"] + _at(other, "acquired_prob", cid, pq)
            row["previous_leave"] = leave
            row["previous_leave_se"] = math.sqrt(max(leave * (1 - leave), 0.0) / n_other)
        row["band"] = band(row["leave"])
        row["default_band"] = band(row["default"])
        rows.append(row)
    return sorted(rows, key=lambda r: (-r["leave"], -r["default"], r["company"]))


def summary_section(ds: xr.Dataset, other: xr.Dataset | None, rows: Sequence[Mapping[str, Any]], quarter: int,
                    colours: Mapping[str, str], run_name: str, other_name: str | None,
                    mode: str = "run", flags: Sequence[Mapping[str, Any]] = ()) -> Section:
    """Section 1. ``mode``: ``run`` (alone), ``quarter`` (against last quarter's run) or ``comparison``
    (against another scenario or sweep point, same quarter)."""
    a = ds.attrs
    section = Section("summary")
    section.blocks.append(
        f"Run {run_name}: priors '{a.get('priors_name')}' (digest {str(a.get('priors_digest', ''))[:12]}) as of "
        f"{a.get('as_of')}, {int(a.get('n_paths', 0)):,} simulated futures (seed {a.get('seed')}), "
        f"{ds.sizes['quarter']} quarters. Probabilities are cumulative to quarter {quarter} ({_date(ds, quarter)}); "
        "default and acquisition are competing risks, so survival + default + acquisition = 100 %. "
        "± is one Monte Carlo standard error sqrt(p (1 - p) / n).")
    counts = {b: sum(r["band"] == b for r in rows) for b in ("high", "elevated", "low")}
    high = ", ".join(r["name"] for r in rows if r["band"] == "high") or "none"
    section.blocks.append(
        f"Risk bands of the probability of leaving independence within {quarter} quarters (default or "
        "acquisition): low < 5 %, elevated 5-20 %, high > 20 %. "
        f"{counts['high']} high ({high}), {counts['elevated']} elevated, {counts['low']} low. The band default "
        "alone would give is shown beside it.")
    if flags:
        section.blocks.append(
            f"Plausibility: {len(flags)} figure(s) of this run lie beyond the stated bounds and are flagged in red "
            "where they are printed; see the plausibility table in this section.")
    change_label = {"quarter": "change since last quarter", "comparison": f"difference from {other_name}"}.get(mode)
    if other is not None:
        what = (f"last quarter's run ({other_name}, as of {other.attrs.get('as_of')})" if mode == "quarter" else
                f"the comparison run {other_name} (priors '{other.attrs.get('priors_name')}', as of "
                f"{other.attrs.get('as_of')})")
        section.blocks.append(
            f"{change_label[0].upper() + change_label[1:]}: this run minus {what}, probability of leaving "
            "independence in percentage points, ± the standard error of the difference of two independent runs.")
    columns = ["#", "company", "kind", f"leaves {quarter}q", "band", f"default {quarter}q", f"acquired {quarter}q",
               "band (default only)", f"survival {quarter}q"] + ([change_label] if change_label else [])
    table_rows, classes = [], []
    for i, r in enumerate(rows, 1):
        row = [str(i), r["name"], r["kind"], pct(r["leave"], r["leave_se"]), r["band"],
               pct(r["default"], r["default_se"]), pct(r["acquired"]), r["default_band"], pct(r["survival"])]
        cls = ["", f"company-{r['company']}", "", f"band-{r['band']}", f"band-{r['band']}", "", "",
               f"band-{r['default_band']}", ""]
        if change_label:
            if r["previous_leave"] is None:
                row.append("new company")
            else:
                row.append(pp(r["leave"] - r["previous_leave"], math.hypot(r["leave_se"], r["previous_leave_se"])))
            cls.append("")
        table_rows.append(row)
        classes.append(cls)
    section.blocks.append(Table(columns, table_rows,
                                f"Companies ranked by the probability of leaving independence within {quarter} "
                                "quarters", classes))
    section.blocks.append(Chart(charts.default_ranking(rows, colours, quarter, other_name if other is not None
                                                       else None),
                                "Bars: default (solid) and acquisition (hatched) stacked to the probability of "
                                "leaving independence; whiskers: 95 % Monte Carlo interval; shading: risk band."))
    if flags:
        section.blocks.append(plausibility_table(flags))
    return section


def plausibility_table(flags: Sequence[Mapping[str, Any]]) -> Table:
    """The figures beyond the plausibility bounds, one row each (see :mod:`mc_engine.output.plausibility`)."""
    rows = [[f["what"], f["company"] or "market", f["value"], f["bound"], f["paths"]] for f in flags]
    classes = [["", "", "flag", "", ""] for _ in flags]
    return Table(["figure", "company", "most extreme value", "bound", "paths concerned"], rows,
                 "Plausibility flags: figures beyond the stated bounds", classes)


# --------------------------------------------------------------------------- 2, 3, 4


def survival_section(ds: xr.Dataset, colours: Mapping[str, str]) -> Section:
    section = Section("survival")
    horizon = ds.sizes["quarter"]
    marks = sorted({q for q in (4, 8, horizon) if q <= horizon})
    section.blocks.append(
        "Survival is the probability that a company is still independent and solvent at the end of each quarter. "
        "Bands are 95 % Monte Carlo intervals (± 1.96 standard errors), i.e. the uncertainty from simulating a "
        "finite number of futures, not the spread of outcomes.")
    section.blocks.append(Chart(charts.survival_curves(ds, colours), "Survival probability by kind."))
    section.blocks.append(Chart(charts.competing_risks(ds, colours),
                                "Cumulative incidence of default (solid) and acquisition (dashed) by kind."))
    names = _names(ds)
    columns = ["company", "kind"] + [f"{what} {q}q" for q in marks for what in ("survival", "default", "acquired")]
    rows = []
    for cid in (str(c) for c in ds.company.values):
        row = [names[cid], str(ds.kind.sel(company=cid).values)]
        for q in marks:
            row += [pct(_at(ds, "survival_prob", cid, q), _at(ds, "survival_prob_se", cid, q)),
                    pct(_at(ds, "default_prob", cid, q)), pct(_at(ds, "acquired_prob", cid, q))]
        rows.append(row)
    section.blocks.append(Table(columns, rows, "Survival, default and acquisition probabilities"))
    if "exit_prob" in ds:
        section.blocks.append(exits_by_cause_table(ds, names))
    credit = credit_table_block(ds, names)
    if credit is not None:
        section.blocks.append(credit)
    return section


def exits_by_cause_table(ds: xr.Dataset, names: Mapping[str, str]) -> Table:
    """Why each company left by the horizon: cumulative exit probability by cause, beside when (the table above)."""
    causes = [str(c) for c in ds.cause.values]
    horizon = ds.sizes["quarter"]
    rows = []
    for cid in (str(c) for c in ds.company.values):
        last = ds.exit_prob.sel(company=cid).isel(quarter=-1)
        se = ds.exit_prob_se.sel(company=cid).isel(quarter=-1)
        rows.append([names[cid], *[pct(float(last.sel(cause=k)), float(se.sel(cause=k))) for k in causes]])
    return Table(["company", *[f"{k} by {horizon}q" for k in causes]], rows,
                 "Why companies leave: cumulative exit probability by cause (cash exhausted, covenant breach left "
                 "uncured, maturity not refinanced, acquisition); the causes add up to 1 - survival")


def credit_table_block(ds: xr.Dataset, names: Mapping[str, str]) -> Table | None:
    """Six-year default beside the rating's historical band and the market-implied band (report/credit.py)."""
    from .credit import credit_table

    rows = credit_table(ds)
    if not rows:
        return None
    body = []
    for r in rows:
        band = "-" if r.market_band is None else f"{r.market_band[0]:.1%}-{r.market_band[1]:.1%}"
        rate = "-" if r.rating_rate is None else f"{r.rating_rate:.2%} (5-yr)"
        body.append([names[r.company], r.rating, pct(r.default_prob, r.default_se), rate, band, r.verdict])
    return Table(["company", "rating", f"default by {rows[0].years:g} yr", "rating's historical rate",
                  "market-implied band", "where the model sits"], body,
                 "Credit table: default probability beside the S&P 2024 five-year default rate of the rating class and "
                 "the real-world band implied by the CDS spread (40 % recovery, risk-neutral / 2-3); ratings and "
                 "spreads are sourced in the priors")


def _flag_note(ds: xr.Dataset, variables: Sequence[str]) -> str:
    """`` ⚠ ...`` naming the companies whose ``variables`` are beyond the plausibility bounds, or ``""``."""
    from ..output.plausibility import check

    hit = sorted({f.company or "market" for f in check(ds) if f.variable in variables})
    return (f" ⚠ Beyond the plausibility bounds (section 1): {', '.join(hit)}; read those panels as a model "
            "defect, not a forecast.") if hit else ""


def fans_section(ds: xr.Dataset, colours: Mapping[str, str]) -> Section:
    section = Section("fans")
    section.blocks.append(
        "Fan charts show the 5-95 % and 25-75 % ranges and the median across simulated futures, among the futures "
        "in which the company is still alive in that quarter (a company that has left stops counting). Cash is "
        "quarter-end cash, burn the cash used in the quarter (negative: cash generated), runway cash over burn in "
        "quarters (100 means not burning).")
    section.blocks.append(Chart(charts.fan_grid(ds, "cash", colours, "Quarter-end cash among surviving futures",
                                                "cash (USD bn)", per_bn(ds, "cash")),
                                "Cash, USD bn." + _flag_note(ds, ("cash",))))
    section.blocks.append(Chart(charts.fan_grid(ds, "burn", colours, "Quarterly cash burn among surviving futures",
                                                "burn per quarter (USD bn)", per_bn(ds, "burn")),
                                "Burn, USD bn per quarter." + _flag_note(ds, ("burn",))))
    section.blocks.append(Chart(charts.fan_grid(ds, "runway_quarters", colours,
                                                "Runway among surviving futures (cash / burn)", "runway (quarters)",
                                                cap=100.0), "Runway, quarters (capped at 100)."))
    section.blocks.append(Chart(charts.spaghetti(ds, "cash", colours, "Sampled futures of quarter-end cash",
                                                 "cash (USD bn)", per_bn(ds, "path_cash")),
                                "Raw paths from the run's thin sample; each ends where the company leaves."))
    return section


def drivers_section(ds: xr.Dataset) -> Section:
    section = Section("drivers")
    section.blocks.append(
        "The shared market drivers, as indices equal to 1 at as_of: hardware cost per unit of compute, compute per "
        "token (algorithmic efficiency: lower is more efficient), price per unit of work, GPU rental price and "
        "demand for work; and the probability of each market regime by quarter.")
    section.blocks.append(Chart(charts.drivers(ds), "Market drivers (5-95 %, 25-75 %, median) and regimes."
                                + _flag_note(ds, [v for v, _ in charts.DRIVERS])))
    rows, classes = [], []
    for var, label in charts.DRIVERS:
        q = {p: float(ds[var].isel(quarter=-1).sel(quantile=p, method="nearest")) for p in (0.05, 0.5, 0.95)}
        median, median_cls = flagged(var, q[0.5], f"{q[0.5]:.3g}")
        spread, spread_cls = flagged(var, q[0.05], f"{q[0.05]:.3g} - {q[0.95]:.3g}")
        if not spread_cls:
            spread, spread_cls = flagged(var, q[0.95], spread)
        rows.append([label, median, spread])
        classes.append(["", median_cls, spread_cls])
    section.blocks.append(Table(["driver", "median at horizon", "5-95 % at horizon"], rows,
                                f"Market indices at the horizon ({_date(ds, ds.sizes['quarter'])}), as_of = 1 "
                                "(⚠ beyond the index's plausibility bounds, section 1)", classes))
    expected = ds.regime_prob.sum("quarter").values
    horizon = ds.sizes["quarter"]
    rows = [[str(r), f"{e:.2f}", pct(e / horizon)] for r, e in zip(ds.regime.values, expected, strict=True)]
    section.blocks.append(Table(["regime", "expected quarters", "share of time"], rows,
                                f"Time spent in each regime over {horizon} quarters"))
    return section


# --------------------------------------------------------------------------- 5, 6, 7


def sensitivity_section(ds: xr.Dataset, colours: Mapping[str, str], top: int = 8) -> Section:
    section = Section("sensitivity")
    if "sensitivity" not in ds:
        section.blocks.append("This run has no uncertain inputs (every prior is a point value), so there is no "
                              "sensitivity to report.")
        return section
    n = ds.sensitivity.attrs.get("sample_paths")
    sample = f"the first {int(n):,}" if n is not None else "a sample of"
    section.blocks.append(
        f"For each company, the inputs whose drawn values are most strongly rank-correlated (Spearman) with the "
        f"company surviving to the horizon ({ds.sizes['quarter']} quarters), over {sample} simulated futures. A "
        "positive bar means futures with a higher value of the input survive more often. Correlation is not a causal "
        "effect: correlated inputs share credit.")
    for kind, ids in charts._by_kind(ds).items():
        section.blocks.append(Chart(charts.tornado(ds, colours, top, ids, f"{kind.capitalize()}s: inputs"),
                                    f"Top inputs driving survival, {kind}s."))
    names = _names(ds)
    inputs = [str(i) for i in ds.input.values]
    rows = []
    for cid in (str(c) for c in ds.company.values):
        rho = ds.sensitivity.sel(company=cid).values
        order = [i for i in np.argsort(-np.abs(rho))[:3] if abs(rho[i]) > 0]
        rows.append([names[cid]] + [f"{charts.short_input(inputs[i], cid)} ({rho[i]:+.2f})" for i in order]
                    + ["-"] * (3 - len(order)))
    section.blocks.append(Table(["company", "first", "second", "third"], rows, "Top three inputs (rank correlation)"))
    return section


def contagion_section(ds: xr.Dataset, w: np.ndarray, company_ids: Sequence[str], exposures: Sequence[Exposure],
                      colours: Mapping[str, str]) -> Section:
    section = Section("contagion")
    names = _names(ds)
    n = ds.sizes["path"]
    section.blocks.append(
        "W[client, host] is the share of the client's compute spend that is revenue of the host (the priors' "
        "[counterparty] table). When a client defaults its host loses that revenue and re-lets the capacity at spot "
        "prices (docs/model.md, 3.3).")
    section.blocks.append(Chart(charts.exposure_heatmap(np.asarray(w), list(company_ids), names),
                                "Counterparty exposures (share of the client's compute spend)."))
    section.blocks.append(
        f"Host survival in the futures where its client defaults is measured on the run's thin sample: the same "
        f"{n:,} futures for every company (variables path_status), at the horizon ({ds.sizes['quarter']} quarters). "
        "For each exposure, the host's survival among sampled futures where the client defaulted minus among those "
        "where it did not, ± one binomial standard error. The difference mixes the counterparty channel with the "
        "shocks both companies share (a funding winter hurts both); with few client defaults it is noisy.")
    if exposures:
        section.blocks.append(Chart(charts.contagion_chart(exposures, colours, names),
                                    "Change in host survival where the client defaults (95 % intervals)."))
    rows = [[names[e.client], names[e.host], pct(e.share, digits=0), f"{e.n_client_default} / {e.n_paths}",
             pct(e.host_survival_if_default), pct(e.host_survival_otherwise),
             pp(e.change, e.change_se) if e.n_client_default else "-"] for e in exposures]
    section.blocks.append(Table(["client", "host", "W", "client defaults / sampled futures",
                                 "host survival if client defaults", "host survival otherwise", "change"], rows,
                                f"Exposures and host survival at the horizon (thin sample of {n:,} futures)"))
    return section


def funding_section(ds: xr.Dataset, colours: Mapping[str, str]) -> Section:
    section = Section("funding")
    section.blocks.append(
        f"Funding to the horizon ({ds.sizes['quarter']} quarters): the expected number of equity rounds, the "
        "probability of at least one down round, the capital raised (rounds and strategic rescues) and the 95 % "
        "value at risk and expected shortfall of cumulative burn, and the cash paid out to shareholders (dividends "
        "and buybacks of companies that generate cash). Amounts in USD bn.")
    section.blocks.append(Chart(charts.funding(ds, colours), "Capital raised, rounds and down rounds."))
    names = _names(ds)
    rows, classes = [], []
    for cid in (str(c) for c in ds.company.values):
        raised = {p: usd(ds, "raised", float(ds.raised.sel(company=cid).sel(quantile=p, method="nearest")))
                  for p in (0.05, 0.5, 0.95)}
        var95 = usd(ds, "burn_var_95", float(ds.burn_var_95.sel(company=cid)))
        cvar95 = usd(ds, "burn_cvar_95", float(ds.burn_cvar_95.sel(company=cid)))
        paid = (usd(ds, "paid_out", float(ds.paid_out.sel(company=cid).sel(quantile=0.5, method="nearest")))
                if "paid_out" in ds else float("nan"))  # runs written before payouts were modelled have none
        cells = [flagged("raised", raised[0.05], bn(raised[0.05])), flagged("raised", raised[0.5], bn(raised[0.5])),
                 flagged("raised", raised[0.95], bn(raised[0.95])), flagged("burn_var_95", var95, bn(var95)),
                 flagged("burn_cvar_95", cvar95, bn(cvar95)), flagged("paid_out", paid, bn(paid))]
        rows.append([names[cid], f"{float(ds.funding_rounds.sel(company=cid)):.2f}",
                     pct(float(ds.down_round_prob.sel(company=cid)))] + [text for text, _ in cells])
        classes.append([f"company-{cid}", "", ""] + [cls for _, cls in cells])
    section.blocks.append(Table(["company", "expected rounds", "down-round prob.", "raised 5 %", "raised median",
                                 "raised 95 %", "burn VaR 95", "burn CVaR 95", "paid out median"], rows,
                                "Funding and cumulative burn to the horizon (USD bn; ⚠ beyond the plausibility "
                                "bounds, section 1)", classes))
    return section


# --------------------------------------------------------------------------- 8, 9


def attribution_section(attr: Attribution | None, ds: xr.Dataset, colours: Mapping[str, str],
                        previous_name: str | None) -> Section:
    section = Section("attribution")
    if attr is None:
        section.blocks.append("No previous run was given (mc-engine report RUN --previous LAST_QUARTER_RUN), so "
                              "there is no quarter-over-quarter attribution.")
        return section
    s = attr.settings
    section.blocks.append(
        f"Each company's change in {attr.quarter}-quarter survival since {previous_name} is split into (a) changed "
        "priors, (b) changed starting data and as_of, (c) Monte Carlo noise, by rerunning with common random numbers "
        f"(the previous run's seed {s['seed']}, {s['n_paths']:,} paths): the previous priors (O), the previous priors "
        "with the new starting data (H), the new priors with the previous starting data (H') and the new priors (B). "
        "(b) = ((H - O) + (B - H')) / 2, (a) = ((H' - O) + (B - H)) / 2, (c) = (new - B) + (O - previous), so the "
        "parts add up to the total exactly. O - previous, the reproduction gap, is zero when the rerun reproduces the "
        "previous run. Starting data: " + ", ".join(starting_state_keys()) + ", market utilisation0 and as_of "
        "(docs/report.md).")
    if s.get("only_new") or s.get("only_old"):
        section.blocks.append(f"Not attributed: companies only in the new run ({', '.join(s['only_new']) or 'none'}), "
                              f"only in the previous run ({', '.join(s['only_old']) or 'none'}).")
    names = _names(ds)
    rows = [{**r, "name": names.get(r["company"], r["company"])} for r in attr.rows()]
    rows.sort(key=lambda r: -abs(r["total"]))
    section.blocks.append(Chart(charts.attribution_chart(rows, colours, attr.quarter),
                                "Change in survival split into its parts (percentage points)."))
    table = [[r["name"], pct(r["old"]), pct(r["new"]), pp(r["total"]), pp(r["priors"]), pp(r["starting_data"]),
              pp(r["noise"]), pp(r["reproduction_gap"]),
              pp(r["priors"] + r["starting_data"] + r["noise"])] for r in rows]
    section.blocks.append(Table(["company", "previous", "new", "total change", "(a) priors", "(b) starting data",
                                 "(c) noise", "of which reproduction gap", "(a) + (b) + (c)"], table,
                                f"Attribution of the change in {attr.quarter}-quarter survival"))
    return section


def _flatten(node: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        out = []
        for k, v in node.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    text = json.dumps(node, default=str) if isinstance(node, list) else str(node)
    return [(prefix, text)]


def appendix_section(priors, manifest: Mapping[str, Any]) -> Section:  # noqa: ANN001
    from ..engine.ppf import quantiles

    section = Section("appendix")
    section.blocks.append(
        f"Every input of the priors the run used (its priors.toml: {priors.name}, as of {priors.as_of}, "
        f"{len(priors.inputs)} inputs), with its distribution (median and central 90 % interval) and the source and "
        "date of its number.")
    rows = []
    for name, inp in priors.inputs.items():
        if inp.is_point:
            dist, median, interval = "point", f"{inp.dist.params[0]:.4g}", "-"
        else:
            q05, q50, q95 = quantiles(inp.dist, (0.05, 0.5, 0.95))
            dist, median, interval = inp.dist.family, f"{q50:.4g}", f"{q05:.4g} - {q95:.4g}"
        rows.append([name, inp.units, dist, median, interval, (inp.source or "-") + (" [unknown]" if inp.unknown
                                                                                      else ""),
                     str(inp.as_of or "-")])
    section.blocks.append(Table(["input", "units", "distribution", "median", "5-95 %", "source", "as_of"], rows,
                                "Priors (sources in full; docs/sources.md resolves each cited file or document)",
                                [["", "", "", "", "", "source", ""] for _ in rows], css_class="long"))
    if priors.schedules:
        section.blocks.append(Table(["schedule", "values by year from as_of (USD bn/yr)"],
                                    [[k, ", ".join(f"{v:g}" for v in vals)] for k, vals in priors.schedules.items()],
                                    "Schedules"))
    regimes = ("boom", "normal", "winter")
    rows = [["initial"] + [f"{p:.3f}" for p in priors.regime_initial]]
    rows += [[f"from {r}"] + [f"{p:.3f}" for p in priors.regime_transition[i]] for i, r in enumerate(regimes)]
    section.blocks.append(Table(["regime chain", *regimes], rows, "Regime probabilities (quarterly transitions)"))
    section.blocks.append(Table(["manifest key", "value"], [[k, v] for k, v in _flatten(dict(manifest))],
                                "Run manifest (manifest.json)", css_class="long"))
    return section
