"""Benchmarks for Holdfast: `make bench` (python -m bench). Figures, never timed assertions."""
