"""Scores and what is made of them: metrics (`metrics`), the scores file (`scores_file`), the
evaluation folder (`report`) and its confusion picture (`confusion_plot`). Pure numpy;
matplotlib only when a picture is drawn."""

from cocodiff.scoring.confusion_plot import plot_confusion
from cocodiff.scoring.metrics import (
    accuracy_lines, confusion_matrix, fuse, per_source_class, ranking, softmax, summarize, topk_accuracy, worst_classes,
)
from cocodiff.scoring.report import FILES, write_report
from cocodiff.scoring.scores_file import SCORE_KEYS, Scores, load_scores, save_scores

__all__ = [
    "FILES", "SCORE_KEYS", "Scores", "accuracy_lines", "confusion_matrix", "fuse", "load_scores", "per_source_class",
    "plot_confusion", "ranking", "save_scores", "softmax", "summarize", "topk_accuracy", "worst_classes",
    "write_report",
]
