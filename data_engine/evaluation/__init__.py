"""Detection evaluation on the frozen test split of a dataset version."""

from data_engine.evaluation.detection import Evaluation, EvaluationError, evaluate_model

__all__ = ["Evaluation", "EvaluationError", "evaluate_model"]
