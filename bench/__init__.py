"""Benchmarks: each module starts its own services slice and workers, prints ours, the baseline and the ratio."""
