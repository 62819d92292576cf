"""What the dataset report and the training report share: one page shell, tables, figures, checks.

Pages are jinja2 templates with autoescaping on, so every value from a dataset or a run
directory is escaped by default. This package imports neither Beam nor torch; matplotlib
only where a figure is turned into PNG bytes.
"""

from lmcore.report.cells import Pct, Pre, num, pct
from lmcore.report.checks import Check
from lmcore.report.confusion import ClassScores, class_scores, confusion_figure
from lmcore.report.figures import Figure, png_bytes
from lmcore.report.render import environment, render

__all__ = [
    "Check",
    "ClassScores",
    "Figure",
    "Pct",
    "Pre",
    "class_scores",
    "confusion_figure",
    "environment",
    "num",
    "pct",
    "png_bytes",
    "render",
]
