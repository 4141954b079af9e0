"""Evaluation of TIR models on math benchmarks."""
