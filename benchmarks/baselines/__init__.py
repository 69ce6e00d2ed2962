"""Baselines climnorm is measured against (run as scripts by benchmarks/run.py)."""
