"""Risk reports of run and sweep folders: charts, attribution, comparisons, HTML and the PDF laid out from it.

Importing this package imports matplotlib and jinja2 (WeasyPrint when a PDF is written); ``mc_engine.write_report``
imports it only when called, so ``import mc_engine`` stays light.
"""

from __future__ import annotations

from .build import ReportFiles as ReportFiles
from .build import write_report as write_report
from .palette import company_colours as company_colours

__all__ = ["ReportFiles", "company_colours", "write_report"]
