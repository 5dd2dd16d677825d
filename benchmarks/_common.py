"""Shared by the benchmark scripts (run as `python benchmarks/bench_*.py`)."""

from __future__ import annotations


def load_average() -> str:
    """1-minute load average: other processes on a 2-core machine skew every figure printed."""
    try:
        with open("/proc/loadavg") as fh:
            return f"load average {fh.read().split()[0]}"
    except OSError:
        return "load average unknown"
