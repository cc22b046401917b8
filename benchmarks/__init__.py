"""Benchmarks, each a script: ``python benchmarks/NAME.py --help``."""
