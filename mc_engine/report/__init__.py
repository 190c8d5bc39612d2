"""Quarterly risk reports of run folders: charts, attribution, HTML and PDF rendering.

Importing this package imports matplotlib and jinja2; ``mc_engine.write_report``
imports it only when called, so ``import mc_engine`` stays light.
"""

from __future__ import annotations

from .build import ReportFiles as ReportFiles
from .build import write_report as write_report

__all__ = ["ReportFiles", "write_report"]
