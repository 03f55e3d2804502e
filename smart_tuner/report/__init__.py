"""The run report: one self-contained HTML page that tells a run's whole story (S5).

    path = write_report(run_dir)            # RUN_DIR/report.html
    save_analysis(run_dir, recommendation)  # what `train` and `auto` store for the report

Sections: dataset, recommendation, search, training, result; each says so plainly when the run
has no data for it. Media are data URIs, so the file can be mailed or opened on a phone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smart_tuner.report.run_data import ReportError, save_analysis

if TYPE_CHECKING:
    from smart_tuner.report.render import write_report

__all__ = ["ReportError", "save_analysis", "write_report"]


def __getattr__(name: str) -> Any:
    if name == "write_report":  # matplotlib and Jinja2 load only when a page is written
        from smart_tuner.report.render import write_report

        return write_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
