"""``write_report``: a run folder (and last quarter's) in, an HTML file, a PDF and a JSON of the numbers out."""

from __future__ import annotations

import datetime as dt
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import PriorError, PriorWarning, RunError
from ..output.runs import PRIORS_TOML, open_run, read_manifest
from . import sections as sec
from .attribution import attribute
from .contagion import exposures as compute_exposures
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


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_report(run: str | Path, previous: str | Path | None = None, out: str | Path | None = None, *,
                 attribution_paths: int | None = None,
                 progress: Callable[[str], None] | None = None) -> ReportFiles:
    """Write the quarterly risk report of a run folder as ``OUT.html``, ``OUT.pdf`` and ``OUT.json``.

    Args:
        run: the run folder (``runs/NAME``).
        previous: last quarter's run folder; adds the change since then and its attribution to changed
            priors, changed starting data and Monte Carlo noise (four reruns, see docs/report.md).
        out: path without suffix of the files to write (default ``reports/<run folder name>``).
        attribution_paths: paths of the attribution reruns (default: the previous run's path count).
        progress: called with a line of text at each step.

    Returns:
        The paths written.

    Raises:
        RunError: a folder is not a finished run, or lacks its priors.
    """
    say = progress or (lambda _: None)
    run = Path(run)
    ds = open_run(run)
    manifest = read_manifest(run)
    priors = _load_run_priors(run)
    prev_ds = open_run(previous) if previous is not None else None
    quarter = min(SUMMARY_QUARTER, ds.sizes["quarter"])
    ids = [str(c) for c in ds.company.values]
    colours = company_colours(ids + ([str(c) for c in prev_ds.company.values] if prev_ds is not None else []))

    attribution = None
    if previous is not None:
        attribution = attribute(run, previous, quarter=quarter, n_paths=attribution_paths, new_ds=ds,
                                old_ds=prev_ds, progress=say)
    exposures = compute_exposures(ds, priors.counterparty, priors.company_ids)
    rows = sec.summary_rows(ds, prev_ds, quarter)
    prev_name = Path(previous).name if previous is not None else None

    say("drawing charts")
    sections = [
        sec.summary_section(ds, prev_ds, rows, quarter, colours, run.name, prev_name),
        sec.survival_section(ds, colours),
        sec.fans_section(ds, colours),
        sec.drivers_section(ds),
        sec.sensitivity_section(ds, colours),
        sec.contagion_section(ds, priors.counterparty, priors.company_ids, exposures, colours),
        sec.funding_section(ds, colours),
        sec.attribution_section(attribution, ds, colours, prev_name),
        sec.appendix_section(priors, manifest),
    ]
    title = f"mc_engine risk report: {ds.attrs.get('priors_name', run.name)} as of {ds.attrs.get('as_of')}"
    subtitle = (f"Run {run.name}" + (f", compared with {prev_name}" if prev_name else "")
                + f"; {int(ds.attrs.get('n_paths', 0)):,} futures, {ds.sizes['quarter']} quarters, "
                f"seed {ds.attrs.get('seed')}; generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    stem = _stem(out, run)
    stem.parent.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(stem.with_suffix(".html"), stem.with_suffix(".pdf"), stem.with_suffix(".json"))

    say(f"writing {files.html}")
    footer = (f"mc_engine {manifest.get('versions', {}).get('mc_engine', '')}, git {ds.attrs.get('git_commit', '?')}; "
              f"priors digest {ds.attrs.get('priors_digest', '')}")
    html = render_html(sections, title=title, subtitle=subtitle, colours=colours, footer=footer)
    _write_atomic(files.html, html.encode("utf-8"))
    say(f"writing {files.pdf}")
    tmp_pdf = files.pdf.with_name(f".{files.pdf.name}.tmp-{os.getpid()}")
    pages = render_pdf(sections, tmp_pdf, title=title, subtitle=subtitle)
    tmp_pdf.replace(files.pdf)

    data: dict[str, Any] = {
        "run": str(run), "previous": str(previous) if previous is not None else None, "quarter": quarter,
        "sections": [s.heading for s in sections], "pdf_pages": len(pages), "pages": pages,
        "summary": [{k: v for k, v in r.items()} for r in rows],
        "contagion": [e.__dict__ for e in exposures],
        "attribution": None if attribution is None else {
            "quarter": attribution.quarter, "settings": attribution.settings, "rows": attribution.rows(),
            "reruns": {k: dict(zip(attribution.companies, map(float, v), strict=True))
                       for k, v in attribution.reruns.items()}},
    }
    _write_atomic(files.data, json.dumps(_plain(data), indent=1, allow_nan=False).encode())
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
