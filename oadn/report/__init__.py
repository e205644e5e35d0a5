"""Paper-style tables and figures rendered from run directories."""

from oadn.report.ablation_report import render_ablation_report
from oadn.report.suite_report import render_suite_report

__all__ = ["render_ablation_report", "render_suite_report"]
