"""Math-answer reward: answer extraction, equivalence, and verl's ``compute_score``."""
