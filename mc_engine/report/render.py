"""Render a list of sections as a self-contained HTML page and as a PDF with the same content.

HTML: one jinja2 template (``templates/report.html.j2``), every chart embedded
as a base64 PNG, no external file, script or font, so it opens offline. PDF:
matplotlib's ``PdfPages``; each section starts on a text page (its heading,
paragraphs and tables, typeset with matplotlib, continued on further pages when
long) followed by one page per chart.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from .palette import BANDS
from .sections import Chart, Section, Table

PNG_DPI = 100
PAGE = (11.69, 8.27)
"""A4 landscape, inches."""
_NUMERIC = re.compile(r"^[-+]?\d")


def png_base64(fig: Figure, dpi: int = PNG_DPI) -> str:
    """The figure as a PNG, base64-encoded (ASCII)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    # The layout is solved now; freezing it saves solving it again for the PDF page (same inches).
    fig.set_layout_engine("none")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


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
                    cls = _css_id(cls) if cls else ""
                    if _NUMERIC.match(text):
                        cls = f"{cls} num".strip()
                    cells.append({"text": text, "cls": cls})
                rows.append(cells)
            out.append({"kind": "table", "caption": block.caption, "columns": block.columns, "rows": rows})
        elif isinstance(block, Chart):
            out.append({"kind": "chart", "caption": block.caption, "png": png_base64(block.figure)})
    return out


def render_html(sections: Sequence[Section], *, title: str, subtitle: str, colours: Mapping[str, str],
                footer: str) -> str:
    """The whole report as one HTML document (charts inline as base64 PNG)."""
    import jinja2

    from .. import __version__

    env = jinja2.Environment(loader=jinja2.PackageLoader("mc_engine.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), keep_trailing_newline=True)
    template = env.get_template("report.html.j2")
    return template.render(
        title=title, subtitle=subtitle, footer=footer, version=__version__,
        bands={label: colour for _, _, label, colour in BANDS},
        colours={_css_id(k): v for k, v in colours.items()},
        sections=[{"key": s.key, "title": s.title, "heading": s.heading, "blocks": _blocks_for_html(s)}
                  for s in sections],
    )


# --------------------------------------------------------------------------- PDF

_STYLE = {  # kind -> (font size pt, line height inches, family, weight)
    "title": (20, 0.42, "sans-serif", "bold"),
    "heading": (15, 0.36, "sans-serif", "bold"),
    "caption": (9.5, 0.22, "sans-serif", "bold"),
    "text": (9, 0.18, "sans-serif", "normal"),
    "mono": (7, 0.125, "monospace", "normal"),
    "gap": (1, 0.1, "sans-serif", "normal"),
}
_TEXT_WIDTH = 150
"""Characters per line of 9 pt body text on an A4 landscape page."""
_MONO_WIDTH = 178
"""Characters per line of 7 pt monospace."""


def _table_lines(table: Table) -> list[str]:
    """The table as fixed-width lines, columns shrunk (widest first) to fit the page."""
    grid = [table.columns, *table.rows]
    widths = [max(len(str(row[c])) for row in grid) for c in range(len(table.columns))]
    while sum(widths) + 2 * (len(widths) - 1) > _MONO_WIDTH and max(widths) > 8:
        widest = widths.index(max(widths))
        widths[widest] -= 1

    def cell(text: str, width: int) -> str:
        text = str(text)
        return (text if len(text) <= width else text[: width - 1] + "…").ljust(width)

    lines = ["  ".join(cell(t, w) for t, w in zip(row, widths, strict=True)).rstrip() for row in grid]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _section_lines(section: Section) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = [("heading", section.heading)]
    for block in section.blocks:
        if isinstance(block, str):
            lines += [("text", line) for line in textwrap.wrap(block, _TEXT_WIDTH)] + [("gap", "")]
        elif isinstance(block, Table):
            if block.caption:
                lines.append(("caption", block.caption))
            lines += [("mono", line) for line in _table_lines(block)] + [("gap", "")]
    return lines


def _text_pages(lines: Sequence[tuple[str, str]], continued: str) -> list[Figure]:
    pages: list[Figure] = []
    top, bottom, left = PAGE[1] - 0.55, 0.5, 0.55
    fig, y = None, top
    for kind, text in lines:
        size, height, family, weight = _STYLE[kind]
        if fig is None or y - height < bottom:
            fig = Figure(figsize=PAGE)
            pages.append(fig)
            y = top
            if len(pages) > 1:
                fig.text(left / PAGE[0], y / PAGE[1], f"{continued} (continued)", fontsize=11, fontweight="bold",
                         va="top", color="#555555", parse_math=False)
                y -= 0.32
        if text:
            # parse_math off: sources quote prices like "$30/$60", which is not mathtext
            fig.text(left / PAGE[0], y / PAGE[1], text, fontsize=size, family=family, fontweight=weight, va="top",
                     parse_math=False)
        y -= height
    return pages


def render_pdf(sections: Sequence[Section], path: str | Path, *, title: str, subtitle: str,
               author: str = "mc_engine") -> list[dict[str, str]]:
    """Write the PDF; returns one record per page: ``{"section": heading, "content": what is on it}``."""
    pages: list[dict[str, str]] = []
    metadata = {"Title": title, "Subject": subtitle, "Author": author, "Creator": "mc_engine report",
                "Keywords": "; ".join(s.heading for s in sections),
                "CreationDate": dt.datetime.now(dt.UTC)}
    with PdfPages(path, metadata=metadata) as pdf:
        cover = [("title", title), ("text", subtitle), ("gap", ""), ("caption", "Contents")]
        cover += [("text", s.heading) for s in sections]
        for fig in _text_pages(cover, title):
            pdf.savefig(fig)
            pages.append({"section": "cover", "content": "title and contents"})
        for section in sections:
            for fig in _text_pages(_section_lines(section), section.heading):
                pdf.savefig(fig)
                pages.append({"section": section.heading, "content": "text and tables"})
            for block in section.blocks:
                if isinstance(block, Chart):
                    label = block.figure.text(0.004, 0.996, section.heading, fontsize=8, color="#777777",
                                              ha="left", va="top")
                    pdf.savefig(block.figure)
                    label.remove()
                    pages.append({"section": section.heading, "content": f"chart: {block.caption}"})
    return pages
