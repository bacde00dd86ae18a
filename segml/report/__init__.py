"""The visual report: one self-contained HTML file per run (``segml report --run DIR``).

Sits at the top of the import layers (beside ``segml.jobs``): it reads what the jobs wrote and
the tracking store, and imports any layer below it.
"""

from segml.report.build import REPORT_NAME, SECTIONS, build_report, write_report

__all__ = ["REPORT_NAME", "SECTIONS", "build_report", "write_report"]
