"""Data preparation: verl-ready parquet files for training and benchmarks."""
