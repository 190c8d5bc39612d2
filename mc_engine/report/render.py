"""Render a list of sections as one self-contained HTML page, and the PDF from that same HTML.

HTML is the single source of truth: one jinja2 template
(``templates/report.html.j2``), every chart embedded as an SVG (a ``data:`` URI,
so one file opens offline and ids of different charts cannot collide), tables as
real HTML tables with the risk-band colours. The PDF is that HTML laid out by
WeasyPrint with the template's print stylesheet (``@media print``): A4
landscape on every page, page numbers, repeated table headers, each chart scaled
to fit one page.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from .palette import BANDS
from .sections import Chart, Section, Table

PAGE_MM: tuple[float, float] = (297.0, 210.0)
"""A4 landscape, millimetres (width, height)."""
PAGE_PT: tuple[float, float] = (PAGE_MM[0] / 25.4 * 72, PAGE_MM[1] / 25.4 * 72)
"""A4 landscape, PDF points."""
_NUMERIC = re.compile(r"^[-+]?\d")


def svg_base64(fig: Figure) -> str:
    """The figure as an SVG document, base64-encoded (ASCII); text stays text, so it prints sharp."""
    buffer = io.BytesIO()
    with _svg_rc():
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _svg_rc():  # noqa: ANN202 - a context manager
    import matplotlib

    # fonttype "none": text as <text> elements (searchable, selectable in the PDF); a fixed hash salt keeps
    # the SVG ids reproducible from one report to the next.
    return matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "mc_engine"})


def _css_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def _blocks_for_html(section: Section) -> list[dict[str, Any]]:
    out = []
    for block in section.blocks:
        if isinstance(block, str):
            out.append({"kind": "text", "text": block})
        elif isinstance(block, Table):
            rows = []
            for r, row in enumerate(block.rows):
                cells = []
                for c, text in enumerate(row):
                    cls = block.cell_classes[r][c] if block.cell_classes else ""
                    cls = " ".join(_css_id(part) for part in cls.split()) if cls else ""
                    if _NUMERIC.match(text) and "source" not in cls:
                        cls = f"{cls} num".strip()
                    cells.append({"text": text, "cls": cls})
                rows.append(cells)
            out.append({"kind": "table", "caption": block.caption, "columns": block.columns, "rows": rows,
                        "cls": block.css_class})
        elif isinstance(block, Chart):
            out.append({"kind": "chart", "caption": block.caption, "svg": svg_base64(block.figure)})
    return out


def render_html(sections: Sequence[Section], *, title: str, subtitle: str, colours: Mapping[str, str],
                footer: str, mode: str = "") -> str:
    """The whole report as one HTML document (charts inline as SVG ``data:`` URIs), for screen and print."""
    import jinja2

    from .._version import __version__

    env = jinja2.Environment(loader=jinja2.PackageLoader("mc_engine.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), keep_trailing_newline=True)
    template = env.get_template("report.html.j2")
    return template.render(
        title=title, subtitle=subtitle, footer=footer, version=__version__, mode=mode,
        bands={label: colour for _, _, label, colour in BANDS},
        colours={_css_id(k): v for k, v in colours.items()},
        sections=[{"key": s.key, "title": s.title, "heading": s.heading, "blocks": _blocks_for_html(s)}
                  for s in sections],
    )


# --------------------------------------------------------------------------- PDF


def render_pdf(html: str, path: str | Path, *, title: str, subtitle: str,
               author: str = "mc_engine") -> list[dict[str, Any]]:
    """Lay out the report's HTML on A4 landscape pages and write the PDF.

    Returns one record per page: ``{"page": n, "section": heading, "content": what is on it,
    "width_pt": w, "height_pt": h}``, the section being the last heading that started on or before the page.
    """
    import logging
    import warnings

    with warnings.catch_warnings():
        # WeasyPrint >= 63 warns at import where the system lacks libharfbuzz-subset (Debian bookworm's
        # default image); fonts are then embedded whole, which changes nothing in the pages.
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset", category=DeprecationWarning)
        import weasyprint

    # WeasyPrint logs every CSS property it ignores (e.g. screen-only ones) as a warning; a report is no place
    # for that noise.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    document = weasyprint.HTML(string=html, base_url=None).render()
    document.metadata.title = title
    document.metadata.description = subtitle
    document.metadata.authors = [author]
    document.metadata.generator = "mc_engine report (WeasyPrint)"
    document.metadata.created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    starts: dict[int, str] = {}
    for label, (page, _x, _y), *_ in _flat_bookmarks(document.make_bookmark_tree()):
        starts[page] = label  # the last heading that starts on the page
    pages, section = [], "cover"
    for number, page in enumerate(document.pages):
        section = starts.get(number, section)
        charts = _count_images(getattr(page, "_page_box", None))  # layout boxes: WeasyPrint's internals
        pages.append({"page": number + 1, "section": section,
                      "content": f"chart x{charts}" if charts else "text and tables",
                      "width_pt": round(page.width * 0.75, 2), "height_pt": round(page.height * 0.75, 2)})
    document.write_pdf(path)
    return pages


def _flat_bookmarks(tree: Sequence) -> list:
    out = []
    for node in tree:
        out.append(node)
        out += _flat_bookmarks(node[2])
    return out


def _count_images(box: Any) -> int:
    """Charts (replaced image boxes) laid out on a page."""
    try:
        from weasyprint.formatting_structure import boxes
    except ImportError:  # a WeasyPrint that moved its box classes: the records say "text and tables"
        return 0
    if box is None:
        return 0
    if isinstance(box, boxes.ReplacedBox):
        return 1
    return sum(_count_images(child) for child in getattr(box, "children", ()))
