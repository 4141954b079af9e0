"""Math-answer reward: answer extraction, equivalence, and verl's ``compute_score``."""

from simpletir.reward.compute_score import compute_score, compute_score_batch
from simpletir.reward.config import RewardConfig
from simpletir.reward.equivalence import Grade, grade, grade_answer
from simpletir.reward.extract import ExtractConfig, extract_answer

__all__ = [
    "ExtractConfig",
    "Grade",
    "RewardConfig",
    "compute_score",
    "compute_score_batch",
    "extract_answer",
    "grade",
    "grade_answer",
]
