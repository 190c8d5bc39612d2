"""``write_report``: a run folder (and last quarter's) in, an HTML file, a PDF and a JSON of the numbers out."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..analysis.attribution import attribute
from ..analysis.contagion import exposures as compute_exposures
from ..errors import PriorError, PriorWarning, RunError
from ..output.atomic import atomic_write, write_bytes
from ..output.plausibility import check, records
from ..output.runs import PRIORS_TOML, open_run, read_manifest
from . import sections as sec
from .compare import comparison_section, sweep_points, sweep_sections
from .palette import company_colours
from .render import render_html, render_pdf

SUMMARY_QUARTER: int = 8
"""The survival and default mark of the summary and the attribution (quarters after as_of)."""


class ReportFiles(NamedTuple):
    """What :func:`write_report` wrote: the HTML page, the PDF, and the numbers as JSON."""

    html: Path
    pdf: Path
    data: Path


def _load_run_priors(folder: Path):  # noqa: ANN202 - Priors
    from ..inputs.loader import load_priors

    path = folder / PRIORS_TOML
    if not path.exists():
        raise RunError(f"{folder}: no {PRIORS_TOML}; a report needs the priors the run used")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PriorWarning)  # the run already reported any repair
        try:
            return load_priors(path)
        except PriorError:
            return load_priors(path, require_sources=False)  # e.g. a run of a test file without sources


def _stem(out: str | Path | None, run: Path) -> Path:
    if out is None:
        return Path("reports") / run.resolve().name
    out = Path(out)
    return out.with_suffix("") if out.suffix in (".html", ".pdf", ".json") else out


MODES: dict[str, str] = {
    "run": "Run report",
    "quarter": "Quarter-over-quarter report",
    "comparison": "Scenario comparison",
    "sweep": "Sweep comparison",
}
"""Report mode -> the label the report carries under its title."""


def _is_sweep(folder: Path) -> bool:
    from ..output.sweep import SWEEP_JSON

    if (folder / SWEEP_JSON).exists():
        return True
    try:
        return read_manifest(folder).get("kind") == "sweep"
    except (RunError, OSError, ValueError):
        return False


def write_report(run: str | Path, previous: str | Path | None = None, out: str | Path | None = None, *,
                 against: str | Path | None = None, attribution_paths: int | None = None,
                 progress: Callable[[str], None] | None = None) -> ReportFiles:
    """Write the risk report of a run folder (or a sweep folder) as ``OUT.html``, ``OUT.pdf`` and ``OUT.json``.

    Three modes, named under the report's title:

    - a run alone;
    - quarter over quarter (``previous``: last quarter's run of the same model on older data): the change
      since then and its attribution to changed priors, starting data and Monte Carlo noise;
    - a comparison (``against``: a baseline or another scenario at the same date; or ``run`` is a sweep
      folder): the difference in outcomes, without calling it a change over time.

    Args:
        run: the run folder (``runs/NAME``) or a sweep folder (``mc-engine sweep --out``).
        previous: last quarter's run folder (four reruns, see docs/report.md).
        out: path without suffix of the files to write (default ``reports/<run folder name>``).
        against: a run folder to compare with (a scenario against the baseline).
        attribution_paths: paths of the attribution reruns (default: the previous run's path count).
        progress: called with a line of text at each step.

    Returns:
        The paths written.

    Raises:
        RunError: a folder is not a finished run, lacks its priors, or both ``previous`` and ``against`` given.
    """
    say = progress or (lambda _: None)
    run = Path(run)
    if previous is not None and against is not None:
        raise RunError("give either --previous (last quarter's run) or --against (a run to compare with), not both")
    if run.is_dir() and _is_sweep(run):
        if previous is not None or against is not None:
            raise RunError(f"{run} is a sweep folder: its points are compared with each other; "
                           "--previous and --against take run folders")
        return _write_sweep_report(run, out, say)
    ds = open_run(run)
    manifest = read_manifest(run)
    priors = _load_run_priors(run)
    mode = "quarter" if previous is not None else "comparison" if against is not None else "run"
    other_path = previous if previous is not None else against
    other_ds = open_run(other_path) if other_path is not None else None
    other_name = Path(other_path).name if other_path is not None else None
    quarter = min(SUMMARY_QUARTER, ds.sizes["quarter"])
    ids = [str(c) for c in ds.company.values]
    kinds = {str(c): str(k) for d in (ds, other_ds) if d is not None for c, k in zip(d.company.values, d.kind.values,
                                                                                      strict=True)}
    colours = company_colours(ids + ([str(c) for c in other_ds.company.values] if other_ds is not None else []),
                              kinds)

    attribution = None
    if mode == "quarter":
        attribution = attribute(run, previous, quarter=quarter, n_paths=attribution_paths, new_ds=ds,
                                old_ds=other_ds, progress=say)
    exposures = compute_exposures(ds, priors.counterparty, priors.company_ids)
    rows = sec.summary_rows(ds, other_ds, quarter)
    flags = records(check(ds))

    steps = ["summary", "survival", "fans", "drivers", "sensitivity", "contagion", "funding",
             *(["attribution"] if mode == "quarter" else ["comparison"] if mode == "comparison" else []), "appendix"]
    sections = []
    for i, key in enumerate(steps, 1):
        say(f"drawing charts: section {i} of {len(steps)} ({sec.TITLES[key].lower()})")
        if key == "summary":
            sections.append(sec.summary_section(ds, other_ds, rows, quarter, colours, run.name, other_name, mode,
                                                flags))
        elif key == "survival":
            sections.append(sec.survival_section(ds, colours))
        elif key == "fans":
            sections.append(sec.fans_section(ds, colours))
        elif key == "drivers":
            sections.append(sec.drivers_section(ds))
        elif key == "sensitivity":
            sections.append(sec.sensitivity_section(ds, colours))
        elif key == "contagion":
            sections.append(sec.contagion_section(ds, priors.counterparty, priors.company_ids, exposures, colours))
        elif key == "funding":
            sections.append(sec.funding_section(ds, colours))
        elif key == "attribution":
            sections.append(sec.attribution_section(attribution, ds, colours, other_name))
        elif key == "comparison":
            sections.append(comparison_section(ds, other_ds, quarter, colours, run.name, other_name))
        else:
            sections.append(sec.appendix_section(priors, manifest))
    sections = sec.numbered(sections)
    title = f"mc_engine risk report: {ds.attrs.get('priors_name', run.name)} as of {ds.attrs.get('as_of')}"
    relation = {"quarter": f", against last quarter's run {other_name}",
                "comparison": f", compared with {other_name}"}.get(mode, "")
    subtitle = (f"Run {run.name}{relation}; {int(ds.attrs.get('n_paths', 0)):,} futures, {ds.sizes['quarter']} "
                f"quarters, seed {ds.attrs.get('seed')}; generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    footer = (f"mc_engine {manifest.get('versions', {}).get('mc_engine', '')}, git {ds.attrs.get('git_commit', '?')}; "
              f"priors digest {ds.attrs.get('priors_digest', '')}")
    data: dict[str, Any] = {
        "run": str(run), "mode": mode, "previous": str(previous) if previous is not None else None,
        "against": str(against) if against is not None else None, "quarter": quarter,
        "summary": [dict(r) for r in rows], "plausibility": flags,
        "contagion": [e.__dict__ for e in exposures],
        "attribution": None if attribution is None else {
            "quarter": attribution.quarter, "settings": attribution.settings, "rows": attribution.rows(),
            "reruns": {k: dict(zip(attribution.companies, map(float, v), strict=True))
                       for k, v in attribution.reruns.items()}},
    }
    return _write_files(sections, data, _stem(out, run), title=title, subtitle=subtitle, colours=colours,
                        footer=footer, mode=mode, say=say)


def _write_sweep_report(folder: Path, out: str | Path | None, say: Callable[[str], None]) -> ReportFiles:
    import xarray as xr

    from ..output.sweep import MANIFEST, RESULT

    if not (folder / RESULT).exists():
        raise RunError(f"{folder}: the sweep has not finished (no {RESULT}); rerun the same sweep command to "
                       "finish it")
    manifest = json.loads((folder / MANIFEST).read_text()) if (folder / MANIFEST).exists() else {}
    ds = xr.load_dataset(folder / RESULT)
    quarter = min(SUMMARY_QUARTER, ds.sizes["quarter"])
    colours = company_colours([str(c) for c in ds.company.values],
                              {str(c): str(k) for c, k in zip(ds.company.values, ds.kind.values, strict=True)})
    say("drawing charts: sweep points")
    sections = sec.numbered(sweep_sections(ds, quarter, colours, folder.name, manifest))
    points = sweep_points(ds)
    title = f"mc_engine sweep report: {folder.name} as of {ds.attrs.get('as_of')}"
    subtitle = (f"Sweep {folder.name}; {len(points)} points, {ds.sizes['quarter']} quarters; generated "
                f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    data = {"run": str(folder), "mode": "sweep", "quarter": quarter, "points": [label for label, _ in points],
            "summary": {label: {str(c): float(ds.sel(at).default_prob.sel(company=c).isel(quarter=quarter - 1)
                                              + ds.sel(at).acquired_prob.sel(company=c).isel(quarter=quarter - 1))
                                for c in ds.company.values} for label, at in points}}
    footer = f"mc_engine {manifest.get('versions', {}).get('mc_engine', '')}; sweep {folder}"
    return _write_files(sections, data, _stem(out, folder), title=title, subtitle=subtitle, colours=colours,
                        footer=footer, mode="sweep", say=say)


def _write_files(sections: list, data: dict[str, Any], stem: Path, *, title: str, subtitle: str,
                 colours: dict[str, str], footer: str, mode: str, say: Callable[[str], None]) -> ReportFiles:
    stem.parent.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(stem.with_suffix(".html"), stem.with_suffix(".pdf"), stem.with_suffix(".json"))
    say(f"writing {files.html}")
    html = render_html(sections, title=title, subtitle=subtitle, colours=colours, footer=footer, mode=MODES[mode])
    write_bytes(files.html, html.encode("utf-8"))
    say(f"writing {files.pdf} (A4 landscape)")
    pages = atomic_write(files.pdf, lambda tmp: render_pdf(html, tmp, title=title, subtitle=subtitle))
    data = {**data, "sections": [s.heading for s in sections], "pdf_pages": len(pages), "pages": pages}
    write_bytes(files.data, json.dumps(_plain(data), indent=1, allow_nan=False).encode())
    return files


def _plain(x: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, NaN and inf to None, anything else unknown to text."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float):
        return x if np.isfinite(x) else None
    if x is None or isinstance(x, str | int | bool):
        return x
    return str(x)
